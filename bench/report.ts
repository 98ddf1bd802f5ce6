/** The human side of a result: a markdown table and an SVG plot of packets/s and memory against live mappings. */
import { liveMarkdown } from './live.js';
import type { BenchResult, Flatness, ScaleEntry } from './result.js';
import type { FlatEstimate } from './scale.js';

const f = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const si = (x: number | null | undefined): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
};
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const ratio = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(2)}x`);

export function markdown(r: BenchResult, name: string): string {
  const e = r.engine;
  const w = r.workload;
  const p = r.peers;
  const L: string[] = [];
  L.push(`# rpcgw benchmark (${r.mode}) — ${r.startedAt}`, '');
  L.push(`Command: \`${r.command}\` (${f(r.durationSeconds, 0)} s). Source ${r.environment.gitCommit?.slice(0, 12) ?? 'unknown'} + tree digest ${r.environment.sourceDigest}.`);
  L.push(`Machine: ${r.environment.cpuModel}, ${r.environment.cpus} CPUs, ${mib(r.environment.memoryBytes)}, Linux ${r.environment.kernel}, Node ${r.environment.node}; ` +
    `load average ${r.environment.loadAverageStart.map((x) => x.toFixed(2)).join(' ')} at start, ${r.environment.loadAverageEnd.map((x) => x.toFixed(2)).join(' ')} at end. ` +
    'Absolute times on a shared machine are noise; the ratios are measured in the same run on the same input.', '');
  L.push('## Workload', '');
  L.push(`${w.options.clients} clients (seed ${w.options.seed}), ${si(w.frames)} frames, ${mib(w.frameBytes)}, ${f(w.captureSeconds, 0)} s of capture time; ` +
    `${si(w.enginePackets)} packets for the engine, ${si(w.engineSent)} forwarded; ${w.towersRewritten} towers rewritten, ${w.connectionsOpened} connections, ` +
    `peak ${w.peakMappings} mappings / ${w.peakConnections} connections; ${w.ndr64Clients} NDR64 clients, ${w.pushClients} push registrations. ` +
    `Closed-loop check (\`rpcgw replay\` sends what the generator's engine sent): ${w.selfCheck.consistent ? 'passed' : '**FAILED**'}.`, '');
  L.push('| kind | frames |', '|---|---:|');
  for (const [k, n] of Object.entries(w.composition).sort((a, b) => b[1] - a[1])) L.push(`| ${k} | ${n} |`);
  L.push('', '## 1–2. Engine replay and peers (same file, same run)', '');
  L.push('| measurement | best s | packets/s | Gbit/s | vs tcpdump | vs tshark |', '|---|---:|---:|---:|---:|---:|');
  L.push(`| engine in memory (${e.inMemory.passes} passes, one core) | ${f(e.inMemory.bestSeconds, 3)} | ${si(e.inMemory.packetsPerSecond)} | ${f(e.inMemory.gbitPerSecond)} | ${ratio(p.ratios.inMemoryVsTcpdump)} | ${ratio(p.ratios.inMemoryVsTshark)} |`);
  L.push(`| \`rpcgw replay\` file-to-file | ${f(e.fileToFile.bestWallSeconds, 3)} | ${si(e.fileToFile.packetsPerSecond)} | ${f(e.fileToFile.gbitPerSecond)} | ${ratio(p.ratios.fileToFileVsTcpdump)} | ${ratio(p.ratios.fileToFileVsTshark)} |`);
  L.push(`| … each tool's start-up taken out | ${f(e.fileToFile.bestWallSeconds - e.startup.bestWallSeconds, 3)} | | | ${ratio(p.ratios.fileToFileNoStartupVsTcpdump)} | ${ratio(p.ratios.fileToFileNoStartupVsTshark)} |`);
  L.push(`| \`tcpdump -r F -w /dev/null\` | ${f(p.tcpdump.bestWallSeconds, 3)} | ${si(p.tcpdump.packetsPerSecond)} | | 1x | |`);
  L.push(`| \`tshark -r F -Y dcerpc -q\` | ${f(p.tshark.bestWallSeconds, 3)} | ${si(p.tshark.packetsPerSecond)} | | | 1x |`, '');
  L.push(`Ratios are peer time / rpcgw time (above 1: rpcgw faster). Start-up (each tool on a capture with no packets): rpcgw replay ${f(e.startup.bestWallSeconds, 3)} s, ` +
    `tcpdump ${f(p.tcpdump.startup.bestWallSeconds, 3)} s, tshark ${f(p.tshark.startup.bestWallSeconds, 3)} s. CPU seconds of the best run: rpcgw replay ${f(e.fileToFile.bestCpuSeconds, 2)}, ` +
    `tcpdump ${f(p.tcpdump.bestCpuSeconds, 2)}, tshark ${f(p.tshark.bestCpuSeconds, 2)}.`, '');
  const sc = e.startupCommands;
  L.push(`Start-up, best wall s: bare \`node -e 0\` ${f(sc.node.bestWallSeconds, 3)}, \`rpcgw --help\` ${f(sc.help.bestWallSeconds, 3)}, ` +
    `\`rpcgw check --rules bench/rules.json\` ${f(sc.check.bestWallSeconds, 3)}, \`rpcgw replay\` of an empty capture ${f(e.startup.bestWallSeconds, 3)}.`, '');
  L.push(`Per-packet latency of engine.onPacket (${si(e.latency.samples)} packets, timer cost ${f(e.latency.timerOverheadNs, 0)} ns subtracted): ` +
    `p50 ${f(e.latency.p50Ns, 0)} ns, p90 ${f(e.latency.p90Ns, 0)} ns, p99 ${f(e.latency.p99Ns, 0)} ns, p99.9 ${f(e.latency.p999Ns, 0)} ns, max ${f(e.latency.maxNs / 1000, 0)} µs.`, '');
  L.push(`GC during one pass (${si(e.gc.packets)} packets): ${e.gc.gcCount} GCs (${e.gc.minorGcs} minor, ${e.gc.majorGcs} major), ${f(e.gc.gcMs, 1)} ms; ` +
    `${f(e.gc.allocatedBytesPerPacket, 1)} bytes allocated per packet; array buffers ${mib(e.gc.arrayBuffersDeltaBytes)} more.`, '');
  L.push('### Public captures (direct mode, each repeated to a comparable size)', '');
  if (r.publicCorpus.skipped !== null) L.push(`Skipped: ${r.publicCorpus.skipped}`, '');
  else {
    L.push('| capture | frames (copies) | replay s | tcpdump s | tshark s | tcpdump/replay | tshark/replay | same, start-ups out |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of r.publicCorpus.files) {
      L.push(`| ${c.name} | ${c.frames} (${c.copies}) | ${f(c.replay.bestWallSeconds, 3)} | ${f(c.tcpdump.bestWallSeconds, 3)} | ${f(c.tshark.bestWallSeconds, 3)} | ${ratio(c.tcpdumpOverReplay)} | ${ratio(c.tsharkOverReplay)} | ${ratio(c.tcpdumpOverReplayNoStartup)} / ${ratio(c.tsharkOverReplayNoStartup)} |`);
    }
    const c = r.publicCorpus;
    L.push(`| **all** | ${c.frames} | ${f(c.replaySeconds, 3)} | ${f(c.tcpdumpSeconds, 3)} | ${f(c.tsharkSeconds, 3)} | ${ratio(c.tcpdumpOverReplay)} | ${ratio(c.tsharkOverReplay)} | ${ratio(c.tcpdumpOverReplayNoStartup)} / ${ratio(c.tsharkOverReplayNoStartup)} |`, '');
    L.push('Direct mode: the replayer readdresses each packet and recomputes its checksums before the engine sees it (adapter work a gateway-side capture does not need).', '');
  }
  L.push(...churnMarkdown(r), ...beforeMarkdown(r));
  L.push('## 3. Scaling with live mappings', '');
  const env = r.scaling.daemonEnv ?? [];
  if (env.length > 0) L.push(`Every scale point (both builds) runs with the environment deploy/rpcgw.service gives the daemon: ${env.map((e) => `\`${e}\``).join(', ')}.`, '');
  L.push('| mappings | connections | bytes/mapping | bytes/connection | RSS with connections | setup pkt/s | random ns/pkt | burst ns/pkt | allocated B/pkt (random) |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.scaling.points) L.push(scaleRow(s));
  const fl = r.scaling.flatness;
  if (fl !== null) L.push('', ...flatLines(fl, ''));
  const fp = r.scaling.flatInProcess;
  if (fp?.value) {
    const e = (x: FlatEstimate): string => `${ratio(x.ratio)} (rounds ${f(Math.min(...x.pairRatios))}-${f(Math.max(...x.pairRatios))}; ratio of medians ${ratio(x.ratioOfMedians)}, of bests ${ratio(x.ratioOfBests)})`;
    L.push('', `The same ratio in one process (a pass on each population per round, ${fp.value.rounds} rounds; fresh processes differ in their compiled code): random ${e(fp.value.random)}, burst ${e(fp.value.burst)}; \`${fp.command}\`.`);
  } else if (fp?.error) L.push('', `The same ratio in one process: ${fp.error}`);
  for (const s of r.scaling.points) if (s.point?.stoppedReason) L.push('', `At ${si(s.mappings)} mappings: ${s.point.stoppedReason}.`);
  const x = r.scaling.expiry;
  if (x !== null) {
    L.push('', `Timer expiry, ${si(x.count)} at once: engine.tick expiring idle pinholes ${f(x.engineTickPinholesMs, 1)} ms (${f(x.engineNsPerPinhole, 0)} ns each, ` +
      `MappingTable.tick alone ${f(x.tableTickPinholesMs, 1)} ms, ${f(x.tableNsPerPinhole, 0)} ns each); idle connections ${f(x.engineTickConnectionsMs, 1)} ms ` +
      `(${f(x.engineNsPerConnection, 0)} ns each, ${x.connectionsExpired} of ${x.connectionsOpened} expired).`);
  } else if (r.scaling.expiryError !== null) L.push('', `Timer expiry: ${r.scaling.expiryError}`);
  const ei = r.scaling.epmIdle;
  L.push('', ei.value !== null ? `Idle EPM connections (bound, between calls), ${ei.value.opened} at once: ${f(ei.value.bytesPerConnection, 0)} bytes each (heap ${f(ei.value.heapBytesPerConnection, 0)}, array buffers ${f(ei.value.arrayBufferBytesPerConnection, 0)}); \`${ei.command}\`.` :
    `Idle EPM connections: ${ei.error ?? 'not measured'}`);
  L.push('', liveMarkdown(r.live));
  L.push('## Targets', '', '| target | goal | measured | met |', '|---|---|---:|:---:|');
  for (const t of r.targets) L.push(`| ${t.name} | ${t.goal} | ${t.measured === null ? 'n/a' : `${f(t.measured)} ${t.unit}`} | ${t.met === null ? '–' : t.met ? 'yes' : '**no**'} |`);
  L.push('');
  for (const t of r.targets) if (t.note !== '') L.push(`- ${t.name}: ${t.note}`);
  L.push('', `Plot: packets/s and memory against live mappings — [${name}.svg](${name}.svg).`, '');
  return L.join('\n');
}

