/**
 * The public captures (paths.ts: $RPCGW_SHARED/pcaps/public) as a real-traffic sample: each is replayed
 * file-to-file in direct mode (one rule per EPM server the capture's oracle names, as the
 * replay tests do) next to tcpdump and tshark on the same file. The captures are small (tens to
 * thousands of frames), so each is first repeated K times, one day apart (every connection of a
 * copy has expired before the next starts), into a work file of about `targetFrames` frames;
 * process start-up would otherwise be all that is measured.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CaptureFileWriter, openCaptureFile } from '../src/dataplane/capture-file.js';
import { CaptureRecord } from '../src/pcap/record.js';
import { cliMain, sharedPcaps } from './paths.js';
import { timeCommand, type CommandTiming } from './peers.js';

const DAY_S = 86_400;

export interface CorpusFile {
  name: string;
  framesPerCopy: number;
  copies: number;
  frames: number;
  bytes: number;
  replay: CommandTiming;
  tcpdump: CommandTiming;
  tshark: CommandTiming;
  /** Best wall times as ratios: peer time / replay time (above 1: rpcgw replay is faster). */
  tcpdumpOverReplay: number | null;
  tsharkOverReplay: number | null;
  /** The same with each tool's start-up (its run on an empty capture) taken out of its time. */
  tcpdumpOverReplayNoStartup: number | null;
  tsharkOverReplayNoStartup: number | null;
}

/** Best wall seconds of each tool on an empty capture (start-up, rules loading), or null if not measured. */
export interface Startups {
  replay: number | null;
  tcpdump: number | null;
  tshark: number | null;
}

export interface CorpusResult {
  directory: string;
  files: CorpusFile[];
  frames: number;
  replaySeconds: number;
  tcpdumpSeconds: number | null;
  tsharkSeconds: number | null;
  tcpdumpOverReplay: number | null;
  tsharkOverReplay: number | null;
  tcpdumpOverReplayNoStartup: number | null;
  tsharkOverReplayNoStartup: number | null;
  /** Why the corpus was not measured (directory missing), or null. */
  skipped: string | null;
}

/** Captures with a tower oracle, readable by tcpdump (NetMon files have converted twins). */
export function corpusCaptures(): string[] {
  if (!existsSync(path.join(sharedPcaps, 'MANIFEST.md'))) return [];
  return readdirSync(sharedPcaps)
    .filter((f) => !f.endsWith('.tsv') && !f.endsWith('.md') && existsSync(path.join(sharedPcaps, `${f}.expect.tsv`)))
    .filter((f) => {
      const r = openCaptureFile(path.join(sharedPcaps, f));
      const fmt = r.format;
      r.close();
      return fmt !== 'netmon';
    })
    .sort();
}

