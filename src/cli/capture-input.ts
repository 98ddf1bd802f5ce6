/**
 * The capture argument of `rpcgw inspect`: a file, `-` for standard input, and gzip-compressed
 * either way (`capture.pcap.gz`, `zcat`-less pipelines). The capture readers read one plain
 * file, so a compressed or piped input is first written out, decompressed, to a private
 * temporary file that is removed afterwards.
 */
import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export interface CaptureInput {
  /** A path the capture readers can open. */
  path: string;
  /** The name to show in messages and summaries. */
  name: string;
  cleanup(): void;
}

function startsWithGzip(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false; // the capture reader reports it, with its own wording
  }
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Decompresses when the stream starts with the gzip magic, passes it through otherwise. */
function maybeGunzip(): Transform {
  let decided: Transform | null = null;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (decided === null) {
        decided = chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b ? createGunzip() : new PassThrough();
        decided.on('data', (d: Buffer) => this.push(d));
        decided.on('error', (e) => this.destroy(e));
      }
      if (decided.write(chunk)) cb();
      else decided.once('drain', () => cb());
    },
    flush(cb) {
      if (decided === null) return cb();
      decided.once('end', () => cb());
      decided.end();
    },
  });
  return t;
}

export async function openCaptureInput(arg: string, stdin: Readable = process.stdin): Promise<CaptureInput> {
  const fromStdin = arg === '-';
  if (!fromStdin && !startsWithGzip(arg)) return { path: arg, name: arg, cleanup: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-capture-'));
  const file = path.join(dir, 'capture');
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    await pipeline(fromStdin ? stdin : createReadStream(arg), maybeGunzip(), createWriteStream(file, { mode: 0o600 }));
  } catch (e) {
    cleanup();
    throw new Error(`${fromStdin ? 'standard input' : arg}: cannot decompress (${(e as Error).message})`);
  }
  return { path: file, name: fromStdin ? '-' : arg, cleanup };
}
