/**
 * The daemon's capture handles across starts, reloads that change the capture filters, a start
 * that fails because an interface went away, and stops — with the garbage collector running in
 * between, as it does in a daemon that lives for months. cap frees a closed (or failed) handle's
 * libuv poll handle while the event loop still links it; without the daemon keeping every handle,
 * a process doing this crashes (SIGSEGV or a libuv assertion) a few rounds in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLabNet, destroyLabNet, destroyLabNetSync, findTool, nsArgv, type LabNet } from '../../src/lab/netns.js';
import { minimalDoc } from '../policy/helpers.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const skip = skipLive('capture handles');

describe.skipIf(skip)('capture handles of the live dataplane', { timeout: LIVE_TIMEOUT_MS }, () => {
  let net: LabNet | null = null;
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-caphandles-'));
  const onExit = (): void => {
    if (net !== null) destroyLabNetSync(net);
  };

  beforeAll(async () => {
    process.once('exit', onExit);
    net = await createLabNet();
  });

  afterAll(async () => {
    process.removeListener('exit', onExit);
    if (net !== null) await destroyLabNet(net).catch(() => destroyLabNetSync(net!));
    rmSync(dir, { recursive: true, force: true });
  });

  it('survive starts, filter-changing reloads, a start on a vanished interface and stops, with GCs between', () => {
    const a = minimalDoc();
    const b = { ...minimalDoc(), rules: [{ name: 'other', server: '192.0.2.20', externalAddress: '198.51.100.2', interfaces: ['exchange'], mappedPorts: '41000-41999' }] };
    const gone = { ...minimalDoc(), gateway: { ...minimalDoc().gateway, internal: { interface: 'gw-gone', address: '192.0.2.1' } } };
    const script = `
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
const root = ${JSON.stringify(repoRoot)};
const { loadRules } = await import(root + '/dist/policy/load.js');
const { LiveDataplane, LiveError } = await import(root + '/dist/dataplane/live.js');
const docs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const [a, b, gone] = docs.map((d, i) => loadRules(JSON.stringify(d), 'rules' + i + '.json').rules);
const events = new Proxy({}, { get: () => () => {} });
// New libuv handles are linked into the loop next to whatever the closed ones left there.
const churnHandles = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const s = net.connect(srv.address().port, '127.0.0.1', () => { s.destroy(); srv.close(resolve); });
  });
});
let failedStarts = 0;
for (let round = 0; round < 20; round++) {
  const dp = new LiveDataplane(a, events);
  dp.start();
  dp.reload(b);
  dp.reload(a);
  dp.stop();
  execFileSync(${JSON.stringify(findTool('ip') ?? 'ip')}, ['link', 'add', 'gw-gone', 'type', 'veth', 'peer', 'name', 'gw-gone-p']);
  const late = new LiveDataplane(gone, events);
  execFileSync(${JSON.stringify(findTool('ip') ?? 'ip')}, ['link', 'del', 'gw-gone']);
  try { late.start(); } catch (e) { if (e instanceof LiveError) failedStarts++; else throw e; } finally { late.stop(); }
  globalThis.gc();
  await churnHandles();
}
console.log(JSON.stringify({ rounds: 20, failedStarts }));
`;
    writeFileSync(path.join(dir, 'rules.json'), JSON.stringify([a, b, gone]));
    writeFileSync(path.join(dir, 'handles.mjs'), script);
    const argv = nsArgv(net!.gateway, [process.execPath, '--expose-gc', path.join(dir, 'handles.mjs'), path.join(dir, 'rules.json')]);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 90_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    // Every start on the vanished interface was refused with a LiveError, none crashed.
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ rounds: 20, failedStarts: 20 });
  });
});
