/**
 * The core property of the EPM leg: however the TCP byte streams are cut, reordered, duplicated
 * or retransmitted, the bytes delivered to each end (reassembled by sequence number from the
 * emitted packets, every checksum valid) are the same as with the original segmentation, every
 * copy of a rewritten byte carries the rewritten value, and the report lists the same rewrites.
 *
 * Conversations: synthetic ones from the encoders (1 tower, 2 towers, NDR64, big-endian drep,
 * a multi-fragment ept_lookup whose port/IPv4 fields straddle fragment boundaries) and real ones
 * from the public corpus (impacket rpcdump's 11-fragment ept_lookup, Windows NDR64 maps on a
 * reused association, Outlook 2003, DCShadow's alter_context/auth3 on 135 ...).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Conversation, type PlayResult, type Schedule, EngineHarness, EXT, SERVER, EMSMDB, NSPI, PORT_LO,
  checkRewrittenStream, cutSchedule, directionBytes, epmBind, epmBindAck, epmConversations, eptLookupRequest, eptLookupResponseStub,
  eptMapRequest, eptMapResponseStub, originalSchedule, playConversation, responseFragments, rulesDoc, synthConversation, tcpTower,
  epmSession, parseTcp, towerFieldOffsets, towersInStream, turnBounds,
} from '../helpers/engine-harness.js';
import { buildTower } from '../../src/epm/tower.js';
import { PROTO_NCACN_NP, PROTO_NCALRPC, PROTO_NCACN_IP_TCP } from '../../src/epm/constants.js';
import { haveSharedPcaps, publicPath } from '../helpers/shared.js';

/** Generous hold limits: 1-byte segments of a 45 KB response cost 41 bytes each while held. */
const BIG_LIMITS = { maxHeldBytesPerFlow: 16 * 1024 * 1024, maxHeldBytesTotal: 64 * 1024 * 1024 };

function harnessFor(conv: Conversation): EngineHarness {
  return new EngineHarness(rulesDoc({ server: conv.server }, { limits: BIG_LIMITS }));
}

interface Run {
  h: EngineHarness;
  r: PlayResult;
}

