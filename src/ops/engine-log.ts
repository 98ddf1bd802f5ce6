/**
 * The firewall log: engine events as pino JSON records, one per connection opened/closed,
 * rewrite, pinhole and refusal — what an ISA administrator found in the firewall log. Packet
 * drops can come in floods (scans, attacks), so they are rate-limited per reason: the first few
 * in each window are logged, the rest counted and summarised.
 */
import type { Logger } from 'pino';
import type { EngineEvents } from '../engine/events.js';
import { SIDE_NAMES } from '../engine/events.js';
import { REASON_NAMES } from '../engine/reasons.js';
import { ipv4ToString } from '../wire/addr.js';
import { interfaceName } from '../policy/interfaces.js';

/** Drop records logged per reason per window; the rest are summarised. */
const DROPS_PER_WINDOW = 10;
const DROP_WINDOW_MS = 10_000;

export function engineLog(log: Logger): EngineEvents & { flushSuppressed(nowMs: number): void } {
  const logged = new Map<number, number>();
  const suppressed = new Map<number, number>();
  let windowStart = 0;
  const flushSuppressed = (nowMs: number): void => {
    for (const [reason, n] of suppressed) {
      if (n > 0) log.info({ event: 'drop-summary', verdict: 'drop', reason: REASON_NAMES[reason], suppressed: n, windowMs: DROP_WINDOW_MS }, 'drops not logged individually');
    }
    suppressed.clear();
    logged.clear();
    windowStart = nowMs;
  };
  return {
    connectionOpened: (r) => log.info({ event: 'connection-open', verdict: 'allow', ...r }, 'connection opened'),
    connectionClosed: (r) => log.info({ event: 'connection-close', ...r }, `connection closed (${r.reason})`),
    towerRewritten: (r) =>
      log.info({ event: 'rewrite', ...r, interfaceName: interfaceName(r.interface) ?? null }, `tower ${r.original} -> ${r.rewritten}`),
    mappingCreated: (r) => log.info({ event: 'pinhole-open', ...r }, 'pinhole opened'),
    mappingExpired: (r) => log.info({ event: 'pinhole-close', ...r }, 'pinhole expired'),
    connectionRefused: (r) =>
      log.warn({ event: 'refused', verdict: 'refuse', ...r, interfaceName: interfaceName(r.interface.split('@')[0] ?? '') ?? null }, r.detail),
    notification: (r) =>
      (r.action === 'rewritten' || r.action === 'pinhole' ? log.info.bind(log) : log.warn.bind(log))(
        { event: 'notification', ...r },
        r.action === 'rewritten' ? `new-mail callback rewritten to ${r.relay}` : r.detail,
      ),
    packetDropped: (reason, side, v, nowMs) => {
      if (nowMs - windowStart >= DROP_WINDOW_MS) flushSuppressed(nowMs);
      const n = logged.get(reason) ?? 0;
      if (n >= DROPS_PER_WINDOW) {
        suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1);
        return;
      }
      logged.set(reason, n + 1);
      log.info(
        {
          event: 'drop', verdict: 'drop', reason: REASON_NAMES[reason], side: SIDE_NAMES[side],
          src: v.ipVersion === 4 ? `${ipv4ToString(v.src4)}:${v.srcPort}` : null,
          dst: v.ipVersion === 4 ? `${ipv4ToString(v.dst4)}:${v.dstPort}` : null, proto: v.ipProto, flags: v.tcpFlags,
        },
        'packet dropped',
      );
    },
    flushSuppressed,
  };
}
