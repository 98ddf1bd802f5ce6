/**
 * The daemon's logger: pino JSON lines on stdout. Under systemd (JOURNAL_STREAM names our stdout)
 * each line starts with its syslog priority, `<4>{...}`: journald reads the prefix
 * (SyslogLevelPrefix=yes, its default) and strips it, so `journalctl -p warning -u rpcgw` shows
 * refusals and warnings and `journalctl -o cat` still prints plain JSON.
 */
import { fstatSync } from 'node:fs';
import pino from 'pino';

/** pino level number -> syslog priority (RFC 5424: 2 crit, 3 err, 4 warning, 6 info, 7 debug). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** True when `fd` is the stream journald connected us to (JOURNAL_STREAM is "DEV:INODE" of it). */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (js === undefined || js === '') return false;
  try {
    const st = fstatSync(fd);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

const LEVEL_AT = '{"level":'.length;

/** `<N>` for a pino line (which starts `{"level":NN,`). */
function prefixed(line: string): string {
  const level = Number(line.slice(LEVEL_AT, line.indexOf(',', LEVEL_AT)));
  return `<${syslogPriority(level)}>${line}`;
}

/** The daemon's logger on `fd` (1: stdout), syslog-prefixed when that is the journal. */
export function daemonLogger(level: string, fd = 1, env: NodeJS.ProcessEnv = process.env): pino.Logger {
  const dest = pino.destination({ dest: fd, sync: true });
  const journal = isJournalStream(fd, env);
  const stream = journal ? { write: (s: string) => dest.write(prefixed(s)) } : dest;
  return pino(
    {
      level,
      base: { service: 'rpcgw' },
      // The number for tools that compare levels, the name for people and for filters.
      formatters: { level: (label, number) => ({ level: number, levelName: label === 'warn' ? 'warning' : label }) },
    },
    stream,
  );
}