/** One rule per EPM server of the oracle (column `server`), each on its own external address. */
function rulesFor(name: string, file: string): void {
  const lines = readFileSync(path.join(sharedPcaps, `${name}.expect.tsv`), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const head = lines[0]?.split('\t') ?? [];
  const col = head.indexOf('server');
  const servers = [...new Set(lines.slice(1).map((l) => (l.split('\t')[col] ?? '').split(':')[0]!).filter((s) => s !== ''))].sort();
  const rules = servers.map((server, i) => ({
    name: `srv${i}`, server, externalAddress: `198.51.100.${i + 1}`, interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: '40000-40999', lookup: 'allow',
  }));
  const doc = {
    gateway: { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
    rules: rules.length > 0 ? rules : [{ name: 'none', server: '192.0.2.10', interfaces: ['any'], mappedPorts: '40000-40999' }],
  };
  writeFileSync(file, JSON.stringify(doc));
}

/** Writes `copies` copies of the capture, each shifted a day later, as a classic pcap; returns frames and bytes. */
function repeatCapture(src: string, dst: string, copies: number): { frames: number; bytes: number; perCopy: number } {
  const rec = new CaptureRecord();
  let w: CaptureFileWriter | null = null;
  let frames = 0;
  let bytes = 0;
  let perCopy = 0;
  let linkType = -1;
  try {
    for (let k = 0; k < copies; k++) {
      const r = openCaptureFile(src);
      try {
        while (r.next(rec)) {
          if (w === null) {
            linkType = rec.linkType;
            w = CaptureFileWriter.create(dst, 'pcap-ns', linkType);
          }
          if (rec.linkType !== linkType) continue; // a pcap file has one link type
          w.write(rec.tsSec + k * DAY_S, rec.tsNsec, rec.data, rec.dataOff, rec.capLen, rec.origLen);
          frames++;
          bytes += rec.capLen;
          if (k === 0) perCopy++;
        }
      } finally {
        r.close();
      }
    }
  } finally {
    w?.close();
  }
  return { frames, bytes, perCopy };
}

/**
 * (peer - its start-up) / (replay - its start-up); null when something is missing, or when a
 * tool's start-up is most of its time (what is left would be measurement noise).
 */
export function noStartupRatio(peer: number | null, peerStartup: number | null, replay: number | null, replayStartup: number | null, times = 1): number | null {
  if (peer === null || peerStartup === null || replay === null || replayStartup === null) return null;
  const p = peer - times * peerStartup;
  const r = replay - times * replayStartup;
  if (p < 0.25 * peer || r < 0.25 * replay) return null;
  return p / r;
}

/**
 * `alongside(name, input, rules)` runs right after this build's replay of each file (another
 * build's replay of the same file, timed next to it rather than minutes later).
 */
export function runCorpus(work: string, targetFrames: number, maxFiles: number, runs: number, tsharkRuns: number, startups: Startups,
  alongside?: (name: string, input: string, rules: string) => void): CorpusResult {
  const names = corpusCaptures().slice(0, maxFiles);
  const res: CorpusResult = {
    directory: sharedPcaps, files: [], frames: 0, replaySeconds: 0, tcpdumpSeconds: null, tsharkSeconds: null, tcpdumpOverReplay: null, tsharkOverReplay: null,
    tcpdumpOverReplayNoStartup: null, tsharkOverReplayNoStartup: null,
    skipped: names.length === 0 ? `no public captures at ${sharedPcaps}` : null,
  };
  let tcpdumpSum = 0;
  let tsharkSum = 0;
  let tcpdumpOk = true;
  let tsharkOk = true;
  for (const name of names) {
    const rules = path.join(work, `${name}.rules.json`);
    rulesFor(name, rules);
    const probe = repeatCapture(path.join(sharedPcaps, name), path.join(work, `${name}.x1.pcap`), 1);
    const copies = Math.max(1, Math.ceil(targetFrames / Math.max(1, probe.perCopy)));
    const file = path.join(work, `${name}.x${copies}.pcap`);
    const rep = copies === 1 ? probe : repeatCapture(path.join(sharedPcaps, name), file, copies);
    const input = copies === 1 ? path.join(work, `${name}.x1.pcap`) : file;
    const replay = timeCommand([process.execPath, cliMain, 'replay', input, '--rules', rules, '--out', '/dev/null', '--emitted-only', '--mode', 'direct'], runs,
      ['rpcgw', 'replay', input, '--rules', rules, '--out', '/dev/null', '--emitted-only', '--mode', 'direct']);
    alongside?.(name, input, rules);
    const tcpdump = timeCommand(['tcpdump', '-r', input, '-w', '/dev/null'], runs);
    const tshark = timeCommand(['tshark', '-r', input, '-Y', 'dcerpc', '-q'], tsharkRuns);
    const f: CorpusFile = {
      name, framesPerCopy: rep.perCopy, copies, frames: rep.frames, bytes: rep.bytes, replay, tcpdump, tshark,
      tcpdumpOverReplay: replay.available && tcpdump.available ? tcpdump.bestWallSeconds / replay.bestWallSeconds : null,
      tsharkOverReplay: replay.available && tshark.available ? tshark.bestWallSeconds / replay.bestWallSeconds : null,
      tcpdumpOverReplayNoStartup: noStartupRatio(best(tcpdump), startups.tcpdump, best(replay), startups.replay),
      tsharkOverReplayNoStartup: noStartupRatio(best(tshark), startups.tshark, best(replay), startups.replay),
    };
    res.files.push(f);
    res.frames += rep.frames;
    res.replaySeconds += replay.bestWallSeconds;
    if (tcpdump.available) tcpdumpSum += tcpdump.bestWallSeconds;
    else tcpdumpOk = false;
    if (tshark.available) tsharkSum += tshark.bestWallSeconds;
    else tsharkOk = false;
  }
  if (names.length > 0) {
    res.tcpdumpSeconds = tcpdumpOk ? tcpdumpSum : null;
    res.tsharkSeconds = tsharkOk ? tsharkSum : null;
    res.tcpdumpOverReplay = tcpdumpOk && res.replaySeconds > 0 ? tcpdumpSum / res.replaySeconds : null;
    res.tsharkOverReplay = tsharkOk && res.replaySeconds > 0 ? tsharkSum / res.replaySeconds : null;
    const n = names.length;
    res.tcpdumpOverReplayNoStartup = noStartupRatio(res.tcpdumpSeconds, startups.tcpdump, res.replaySeconds, startups.replay, n);
    res.tsharkOverReplayNoStartup = noStartupRatio(res.tsharkSeconds, startups.tshark, res.replaySeconds, startups.replay, n);
  }
  return res;
}

const best = (t: CommandTiming): number | null => (t.available ? t.bestWallSeconds : null);
