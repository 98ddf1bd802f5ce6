/**
 * One daemon per admin socket (by default one per host): a pid file next to the socket, created
 * exclusively. A pid file whose process is gone is stale and taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export class InstanceLockError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie or a recycled pid of another program does not hold the lock.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('rpcgw') || cmd.includes('main.js');
  } catch {
    return false;
  }
}

/** Takes the lock; returns its release function. */
export function acquireInstanceLock(lockPath: string): () => void {
  mkdirSync(path.dirname(lockPath), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new InstanceLockError(`${lockPath}: ${(e as Error).message}`);
      const pid = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new InstanceLockError(`another rpcgw (pid ${pid}) is already running with ${lockPath}; stop it first (systemctl stop rpcgw, or kill ${pid})`);
      }
      unlinkSync(lockPath); // stale
    }
  }
  throw new InstanceLockError(`${lockPath}: could not take the lock`);
}