function play(conv: Conversation, schedule: Schedule): Run {
  const h = harnessFor(conv);
  return { h, r: playConversation(h, conv, schedule) };
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Everything a re-segmented run must share with the reference run. */
function expectSame(run: Run, ref: Run): void {
  for (const [what, got, want] of [
    ['to client', run.r.toClient, ref.r.toClient],
    ['to server', run.r.toServer, ref.r.toServer],
  ] as const) {
    expect(got.badChecksums, `${what}: packets with a bad checksum`).toBe(0);
    expect(got.conflicts.slice(0, 5), `${what}: offsets whose copies differ`).toEqual([]);
    expect(got.holes, `${what}: bytes never delivered`).toBe(0);
    expect(firstDiff(got.bytes, want.bytes), `${what}: first byte differing from the original segmentation`).toBe(-1);
  }
  expect(run.h.rewrites()).toEqual(ref.h.rewrites());
  expect(run.h.refusals()).toEqual(ref.h.refusals());
}

// ---- schedule transformers (pure, driven by fast-check's numbers) ----------------------------

/** Each turn cut into pieces whose sizes cycle through `sizes`. */
function sized(conv: Conversation, sizes: number[]): Schedule {
  return cutSchedule(conv, (_i, len) => {
    const cuts: number[] = [];
    for (let p = 0, k = 0; p < len; k++) {
      p += sizes[k % sizes.length]!;
      cuts.push(p);
    }
    return cuts;
  });
}

/** Within each turn, piece i moves to about i + key (bounded window): out-of-order delivery. */
function reordered(s: Schedule, keys: number[], window: number): Schedule {
  return s.map((turn) =>
    turn
      .map((p, i) => ({ p, k: i + (keys[i % keys.length]! % window) + (i % 2) * 0.5 }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.p),
  );
}

/** After some pieces, a copy of an earlier (or the same) piece of the turn. */
function duplicated(s: Schedule, picks: number[]): Schedule {
  return s.map((turn) => {
    const out = [];
    for (let i = 0; i < turn.length; i++) {
      out.push(turn[i]!);
      const pick = picks[i % picks.length]!;
      if (pick % 3 === 0) out.push(turn[pick % (i + 1)]!);
    }
    return out;
  });
}

/**
 * After each turn, retransmissions of already-sent bytes of that direction with other
 * boundaries than the original (TCP repacketizes): [from, from+len) scaled into what was sent.
 */
function retransmitted(conv: Conversation, s: Schedule, ranges: [number, number][]): Schedule {
  const bounds = turnBounds(conv);
  return s.map((turn, i) => {
    const end = bounds[i]!.end;
    const extra = ranges.map(([a, b], k) => {
      const from = Math.floor((a / 0x10000) * end);
      const len = Math.max(1, Math.min(end - from, 1 + (b % 3000)));
      return { off: from, len, k };
    });
    return [...turn, ...extra.filter((x) => (x.k + i) % 2 === 0).map(({ off, len }) => ({ off, len }))];
  });
}

/** Overlapping segments: each starts up to `back` bytes before the previous one ended. */
function overlapping(conv: Conversation, sizes: number[], backs: number[]): Schedule {
  return turnBounds(conv).map((b) => {
    const out = [];
    let frontier = b.start;
    let k = 0;
    while (frontier < b.end) {
      const back = Math.min(frontier - b.start, backs[k % backs.length]!);
      const from = frontier - back;
      const to = Math.min(b.end, frontier + sizes[k % sizes.length]!);
      out.push({ off: from, len: to - from });
      frontier = to;
      k++;
    }
    return out;
  });
}

// ---- conversations ---------------------------------------------------------------------------

interface Case {
  name: string;
  conv: () => Conversation;
  /** ncacn_ip_tcp towers naming the server that must be rewritten. */
  rewrites: number;
  /** fast-check runs for this case (the 45 KB rpcdump response gets fewer). */
  runs: number;
}

const OTHER_HOST = '10.9.9.9';

function mapConversation(towers: Uint8Array[], o: { ndr64?: boolean; le?: boolean; fragCuts?: (stub: Uint8Array) => number[] } = {}): Conversation {
  const ndr64 = o.ndr64 ?? false;
  const le = o.le ?? true;
  const stub = eptMapResponseStub(towers, ndr64, le);
  return synthConversation([
    [true, epmBind(1, ndr64, undefined, 3, le)],
    [false, epmBindAck(1, ndr64, le)],
    [true, eptMapRequest({ callId: 2, ndr64, littleEndian: le })],
    [false, responseFragments(stub, 2, o.fragCuts?.(stub) ?? [], undefined, le)],
  ]);
}

/** Cuts inside the port (after its first byte) and inside the IPv4 field (after 1, 2, 3 bytes) of successive towers. */
function straddlingCuts(fields: { portOff: number; ipv4Off: number }[]): number[] {
  const cuts: number[] = [];
  fields.forEach((f, i) => {
    if (i % 4 === 0) cuts.push(f.portOff + 1);
    else cuts.push(f.ipv4Off + (i % 4));
  });
  return [...new Set(cuts)].sort((a, b) => a - b);
}

function lookupEntries(tcpServerTowers: number): { object: string; annotation: string; tower: Uint8Array | null }[] {
  const entries = [];
  const obj = '00000000-0000-0000-0000-000000000000';
  for (let i = 0; i < tcpServerTowers; i++) {
    entries.push({ object: obj, annotation: `svc ${i}`, tower: tcpTower(i % 2 === 0 ? EMSMDB : NSPI, i % 2 === 0 ? 0 : 56, i % 2 === 0 ? 81 : 0, SERVER, 1025 + i) });
    entries.push({ object: obj, annotation: '', tower: buildTower({ ifUuid: NSPI, ifMajor: 56, ifMinor: 0, protocol: PROTO_NCACN_NP, pipe: '\\pipe\\lsass', host: '\\\\SRV' }) });
    if (i % 3 === 0) entries.push({ object: obj, annotation: 'lrpc', tower: buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCALRPC, pipe: `LRPC-${i}` }) });
    if (i % 4 === 1) entries.push({ object: obj, annotation: 'elsewhere', tower: tcpTower(EMSMDB, 0, 81, OTHER_HOST, 2000 + i) });
    if (i % 5 === 2) entries.push({ object: obj, annotation: 'null tower', tower: null });
  }
  // A tower naming 0.0.0.0 ("any address of the server") is rewritten too.
  entries.push({ object: obj, annotation: 'any', tower: tcpTower(EMSMDB, 0, 81, '0.0.0.0', 6001) });
  return entries;
}

