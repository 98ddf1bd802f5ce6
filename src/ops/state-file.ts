/**
 * The daemon's state file: the engine snapshot written on stop, read once on start.
 *
 * - Written atomically: a temporary file in the same directory, fsync, rename over the target
 *   (a crash mid-write leaves the previous file or none, never half of one); mode 0600 (it names
 *   clients and servers).
 * - Read once: after a restore the file is renamed to `<path>.used`, so a later crash-restart
 *   does not replay state that is gone by then.
 * - Reading never throws: a missing file is `missing` (a normal first start), anything else
 *   that cannot be used is `invalid` with the reason (the caller logs a warning and starts empty),
 *   a file over readFileSync's 2 GiB limit (about 1.9 million connections) among them.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { decodeSnapshot, encodeSnapshot, type EngineSnapshot } from '../engine/snapshot.js';

/** Where the state file lives by default: beside the admin socket (/run/rpcgw/state.json). */
export function defaultStatePath(adminSocket: string): string {
  return path.join(path.dirname(adminSocket), 'state.json');
}

/** Writes the snapshot to `file` atomically; returns the bytes written. Throws on I/O errors. */
export function writeStateFile(file: string, snap: EngineSnapshot): number {
  const bytes = encodeSnapshot(snap);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  return bytes.length;
}

export type StateRead = { kind: 'missing' } | { kind: 'invalid'; reason: string } | { kind: 'ok'; snapshot: EngineSnapshot; bytes: number };

export function readStateFile(file: string): StateRead {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: `cannot read: ${e instanceof Error ? e.message : String(e)}` };
  }
  const d = decodeSnapshot(bytes);
  return d.ok ? { kind: 'ok', snapshot: d.snapshot, bytes: bytes.length } : { kind: 'invalid', reason: d.error };
}

/** Moves a read state file aside (`.used`, or `.bad` for one that could not be used); never throws. */
export function retireStateFile(file: string, suffix: '.used' | '.bad'): string | null {
  try {
    renameSync(file, file + suffix);
    return file + suffix;
  } catch {
    return null;
  }
}
