/**
 * The replay report's JSON lines of the four kinds a long replay makes by the hundred thousand
 * (connection, closed, rewrite, mapping), written straight from the engine's numeric event: the
 * same text as `JSON.stringify({ record, frame, ...xRecordOf(e) })` over ops/event-records.ts's
 * records, without the two objects, the spread and the generic walk of each (about half of what a
 * `--report` replay of churn spent on its report). test/dataplane/report-lines.test.ts holds the
 * two equal over random events, so a change to a record there that is not made here fails.
 *
 * Every string written unquoted here is made of digits, dots, colons, hex and dashes, or is one
 * of the constant names below; the one free text, a rule's name, goes through JSON.stringify
 * (once per name).
 */
import { ipv4ToString } from '../wire/addr.js';
import { uuidToString } from '../dcerpc/uuid.js';
import { CLOSE_NAMES, type EngineEvent } from '../engine/events.js';
import { endpoint, flowKindName, rewriteOpName } from '../ops/event-records.js';

/** A number as JSON writes it (not finite: null). */
function num(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null';
}

export class ReportLines {
  /** A rule's name → its JSON text. */
  private readonly names = new Map<string, string>();

  /** `{"record":"connection","frame":...}`: connectionRecordOf. */
  connection(frame: number, e: EngineEvent): string {
    return `{"record":"connection","frame":${num(frame)},${this.connectionFields(e)}}`;
  }

  /** `{"record":"closed",...}`: closedRecordOf (the connection's fields, then the close's). */
  closed(frame: number, e: EngineEvent): string {
    const reason = CLOSE_NAMES[e.code];
    return `{"record":"closed","frame":${num(frame)},${this.connectionFields(e)}${reason !== undefined ? `,"reason":"${reason}"` : ''}` +
      `,"packetsFromClient":${num(e.packetsFromClient)},"bytesFromClient":${num(e.bytesFromClient)}` +
      `,"packetsFromServer":${num(e.packetsFromServer)},"bytesFromServer":${num(e.bytesFromServer)},"durationMs":${num(e.durationMs)}}`;
  }

  /** `{"record":"rewrite",...}`: rewriteRecordOf. */
  rewrite(frame: number, e: EngineEvent): string {
    return `{"record":"rewrite","frame":${num(frame)},"flow":${num(e.flow)},"rule":${this.name(e)},"client":"${ipv4ToString(e.clientIp)}"` +
      `,"op":"${rewriteOpName(e.code)}","interface":"${uuidToString(e.uuid, 0, e.uuidLittleEndian)}","version":"${e.ifMajor}.${e.ifMinor}"` +
      `,"original":"${endpoint(e.origIp, e.origPort)}","rewritten":"${endpoint(e.extIp, e.extPort)}","mapping":${num(e.mapping)}}`;
  }

  /** `{"record":"mapping",...}`: mappingRecordOf. */
  mapping(frame: number, e: EngineEvent): string {
    return `{"record":"mapping","frame":${num(frame)},"mapping":${num(e.mapping)},"rule":${this.name(e)},"client":"${ipv4ToString(e.clientIp)}"` +
      `,"external":"${endpoint(e.extIp, e.extPort)}","server":"${endpoint(e.serverIp, e.serverPort)}"}`;
  }

  private connectionFields(e: EngineEvent): string {
    return `"flow":${num(e.flow)},"kind":"${flowKindName(e.kind)}","rule":${this.name(e)}` +
      `,"client":"${endpoint(e.clientIp, e.clientPort)}","external":"${endpoint(e.extIp, e.extPort)}"` +
      `,"gateway":"${endpoint(e.gwIp, e.gwPort)}","server":"${endpoint(e.serverIp, e.serverPort)}"${e.mapping >= 0 ? `,"mapping":${num(e.mapping)}` : ''}`;
  }

  private name(e: EngineEvent): string {
    const n = e.names.name(e.rule);
    let text = this.names.get(n);
    if (text === undefined) {
      text = JSON.stringify(n);
      this.names.set(n, text);
    }
    return text;
  }
}