function lookupConversation(tcpServerTowers: number, ndr64 = false): Conversation {
  const stub = eptLookupResponseStub(lookupEntries(tcpServerTowers), ndr64);
  const cuts = straddlingCuts(towerFieldOffsets(stub, ndr64, true));
  const map2 = eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1025)], ndr64);
  return synthConversation([
    [true, epmBind(1, ndr64)],
    [false, epmBindAck(1, ndr64)],
    [true, eptLookupRequest({ callId: 2, ndr64 })],
    [false, responseFragments(stub, 2, cuts)],
    // The association is reused: an ept_map for an endpoint the lookup already mapped.
    [true, eptMapRequest({ callId: 3, ndr64 })],
    [false, responseFragments(map2, 3)],
  ]);
}

const SYNTHETIC: Case[] = [
  { name: 'ept_map, 1 tower (NDR)', conv: () => mapConversation([tcpTower(EMSMDB, 0, 81, SERVER, 1032)]), rewrites: 1, runs: 50 },
  {
    name: 'ept_map, 2 towers (NDR), fields straddling 3 fragments',
    conv: () => mapConversation([tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(NSPI, 56, 0, SERVER, 4997)], {
      fragCuts: (stub) => straddlingCuts(towerFieldOffsets(stub, false, false).flatMap((f) => [f, f])).slice(0, 3),
    }),
    rewrites: 2,
    runs: 50,
  },
  { name: 'ept_map, 2 towers (NDR64)', conv: () => mapConversation([tcpTower(EMSMDB, 0, 81, SERVER, 49668), tcpTower(EMSMDB, 0, 81, SERVER, 49664)], { ndr64: true }), rewrites: 2, runs: 50 },
  { name: 'ept_map, big-endian drep', conv: () => mapConversation([tcpTower(EMSMDB, 0, 81, SERVER, 1032)], { le: false }), rewrites: 1, runs: 30 },
  { name: 'ept_lookup in many fragments, fields straddling them, then ept_map on the same association', conv: () => lookupConversation(12), rewrites: 12 + 1 + 1, runs: 40 },
  { name: 'ept_lookup in NDR64', conv: () => lookupConversation(5, true), rewrites: 5 + 1 + 1, runs: 30 },
];

function corpusCase(name: string, file: string, pick: (c: Conversation[]) => Conversation, rewrites: number, runs: number): Case {
  let cached: Conversation | undefined;
  return {
    name: `${file}: ${name}`,
    conv: () => (cached ??= pick(epmConversations(publicPath(file)))),
    rewrites,
    runs,
  };
}

const byPort = (port: number) => (cs: Conversation[]): Conversation => {
  const c = cs.find((x) => x.cport === port);
  if (c === undefined) throw new Error(`no conversation from client port ${port}`);
  return c;
};

const CORPUS: Case[] = [
  corpusCase('11-fragment ept_lookup response (45 KB, 346 entries)', 'pcapattack-impacket-rpcdump-lookup.pcapng', (c) => c[0]!, 13, 12),
  corpusCase('NDR64 maps, 4 on one association', 'ms-adod-ws2019-domain-join-epm.pcapng', byPort(54355), 8, 30),
  corpusCase('Outlook 2003 ept_lookup (ncacn_http tower)', 'exchange-outlook-mapi-epm.pcap', byPort(1069), 0, 20),
  corpusCase('Outlook 2003 ept_map EMSMDB', 'exchange-outlook-mapi-epm.pcap', byPort(1072), 1, 20),
  corpusCase('2 towers (NDR)', 'scapy-netlogon-epm-map.pcapng', (c) => c[0]!, 2, 20),
  corpusCase('NDR64 map', 'smbexec-svcctl-epm.pcap', (c) => c[0]!, 1, 20),
  corpusCase('alter_context + auth3 on 135, empty answers', 'pcapattack-dcshadow-epm-ndr64.pcapng', byPort(60998), 0, 20),
];

