/**
 * `rpcgw inspect <capture> [--json]`: every endpoint-mapper call in a capture, with its towers.
 * The administrator's first tool on a capture of a failing Outlook session.
 */
import { inspectCapture, type InspectedCall, type InspectedProblem, type InspectSummary } from '../inspect/inspect-capture.js';
import { interfaceName } from '../policy/interfaces.js';

export interface InspectArgs {
  capture: string;
  json: boolean;
}

type Write = (line: string) => void;

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

function textCall(c: InspectedCall, write: Write): void {
  const req = c.requestFrame === null ? 'request not captured' : `request frame ${c.requestFrame}`;
  const asked = c.requested ? `  asked ${label(c.requested.interface)} v${c.requested.version}` : '';
  const result = c.fault ? `FAULT ${hex32(c.status)}` : `status ${hex32(c.status)}`;
  write(`frame ${c.frame} (${req})  ${c.client} -> ${c.server}  ${c.op} ${c.syntax} call_id ${c.callId}${asked}  ${result}  ${c.towers.length} tower(s)`);
  for (const t of c.towers) {
    const where = t.protocol === 'ncacn_ip_tcp' || t.protocol === 'ncadg_ip_udp' ? `${t.ip}:${t.port}` : t.port !== null ? `port ${t.port}` : '';
    const parts = [`  [${t.index}] ${label(t.interface)} v${t.version}`, t.protocol, where, t.endpoint].filter((s) => s !== '');
    if (t.annotation) parts.push(`"${t.annotation}"`);
    write(parts.join('  '));
  }
}

function label(uuid: string): string {
  const name = interfaceName(uuid);
  return name ? `${uuid} (${name})` : uuid;
}

function textProblem(p: InspectedProblem, write: Write): void {
  const at = p.pduOffset >= 0 ? ` at PDU offset ${p.pduOffset}` : '';
  const what = p.ptype ? ` ${p.ptype}` : '';
  write(`frame ${p.frame}  ${p.client} -> ${p.server}  MALFORMED ${p.layer}${what} from ${p.from}${at}: ${p.reason}`);
}

function textSummary(s: InspectSummary, write: Write): void {
  write(`${s.file}: ${s.format}, ${s.frames} frames, ${s.epmConnections} EPM connection(s), ${s.pdus} DCE/RPC PDUs, ${s.epmCalls} EPM call(s), ${s.towers} tower(s), ${s.problems} problem(s)`);
  for (const [reason, n] of Object.entries(s.undecodedFrames)) write(`  ${n} frame(s) not decoded: ${reason}`);
  if (s.truncatedAtEnd) write('  warning: the last record of the file is truncated (capture cut short)');
}

export function runInspect(args: InspectArgs, write: Write): void {
  const summary = inspectCapture(args.capture, {
    call: (c) => (args.json ? write(JSON.stringify({ type: 'epm-call', ...c })) : textCall(c, write)),
    problem: (p) => (args.json ? write(JSON.stringify({ type: 'malformed', ...p })) : textProblem(p, write)),
  });
  if (args.json) write(JSON.stringify({ type: 'summary', ...summary }));
  else textSummary(summary, write);
}
