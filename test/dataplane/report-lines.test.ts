/**
 * The report lines replay writes from the engine's numbers (report-lines.ts) are, byte for byte,
 * JSON.stringify of the records ops/event-records.ts makes from the same event, for any event:
 * rule names with quotes, backslashes, control and non-ASCII characters, out-of-range codes,
 * counters that are not integers or not finite. And a `rpcgw replay --report` file is the same
 * whether its lines are written that way or from the records.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReportLines } from '../../src/dataplane/report-lines.js';
import { replayCapture } from '../../src/dataplane/replay.js';
import { readRulesFile } from '../../src/cli/rules-file.js';
import { EngineEvent } from '../../src/engine/events.js';
import { closedRecordOf, connectionRecordOf, mappingRecordOf, rewriteRecordOf } from '../../src/ops/event-records.js';
import { haveSharedPcaps, publicPath } from '../helpers/shared.js';
import { publicCaptureRules } from '../helpers/oracle.js';

const u32 = fc.nat({ max: 0xffffffff });
const port = fc.nat({ max: 0xffff });
const counter = fc.oneof(fc.nat(), fc.double(), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -0, 1e21, NaN, Infinity));

const eventArb = fc.record({
  name: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('srv0', 'a"b\\c', 'tab\there\n', '\u2028\u0000', '')),
  flow: fc.integer({ min: -1, max: 0x7fffffff }),
  kind: fc.nat(3),
  rule: fc.integer({ min: -1, max: 64 }),
  clientIp: u32, clientPort: port, extIp: u32, extPort: port, gwIp: u32, gwPort: port, serverIp: u32, serverPort: port, origIp: u32, origPort: port,
  mapping: fc.integer({ min: -2, max: 1 << 20 }),
  code: fc.integer({ min: -1, max: 8 }),
  packetsFromClient: counter, bytesFromClient: counter, packetsFromServer: counter, bytesFromServer: counter, durationMs: counter,
  uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  uuidLittleEndian: fc.boolean(),
  ifMajor: port, ifMinor: port,
  frame: fc.nat(),
});

type Ev = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function eventOf(r: Ev): EngineEvent {
  const e = new EngineEvent();
  e.names = { name: () => r.name };
  e.flow = r.flow; e.kind = r.kind; e.rule = r.rule;
  e.clientIp = r.clientIp; e.clientPort = r.clientPort; e.extIp = r.extIp; e.extPort = r.extPort;
  e.gwIp = r.gwIp; e.gwPort = r.gwPort; e.serverIp = r.serverIp; e.serverPort = r.serverPort;
  e.origIp = r.origIp; e.origPort = r.origPort; e.mapping = r.mapping; e.code = r.code;
  e.packetsFromClient = r.packetsFromClient; e.bytesFromClient = r.bytesFromClient;
  e.packetsFromServer = r.packetsFromServer; e.bytesFromServer = r.bytesFromServer; e.durationMs = r.durationMs;
  e.uuid.set(r.uuid); e.uuidLittleEndian = r.uuidLittleEndian; e.ifMajor = r.ifMajor; e.ifMinor = r.ifMinor;
  return e;
}

describe('report lines from the engine\'s numbers', () => {
  it('property: each kind is JSON.stringify of its record from ops/event-records', () => {
    const lines = new ReportLines();
    fc.assert(
      fc.property(eventArb, (r) => {
        const e = eventOf(r);
        const f = r.frame;
        expect(lines.connection(f, e)).toBe(JSON.stringify({ record: 'connection', frame: f, ...connectionRecordOf(e) }));
        expect(lines.closed(f, e)).toBe(JSON.stringify({ record: 'closed', frame: f, ...closedRecordOf(e) }));
        expect(lines.rewrite(f, e)).toBe(JSON.stringify({ record: 'rewrite', frame: f, ...rewriteRecordOf(e) }));
        expect(lines.mapping(f, e)).toBe(JSON.stringify({ record: 'mapping', frame: f, ...mappingRecordOf(e) }));
      }),
      { numRuns: 3000 },
    );
  });
});

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-report-lines-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('replay report: lines written from numbers equal the records stringified', () => {
  const sample = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'samples', 'exchange-epm.pcap');
  const inputs: Array<[string, string, () => string]> = [
    ['samples/exchange-epm.pcap', sample, () => path.join(path.dirname(sample), '..', 'rules', 'exchange.json')],
    ...(haveSharedPcaps ? ['pcapattack-zerologon-441-epm-maps.pcapng', 'exchange-outlook-mapi-epm.pcap', 'scapy-drsuapi-krb5-privacy-epm.pcapng'] : [])
      .map((c): [string, string, () => string] => [c, publicPath(c), () => publicCaptureRules(c, publicPath(c + '.expect.tsv'), work).file]),
  ];
  it.each(inputs)('%s: same lines, same refusals handed as records', (_name, input, rulesOf) => {
    const rulesFile = rulesOf();
    const rules = readRulesFile(rulesFile).rules;
    const out = path.join(work, 'out.pcapng');
    const fromRecords: string[] = [];
    const a = replayCapture({ capture: input, rules, rulesFile, out, mode: 'auto', onRecord: (r) => void fromRecords.push(JSON.stringify(r)) });
    const fromLines: string[] = [];
    const refusals: unknown[] = [];
    const b = replayCapture({
      capture: input, rules, rulesFile, out, mode: 'auto', onReportLine: (l) => void fromLines.push(l), onRecord: (r) => void refusals.push(r),
    });
    expect(fromLines.length).toBeGreaterThan(0);
    expect(fromLines).toEqual(fromRecords);
    expect(b).toEqual(a);
    // Only the rare kinds come as records when lines are taken.
    expect(refusals.map((r) => JSON.stringify(r))).toEqual(fromRecords.filter((l) => l.startsWith('{"record":"refusal"') || l.startsWith('{"record":"notification"')));
    expect(readFileSync(out).length).toBeGreaterThan(0);
  });
});