function suite(cases: Case[]): void {
  for (const tc of cases) {
    describe(tc.name, () => {
      let ref: Run;
      const conv = (): Conversation => tc.conv();

      it('original segmentation: towers rewritten, nothing else changed, every checksum valid', () => {
        ref = play(conv(), originalSchedule(conv()));
        const { toClient, toServer, clientStream, serverStream } = ref.r;
        expect(ref.h.refusals()).toEqual([]);
        expect(toClient.badChecksums + toServer.badChecksums).toBe(0);
        expect(toClient.conflicts).toEqual([]);
        expect(toClient.holes + toServer.holes).toBe(0);
        // Client → server: passed through byte for byte.
        expect(firstDiff(toServer.bytes, clientStream)).toBe(-1);
        // Server → client: only the rewritten fields differ, checked by an independent decode.
        const { problems, rewritten } = checkRewrittenStream(serverStream, toClient.bytes, conv().server, EXT);
        expect(problems).toEqual([]);
        expect(rewritten.length).toBe(tc.rewrites);
        expect(ref.h.rewrites().length).toBe(tc.rewrites);
        expect(ref.h.rewrites().map((r) => `${r.original} -> ${r.rewritten}`)).toEqual(rewritten);
      });

      it('1-byte segments', () => {
        expectSame(play(conv(), sized(conv(), [1])), ref);
      });

      it('fixed odd sizes (3, 7, 13, 100, 1459)', () => {
        for (const n of [3, 7, 13, 100, 1459]) expectSame(play(conv(), sized(conv(), [n])), ref);
      });

      it('the whole turn in one segment', () => {
        expectSame(play(conv(), sized(conv(), [65535])), ref);
      });

      it('random cut points', () => {
        fc.assert(
          fc.property(fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 24 }), (sizes) => {
            expectSame(play(conv(), sized(conv(), sizes)), ref);
          }),
          { numRuns: tc.runs },
        );
      });

      it('segments reordered within a window', () => {
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 16 }),
            fc.array(fc.nat({ max: 15 }), { minLength: 1, maxLength: 16 }),
            fc.integer({ min: 2, max: 8 }),
            (sizes, keys, window) => {
              expectSame(play(conv(), reordered(sized(conv(), sizes), keys, window)), ref);
            },
          ),
          { numRuns: tc.runs },
        );
      });

      it('duplicated segments', () => {
        fc.assert(
          fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 16 }), fc.array(fc.nat(), { minLength: 1, maxLength: 16 }), (sizes, picks) => {
            expectSame(play(conv(), duplicated(sized(conv(), sizes), picks)), ref);
          }),
          { numRuns: tc.runs },
        );
      });

      it('retransmissions of already-forwarded bytes, repacketized', () => {
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8 }),
            fc.array(fc.tuple(fc.nat({ max: 0xffff }), fc.nat()), { minLength: 1, maxLength: 6 }),
            (sizes, ranges) => {
              expectSame(play(conv(), retransmitted(conv(), sized(conv(), sizes), ranges)), ref);
            },
          ),
          { numRuns: tc.runs },
        );
      });

      it('overlapping segments (each re-sends the tail of the previous one)', () => {
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 1, max: 800 }), { minLength: 1, maxLength: 12 }),
            fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 12 }),
            (sizes, backs) => {
              expectSame(play(conv(), overlapping(conv(), sizes, backs)), ref);
            },
          ),
          { numRuns: tc.runs },
        );
      });

      it('everything at once: small pieces, reordered, duplicated, retransmitted', () => {
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 16 }),
            fc.array(fc.nat({ max: 15 }), { minLength: 1, maxLength: 16 }),
            fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
            fc.array(fc.tuple(fc.nat({ max: 0xffff }), fc.nat()), { minLength: 1, maxLength: 4 }),
            (sizes, keys, picks, ranges) => {
              const s = retransmitted(conv(), duplicated(reordered(sized(conv(), sizes), keys, 6), picks), ranges);
              expectSame(play(conv(), s), ref);
            },
          ),
          { numRuns: Math.ceil(tc.runs / 2) },
        );
      });
    });
  }
}