function churnMarkdown(r: BenchResult): string[] {
  const c = r.churn;
  const L: string[] = ['### Churn: a public capture multiplied over many clients (direct mode)', ''];
  if (c.skipped !== null) return [...L, `Skipped: ${c.skipped}`, ''];
  L.push(`Source ${c.source.split('/').pop() ?? ''}; rules ${c.rulesFile.split('/').pop() ?? ''}. Replay: \`rpcgw replay churn-xN.pcap --rules churn.rules.json --out /dev/null --emitted-only --mode direct\`; ` +
    'peers `tcpdump -r F -w /dev/null` and `tshark -r F -Y dcerpc -w /dev/null`; peak RSS from GNU time.', '');
  L.push('| copies | frames | capture s | build | replay s | packets/s | peak RSS | tcpdump s | tcpdump/replay | tshark s | tshark/replay |', '|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const pt of c.points) {
    for (const b of pt.builds) {
      const ok = b.replay.available;
      const rs = ok ? b.replay.bestWallSeconds : null;
      const td = pt.tcpdump.available ? pt.tcpdump.bestWallSeconds : null;
      const ts = pt.tshark.available ? pt.tshark.bestWallSeconds : null;
      L.push(`| ${pt.capture.copies} | ${si(pt.capture.frames)} | ${f(pt.capture.spanSeconds, 0)} | ${b.build} | ${ok ? f(rs, 2) : `error: ${b.replay.error ?? ''}`} | ${si(rs === null ? null : pt.capture.frames / rs)} | ` +
        `${b.replay.maxRssKiB === null ? 'n/a' : `${(b.replay.maxRssKiB / 1024).toFixed(0)} MiB`} | ${f(td, 3)} | ${ratio(td !== null && rs !== null ? td / rs : null)} | ${f(ts, 2)} | ${ratio(ts !== null && rs !== null ? ts / rs : null)} |`);
    }
  }
  if (c.points.length > 1) {
    const a = c.points[0]!;
    const z = c.points[c.points.length - 1]!;
    for (let i = 0; i < a.builds.length; i++) {
      const ta = a.builds[i]?.replay;
      const tz = z.builds[i]?.replay;
      if (ta?.available === true && tz?.available === true) L.push('', `${a.builds[i]!.build}: x${z.capture.copies} took ${ratio(tz.bestWallSeconds / ta.bestWallSeconds)} the time of x${a.capture.copies} (linear: ${ratio(z.capture.copies / a.capture.copies)}).`);
    }
  }
  for (const m of c.inMemory) {
    L.push('', m.error !== null ? `In memory x${m.copies}, ${m.build}: ${m.error}` :
      `In memory x${m.copies}, ${m.build}: ${si(m.packets)} packets in ${f(m.bestSeconds, 3)} s, ${si(m.connections)} connections opened: **${si(m.connectionsPerSecond)} new connections/s** (\`${m.command}\` on the gateway-side capture a full direct replay writes).`);
  }
  L.push('');
  return L;
}

