/** tshark, the independent dissector, as a test oracle. Tests that need it skip visibly without it. */
import { spawnSync } from 'node:child_process';

export const haveTshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
if (!haveTshark) console.warn('[rpcgw tests] tshark not found: tests that use it as an oracle are SKIPPED');

/** Runs tshark and returns stdout lines; throws with tshark's stderr if it fails. */
export function tshark(args: string[]): string[] {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** Frames whose IPv4 header or TCP/UDP checksum tshark finds bad. */
export function badChecksumFrames(file: string): string[] {
  return tshark([
    '-r', file,
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-Y', 'ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad"',
    '-T', 'fields', '-e', 'frame.number',
  ]);
}
