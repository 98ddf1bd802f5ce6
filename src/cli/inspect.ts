/**
 * `rpcgw inspect <capture> [--json]`: every endpoint-mapper call in a capture, with its towers.
 * The administrator's first tool on a capture of a failing Outlook session.
 */
import { inspectCapture, type InspectedCall, type InspectedProblem, type InspectSummary } from '../inspect/inspect-capture.js';
import { interfaceName } from '../policy/interfaces.js';
import { RPC_STATUS_NAMES } from '../epm/constants.js';
import { openCaptureInput } from './capture-input.js';

export interface InspectArgs {
  capture: string;
  json: boolean;
}

type Write = (line: string) => void;

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

/** `EPT_S_NOT_REGISTERED (0x16c9a0d6)`, or the number alone when it has no name. */
function statusText(n: number): string {
  const name = RPC_STATUS_NAMES.get(n >>> 0);
  return name === undefined ? hex32(n) : `${name} (${hex32(n)})`;
}

function textCall(c: InspectedCall, write: Write): void {
  const req = c.requestFrame === null ? 'request not captured' : `request frame ${c.requestFrame}`;
  const asked = c.requested ? `  asked ${label(c.requested.interface)} v${c.requested.version}` : '';
  const result = c.fault ? `FAULT ${statusText(c.status)}` : `status ${statusText(c.status)}`;
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

/** `capture` may be `-` (standard input) and gzip-compressed. */
export async function runInspect(args: InspectArgs, write: Write): Promise<void> {
  const input = await openCaptureInput(args.capture);
  try {
    const summary = inspectCapture(input.path, {
      call: (c) => (args.json ? write(JSON.stringify({ type: 'epm-call', ...c, ...statusName(c.status) })) : textCall(c, write)),
      problem: (p) => (args.json ? write(JSON.stringify({ type: 'malformed', ...p })) : textProblem(p, write)),
    });
    summary.file = input.name;
    if (args.json) write(JSON.stringify({ type: 'summary', ...summary }));
    else textSummary(summary, write);
  } catch (e) {
    if (input.path !== input.name && e instanceof Error) e.message = e.message.split(input.path).join(input.name);
    throw e;
  } finally {
    input.cleanup();
  }
}

function statusName(status: number): { statusName?: string } {
  const name = RPC_STATUS_NAMES.get(status >>> 0);
  return name === undefined ? {} : { statusName: name };
}