describe('re-segmentation of synthetic EPM conversations', () => {
  suite(SYNTHETIC);
});

describe.skipIf(!haveSharedPcaps)('re-segmentation of EPM conversations from the public corpus', () => {
  suite(CORPUS);
});

describe('retransmissions of a rewritten response', () => {
  /** Plays the conversation, then re-sends the whole server stream `times` times with other cuts. */
  function replayTwice(conv: Conversation, cut: number): Run {
    const h = harnessFor(conv);
    const r = playConversation(h, conv, originalSchedule(conv));
    const s = directionBytes(conv, false);
    for (let p = 0; p < s.length; p += cut) r.conn.serverSeg(p, s.subarray(p, Math.min(s.length, p + cut)));
    return { h, r: { ...r, toClient: r.conn.deliveredToClient(), toServer: r.conn.deliveredToServer() } };
  }

  it('a full retransmission of the response (other cuts) carries the same rewritten bytes', () => {
    const conv = lookupConversation(12);
    const ref = play(conv, originalSchedule(conv));
    for (const cut of [1, 5, 97, 1460]) expectSame(replayTwice(conv, cut), ref);
  });

  // Regression: only the last 64 patches were remembered; the retransmitted response then carried
  // the first ~20 towers unrewritten (the server's real address and ports leaked).
  it('after more rewritten fields than fit in a small ring, early ones are still rewritten on retransmission', () => {
    // 40 server towers: 80 fields, more than 64 (the number of patches the engine remembers per
    // direction). A retransmitted early tower must still carry the rewritten endpoint — or not
    // go out at all — never the server's real address.
    const conv = lookupConversation(40);
    const ref = play(conv, originalSchedule(conv));
    expect(ref.h.rewrites().length).toBe(42);
    const run = replayTwice(conv, 1460);
    const towers = towersInStream(run.r.toClient.bytes);
    const leaked = towers.filter((t) => t.protocol === PROTO_NCACN_IP_TCP && t.ip === SERVER).map((t) => `${t.ip}:${t.port}`);
    expect(leaked, "towers naming the server delivered to the client").toEqual([]);
    expectSame(run, ref);
  });

  it('the rewritten endpoints are the mapped ports in order of appearance', () => {
    const conv = mapConversation([tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(NSPI, 56, 0, SERVER, 4997)]);
    const ref = play(conv, originalSchedule(conv));
    expect(ref.h.rewrites().map((r) => r.rewritten)).toEqual([`${EXT}:${PORT_LO}`, `${EXT}:${PORT_LO + 1}`]);
  });
});

