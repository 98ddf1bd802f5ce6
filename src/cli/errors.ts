/**
 * Exit codes (sysexits.h, as systemd and shell scripts expect) and the one-line error an
 * administrator can act on; a stack only with RPCGW_DEBUG=1.
 */
import { RulesError } from '../policy/errors.js';
import { RulesFileError } from './rules-file.js';
import { InstanceLockError } from '../ops/admin.js';

export const EXIT_OK = 0;
/** A failure not covered below (the daemon's start-up, a capture that cannot be read). */
export const EXIT_FAILURE = 1;
/** Wrong command line. */
export const EXIT_USAGE = 64;
/** The rules file or a capture is invalid; a reload was refused. */
export const EXIT_DATAERR = 65;
/** A file named on the command line cannot be read. */
export const EXIT_NOINPUT = 66;
/** No daemon answers on the admin socket. */
export const EXIT_UNAVAILABLE = 69;
/** Another rpcgw holds the instance lock (try again once it stopped). */
export const EXIT_TEMPFAIL = 75;
/** Not root. */
export const EXIT_NOPERM = 77;

/** An error that carries its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export function describeError(err: unknown): string {
  if (process.env.RPCGW_DEBUG === '1' && err instanceof Error && err.stack) return err.stack;
  if (err instanceof Error) {
    const format = (err as { format?: () => string }).format;
    if (typeof format === 'function') return format.call(err);
    return err.message;
  }
  return String(err);
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof RulesError) return EXIT_DATAERR;
  if (err instanceof RulesFileError) return EXIT_NOINPUT;
  if (err instanceof InstanceLockError) return EXIT_TEMPFAIL;
  // By name: importing the capture readers here would load them for every command.
  if (err instanceof Error && err.name === 'CaptureFileError') return /ENOENT|EACCES|EPERM|EISDIR|is a directory/.test(err.message) ? EXIT_NOINPUT : EXIT_DATAERR;
  return EXIT_FAILURE;
}