function beforeMarkdown(r: BenchResult): string[] {
  const b = r.before;
  if (b === null) return [];
  const e = r.engine;
  const L: string[] = [`### Before / after, same run (before: ${b.dir}, ${b.commit ?? '?'})`, ''];
  const t = (x: { available: boolean; bestWallSeconds: number }): number | null => (x.available ? x.bestWallSeconds : null);
  const td = t(r.peers.tcpdump);
  L.push('| measurement | before s | after s | before vs tcpdump | after vs tcpdump |', '|---|---:|---:|---:|---:|');
  L.push(`| own workload in memory | ${f(b.inMemory?.bestSeconds, 3)} | ${f(e.inMemory.bestSeconds, 3)} | ${ratio(td !== null && b.inMemory ? td / b.inMemory.bestSeconds : null)} | ${ratio(r.peers.ratios.inMemoryVsTcpdump)} |`);
  L.push(`| own workload file-to-file | ${f(t(b.fileToFile), 3)} | ${f(t(e.fileToFile), 3)} | ${ratio(td !== null && t(b.fileToFile) !== null ? td / t(b.fileToFile)! : null)} | ${ratio(r.peers.ratios.fileToFileVsTcpdump)} |`);
  L.push(`| replay start-up | ${f(t(b.startup), 3)} | ${f(t(e.startup), 3)} | | |`);
  if (b.inMemoryError !== null) L.push('', `Before in memory: ${b.inMemoryError}`);
  if (b.corpus.length > 0) {
    L.push('', '| public capture | before s | after s | tshark s | before: tshark/replay | after: tshark/replay |', '|---|---:|---:|---:|---:|---:|');
    for (const c of b.corpus) {
      const a = r.publicCorpus.files.find((x) => x.name === c.name);
      const bs = t(c.replay);
      const ts = a !== undefined ? t(a.tshark) : null;
      L.push(`| ${c.name} | ${f(bs, 3)} | ${f(a ? t(a.replay) : null, 3)} | ${f(ts, 3)} | ${ratio(ts !== null && bs !== null ? ts / bs : null)} | ${ratio(a?.tsharkOverReplay ?? null)} |`);
    }
  }
  if (b.scaling.length > 0) {
    L.push('', 'Scaling, before:', '', '| mappings | connections | bytes/mapping | bytes/connection | RSS with connections | setup pkt/s | random ns/pkt | burst ns/pkt | allocated B/pkt (random) |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of b.scaling) L.push(scaleRow(s));
    for (const s of b.scaling) if (s.point?.stoppedReason) L.push('', `Before, at ${si(s.mappings)} mappings: ${s.point.stoppedReason}.`);
    if (b.flatness) L.push('', ...flatLines(b.flatness, 'Before: '));
  }
  if (b.epmIdle !== null) {
    const v = b.epmIdle.value;
    L.push('', v !== null ? `Idle EPM connections before: ${f(v.bytesPerConnection, 0)} bytes each (${v.opened} at once).` : `Idle EPM connections before: ${b.epmIdle.error ?? ''}`);
  }
  L.push('');
  return L;
}

/** The flat-cost ratio, how it was estimated, and what the other estimators give on the same runs. */
function flatLines(fl: Flatness, prefix: string): string[] {
  const est = (e: FlatEstimate): string =>
    `${ratio(e.ratio)} (pairs ${e.pairRatios.map((x) => ratio(x)).join(', ')}; ratio of medians ${ratio(e.ratioOfMedians)}, of bests ${ratio(e.ratioOfBests)}; ` +
    `ns ${e.fromNs.map((x) => f(x, 0)).join('/')} -> ${e.toNs.map((x) => f(x, 0)).join('/')})`;
  // A result written before the runs were repeated has one pair and no estimates.
  if (fl.estimates === undefined) return [`${prefix}Cost per packet at ${si(fl.toMappings)} over ${si(fl.fromMappings)} connections: random ${ratio(fl.random)}, burst ${ratio(fl.burst)} (1x = flat).`];
  return [
    `${prefix}Cost per packet at ${si(fl.toMappings)} over ${si(fl.fromMappings)} connections (1x = flat), median of ${fl.runs} pair ratios of alternated runs: ` +
      `random ${est(fl.estimates.random)}, burst ${est(fl.estimates.burst)}.`,
  ];
}

function scaleRow(s: ScaleEntry): string {
  const p = s.point;
  if (p === null) return `| ${si(s.mappings)} | error: ${s.error ?? ''} | | | | | | | |`;
  const rnd = p.traffic.find((t) => t.pattern === 'random');
  const bur = p.traffic.find((t) => t.pattern === 'burst');
  return `| ${si(p.mappings)} | ${si(p.connections)}${p.connectionsComplete ? '' : ' (stopped)'} | ${f(p.memory.bytesPerMapping, 0)} | ${f(p.memory.bytesPerConnection, 0)} | ${mib(p.memory.withConnections.rssBytes)} | ${si(p.setupPacketsPerSecond)} | ` +
    `${f(rnd?.nsPerPacket, 0)} | ${f(bur?.nsPerPacket, 0)} | ${f(rnd === undefined ? null : rnd.gc.allocatedBytes / rnd.packets, 1)} |`;
}

/**
 * Log-x plot, two y axes: packets/s of mapped traffic (random and burst) on the left, memory
 * (MiB of heap + array buffers for the mappings, and for mappings with a connection each) on
 * the right. Written by hand: no plotting dependency.
 */
export function svgPlot(r: BenchResult): string {
  const pts = r.scaling.points.filter((s) => s.point !== null).map((s) => s.point!);
  const W = 760;
  const H = 420;
  const m = { l: 80, r: 90, t: 40, b: 60 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = pts.map((p) => p.mappings);
  const xMin = Math.min(1000, ...xs);
  const xMax = Math.max(1_000_000, ...xs);
  const lx = (x: number): number => m.l + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw;
  const pps = (p: (typeof pts)[number], pat: string): number => p.traffic.find((t) => t.pattern === pat)?.packetsPerSecond ?? NaN;
  const memMap = (p: (typeof pts)[number]): number => (p.memory.bytesPerMapping * p.mappings) / 2 ** 20;
  const memAll = (p: (typeof pts)[number]): number => (p.memory.bytesPerMapping * p.mappings + p.memory.bytesPerConnection * p.connections) / 2 ** 20;
  const yMaxL = niceMax(Math.max(1, ...pts.flatMap((p) => [pps(p, 'random'), pps(p, 'burst')]).filter(Number.isFinite)));
  const yMaxR = niceMax(Math.max(1, ...pts.flatMap((p) => [memMap(p), memAll(p)]).filter(Number.isFinite)));
  const yl = (v: number): number => m.t + ph - (v / yMaxL) * ph;
  const yr = (v: number): number => m.t + ph - (v / yMaxR) * ph;
  const S: string[] = [];
  S.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  S.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  S.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">rpcgw: mapped-connection packets/s and memory against live mappings (${r.mode}, ${r.startedAt.slice(0, 10)})</text>`);
  S.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (let d = Math.ceil(Math.log10(xMin)); d <= Math.floor(Math.log10(xMax)); d++) {
    const x = lx(10 ** d);
    S.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="#eee"/>`);
    S.push(`<text x="${x}" y="${m.t + ph + 18}" text-anchor="middle">${si(10 ** d)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (yMaxL * i) / 5;
    S.push(`<line x1="${m.l}" y1="${yl(v)}" x2="${m.l + pw}" y2="${yl(v)}" stroke="#f2f2f2"/>`);
    S.push(`<text x="${m.l - 6}" y="${yl(v) + 4}" text-anchor="end" fill="#1f5fbf">${si(v)}</text>`);
    S.push(`<text x="${m.l + pw + 6}" y="${yr((yMaxR * i) / 5) + 4}" fill="#b5461a">${((yMaxR * i) / 5).toFixed(0)}</text>`);
  }
  S.push(`<text x="${m.l + pw / 2}" y="${H - 18}" text-anchor="middle">live mappings (pinholes), log scale</text>`);
  S.push(`<text transform="translate(20 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#1f5fbf">packets/s (engine, one core)</text>`);
  S.push(`<text transform="translate(${W - 22} ${m.t + ph / 2}) rotate(90)" text-anchor="middle" fill="#b5461a">MiB (JS heap + array buffers)</text>`);
  const line = (get: (p: (typeof pts)[number]) => number, y: (v: number) => number, color: string, dash: string, label: string, row: number): void => {
    const ok = pts.filter((p) => Number.isFinite(get(p)));
    if (ok.length > 0) {
      S.push(`<polyline fill="none" stroke="${color}" stroke-width="2" ${dash !== '' ? `stroke-dasharray="${dash}"` : ''} points="${ok.map((p) => `${lx(p.mappings).toFixed(1)},${y(get(p)).toFixed(1)}`).join(' ')}"/>`);
      for (const p of ok) S.push(`<circle cx="${lx(p.mappings).toFixed(1)}" cy="${y(get(p)).toFixed(1)}" r="3.5" fill="${color}"/>`);
    }
    const ly = m.t + 14 + row * 16;
    S.push(`<line x1="${m.l + 10}" y1="${ly - 4}" x2="${m.l + 34}" y2="${ly - 4}" stroke="${color}" stroke-width="2" ${dash !== '' ? `stroke-dasharray="${dash}"` : ''}/>`);
    S.push(`<text x="${m.l + 40}" y="${ly}">${label}</text>`);
  };
  line((p) => pps(p, 'burst'), yl, '#1f5fbf', '', 'packets/s, bursts of 8 per connection', 0);
  line((p) => pps(p, 'random'), yl, '#1f5fbf', '5 4', 'packets/s, every packet a random connection', 1);
  line(memMap, yr, '#b5461a', '', 'MiB for the mappings', 2);
  line(memAll, yr, '#b5461a', '5 4', 'MiB for mappings + one connection each (as far as opened)', 3);
  S.push('</svg>');
  return S.join('\n') + '\n';
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}