describe('the paths the schedules above go through, one by one', () => {
  const stub = eptMapResponseStub([tcpTower(EMSMDB, 0, 81, SERVER, 1032), tcpTower(NSPI, 56, 0, SERVER, 4997)]);
  const resp = responseFragments(stub, 2);

  function session(): { h: EngineHarness; c: ReturnType<typeof epmSession> } {
    const h = new EngineHarness(rulesDoc());
    const c = epmSession(h);
    c.clientSend(eptMapRequest());
    return { h, c };
  }

  /** The response cut in three at fixed points; the reference delivery sent in order. */
  const cuts = [0, 60, 150, resp.length];
  const piece = (i: number): Uint8Array => resp.subarray(cuts[i], cuts[i + 1]);
  const reference = ((): Uint8Array => {
    const { c } = session();
    for (let i = 0; i < 3; i++) c.serverSeg(cuts[i]! + c.sSent, piece(i));
    return c.deliveredToClient().bytes;
  })();

  it('out of order: later pieces wait (nothing emitted) until the hole fills, then all go in sequence order', () => {
    const { h, c } = session();
    const base = c.sSent;
    expect(c.serverSeg(base + cuts[2]!, piece(2))).toEqual([]);
    expect(c.serverSeg(base + cuts[1]!, piece(1))).toEqual([]);
    expect(h.heldTotal).toBeGreaterThan(0);
    const out = c.serverSeg(base + cuts[0]!, piece(0));
    expect(out.map((e) => parseTcp(e.pkt).seq - c.serverSeq(base))).toEqual([0, 60, 150]);
    expect(h.heldTotal).toBe(0);
    expect(Buffer.from(c.deliveredToClient().bytes)).toEqual(Buffer.from(reference));
  });

  it('a duplicate of a held piece is dropped (the held copy goes), a retransmission of a released one goes out rewritten again', () => {
    const { h, c } = session();
    const base = c.sSent;
    expect(c.serverSeg(base, piece(0))).toEqual([]); // held: the call is incomplete
    expect(c.serverSeg(base, piece(0))).toEqual([]);
    expect(h.dropReasons()).toEqual(['duplicate-of-held-data']);
    c.serverSeg(base + cuts[1]!, piece(1));
    expect(c.serverSeg(base + cuts[2]!, piece(2)).length).toBe(3);
    // The last piece carries the second tower's fields: its retransmission is rewritten the same way.
    const again = c.serverSeg(base + cuts[2]!, piece(2));
    expect(again.length).toBe(1);
    const p = parseTcp(again[0]!.pkt);
    expect(p.tcpChecksumOk).toBe(true);
    expect(Buffer.from(p.payload)).toEqual(Buffer.from(reference.subarray(base + cuts[2]!, base + cuts[3]!)));
    expect(Buffer.from(p.payload)).not.toEqual(Buffer.from(piece(2)));
    expect(h.rewrites().length).toBe(2);
  });

  it('a segment that re-sends held bytes and brings new ones', () => {
    const { c } = session();
    const base = c.sSent;
    c.serverSeg(base, piece(0));
    c.serverSeg(base + 30, resp.subarray(30, 150)); // overlaps piece 0, brings piece 1
    c.serverSeg(base + cuts[2]!, piece(2));
    const d = c.deliveredToClient();
    expect(d.conflicts).toEqual([]);
    expect(Buffer.from(d.bytes)).toEqual(Buffer.from(reference));
  });
});

describe('mid-stream pickup anchored at the other end\'s ACK', () => {
  // A capture that starts mid-flow: the client's segment (with its ACK) comes first, then the
  // server's first segments arrive in reverse order. The server direction must start at the byte
  // the client ACKed, not at the first server segment seen, or the bytes before it pass unread.
  const cases: Case[] = [SYNTHETIC[1]!, SYNTHETIC[4]!, ...(haveSharedPcaps ? [CORPUS[0]!] : [])];
  for (const tc of cases) {
    it(tc.name, () => {
      const conv = tc.conv();
      const ref = play(conv, originalSchedule(conv));
      const cut = sized(conv, [40]);
      const serverReversed = cut.map((turn, i) => (conv.turns[i]!.fromClient ? turn : [...turn].reverse()));
      const h = new EngineHarness(rulesDoc({ server: conv.server }, { limits: BIG_LIMITS }), { midstreamPickup: true });
      const r = playConversation(h, conv, serverReversed, { midstream: true });
      expectSame({ h, r }, ref);
    });
  }
});

describe('mid-stream pickup (replays of captures without SYN), in-order re-segmentation', () => {
  const cases: Case[] = [SYNTHETIC[1]!, SYNTHETIC[4]!, ...(haveSharedPcaps ? [CORPUS[0]!, CORPUS[1]!] : [])];
  for (const tc of cases) {
    it(tc.name, () => {
      const conv = tc.conv();
      const ref = play(conv, originalSchedule(conv));
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 }), (sizes) => {
          const h = new EngineHarness(rulesDoc({ server: conv.server }, { limits: BIG_LIMITS }), { midstreamPickup: true });
          const r = playConversation(h, conv, sized(conv, sizes), { midstream: true });
          expectSame({ h, r }, ref);
        }),
        { numRuns: 15 },
      );
    });
  }
});
