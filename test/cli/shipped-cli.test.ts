/**
 * The shipped `rpcgw` (package.json's bin: dist/cli/main.js running the bundle dist/cli/rpcgw.cjs
 * and its V8 code cache, all made by `npm run build`) behaves exactly like the compiled modules it
 * was bundled from (dist/cli/commands.js run directly): same stdout, stderr, exit code and output
 * files. A missing, cut-short, garbage or foreign cache, an edited bundle, and a bundle older than
 * the compiled modules change nothing but speed; and `rpcgw replay` loads no package beyond what
 * the bundle holds (start-up: cap, pino, prom-client and the rest are for other commands).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/shared.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-shipped-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  files: Record<string, string>;
}

const sample = path.join(projectRoot, 'samples', 'exchange-epm.pcap');
const exchangeRules = path.join(projectRoot, 'rules', 'exchange.json');
const badRules = path.join(work, 'bad.json');
const httpsRules = path.join(work, 'https.json');
const outDir = path.join(work, 'out');

/** Commands covering the grammar, rules loading (valid and not), replay and inspect. */
const COMMANDS: { name: string; args: string[]; files?: string[] }[] = [
  { name: 'help', args: ['--help'] },
  { name: 'command help', args: ['replay', '--help'] },
  { name: 'version', args: ['--version'] },
  { name: 'usage error', args: ['replay'] },
  { name: 'unknown command', args: ['nonsense'] },
  { name: 'check', args: ['check', '--rules', exchangeRules] },
  { name: 'check --json, invalid', args: ['check', '--json', '--rules', badRules] },
  { name: 'check, invalid', args: ['check', '--rules', badRules] },
  { name: 'schema', args: ['schema'] },
  { name: 'inspect', args: ['inspect', '--json', sample] },
  {
    name: 'replay', args: ['replay', sample, '--rules', exchangeRules, '--out', path.join(outDir, 'o.pcapng'), '--report', path.join(outDir, 'r.jsonl')],
    files: ['o.pcapng', 'r.jsonl'],
  },
  { name: 'check, HTTPS sections (their files missing)', args: ['check', '--rules', httpsRules] },
  { name: 'check --json, HTTPS sections', args: ['check', '--json', '--rules', httpsRules] },
  { name: 'replay, missing capture', args: ['replay', path.join(work, 'none.pcap'), '--rules', exchangeRules, '--out', path.join(outDir, 'x.pcap')] },
];

/** A command's index in COMMANDS, by name. */
function at(name: string): number {
  const i = COMMANDS.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`no command ${name}`);
  return i;
}

function run(entry: string, args: string[], files: string[] = [], nodeArgs: string[] = []): Run {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir);
  const r = spawnSync(process.execPath, [...nodeArgs, entry, ...args], { encoding: 'utf8', cwd: work, timeout: 60_000, maxBuffer: 64 << 20, env: { ...process.env, RPCGW_WRITE_CODE_CACHE: '' } });
  const out: Record<string, string> = {};
  for (const f of files) out[f] = existsSync(path.join(outDir, f)) ? readFileSync(path.join(outDir, f)).toString('base64') : '(missing)';
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, files: out };
}

function runAll(entry: string): Run[] {
  return COMMANDS.map((c) => run(entry, c.args, c.files));
}

const builtMain = path.join(projectRoot, 'dist', 'cli', 'main.js');
const builtBundle = path.join(projectRoot, 'dist', 'cli', 'rpcgw.cjs');
let modules: Run[];

beforeAll(() => {
  if (!existsSync(builtBundle)) throw new Error(`${builtBundle} is missing: run \`npm run build\` first (npm test does)`);
  const https = path.join(work, 'no-such-dir');
  writeFileSync(httpsRules, JSON.stringify({
    gateway: { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
    rules: [{ name: 'exchange', server: '192.0.2.10', interfaces: ['exchange'], mappedPorts: '40000-40999' }],
    httpsListeners: [{ name: 'mail', address: '198.51.100.1', certificates: [{ cert: `${https}/mail.pem`, key: `${https}/mail.key` }], users: `${https}/htpasswd` }],
    webPublishing: [{ name: 'owa', listener: 'mail', paths: ['/owa/'], backend: 'https://192.0.2.10', backendCa: `${https}/ca.pem` }],
  }));
  writeFileSync(badRules, '{ "gateway": { "external": { "interface": "e", "address": "198.51.100.1" } }, "rules": [ { "name": 7 } ] }\n');
  modules = runAll(path.join(projectRoot, 'dist', 'cli', 'commands.js'));
}, 120_000);

describe('the shipped rpcgw', () => {
  it('is what package.json installs and the README runs', () => {
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.rpcgw).toBe('dist/cli/main.js');
    expect(readFileSync(path.join(projectRoot, 'README.md'), 'utf8')).toContain('node dist/cli/main.js');
    expect(readFileSync(builtMain, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('answers every command exactly as the compiled modules do', { timeout: 120_000 }, () => {
    const shipped = runAll(builtMain);
    COMMANDS.forEach((c, i) => expect(shipped[i], c.name).toEqual(modules[i]));
    // The commands ran for real: help, a valid and an invalid rules file, a replay with output.
    expect(modules[at('help')]!.stdout).toContain('replay');
    expect(modules[at('check')]!.code).toBe(0);
    expect(modules[at('check --json, invalid')]!.code).toBe(65);
    expect(modules[at('check, HTTPS sections (their files missing)')]!.stdout).toContain('cannot read users file');
    expect(modules[at('replay')]!.code).toBe(0);
    expect(modules[at('replay')]!.files['r.jsonl']).not.toBe('(missing)');
  });

  it('has a code cache this Node accepts for this bundle', () => {
    const probe = spawnSync(process.execPath, ['-e', `
      const fs = require('node:fs'), vm = require('node:vm');
      const text = fs.readFileSync(${JSON.stringify(builtBundle)}, 'utf8');
      const file = fs.readFileSync(${JSON.stringify(`${builtBundle}.cache`)});
      const nl = file.indexOf(10);
      const s = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + text + '\\n})', { filename: ${JSON.stringify(builtBundle)}, cachedData: file.subarray(nl + 1) });
      console.log(file.toString('latin1', 0, nl).split(' ')[2] === String(text.length), s.cachedDataRejected);
    `], { encoding: 'utf8' });
    expect(probe.stdout.trim()).toBe('true false');
  });

  // What each command may load: nothing from node_modules; none of the daemon's built-ins (check
  // still reaches child_process through the guard's module, see docs/performance.md).
  it.each([
    ['replay', ['http', 'https', 'tls', 'child_process', 'crypto', 'zlib', 'dgram']],
    ['check', ['http', 'https', 'tls', 'crypto', 'zlib']],
  ])('%s loads no package from node_modules and none of the daemon\'s built-ins', (name, forbidden) => {
    const hook = path.join(work, 'loaded.cjs');
    const report = path.join(work, 'loaded.json');
    writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify({
      cjs: Object.keys(require.cache), builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)) })));\n`);
    const r = run(builtMain, COMMANDS[at(name)]!.args, COMMANDS[at(name)]!.files, ['-r', hook]);
    expect(r.code, r.stderr).toBe(0);
    const loaded = JSON.parse(readFileSync(report, 'utf8')) as { cjs: string[]; builtins: string[] };
    expect(loaded.cjs.filter((f) => f.includes(`${path.sep}node_modules${path.sep}`))).toEqual([]);
    for (const b of forbidden) expect(loaded.builtins).not.toContain(b);
  });
});

describe('an installed copy with a damaged or stale bundle', () => {
  const copy = path.join(work, 'install');
  const main = path.join(copy, 'dist', 'cli', 'main.js');
  const bundle = path.join(copy, 'dist', 'cli', 'rpcgw.cjs');
  const cache = `${bundle}.cache`;
  const goodCache = (): Buffer => readFileSync(`${builtBundle}.cache`);

  beforeAll(() => {
    for (const d of ['dist', 'rules']) cpSync(path.join(projectRoot, d), path.join(copy, d), { recursive: true, preserveTimestamps: true });
    cpSync(path.join(projectRoot, 'package.json'), path.join(copy, 'package.json'));
    symlinkSync(path.join(projectRoot, 'node_modules'), path.join(copy, 'node_modules'));
  });

  // A few commands per variant (the full set runs above): help, rules loading, replay.
  const same = (): void => {
    for (const i of [at('help'), at('check --json, invalid'), at('replay')]) expect(run(main, COMMANDS[i]!.args, COMMANDS[i]!.files), COMMANDS[i]!.name).toEqual(modules[i]);
  };

  it('a cache that is missing, cut short, garbage, or for another text changes nothing', { timeout: 300_000 }, () => {
    rmSync(cache, { force: true });
    same();
    writeFileSync(cache, goodCache());
    truncateSync(cache, Math.floor(goodCache().length / 2));
    same();
    const header = goodCache().subarray(0, goodCache().indexOf(10) + 1);
    writeFileSync(cache, Buffer.concat([header, Buffer.alloc(goodCache().length - header.length, 0x5a)]));
    same();
    // The bundle edited by hand after the build, with UTF-8 text where the build wrote ASCII
    // escapes (replay's summary line prints U+2192): the cache's header no longer names it, and
    // the text is decoded as UTF-8.
    writeFileSync(cache, goodCache());
    const edited = readFileSync(builtBundle, 'utf8').replaceAll('\\u2192', '\u2192');
    expect(edited).not.toBe(readFileSync(builtBundle, 'utf8'));
    writeFileSync(bundle, edited);
    same();
  });

  it('a bundle older than the compiled modules is not run; a current one is', { timeout: 120_000 }, () => {
    writeFileSync(bundle, 'process.stdout.write("from the bundle\\n");\n');
    rmSync(cache, { force: true });
    const commands = path.join(copy, 'dist', 'cli', 'commands.js');
    const t = statSync(commands).mtime.getTime() / 1000;
    utimesSync(bundle, t - 60, t - 60);
    same();
    utimesSync(bundle, t + 60, t + 60);
    expect(run(main, ['--version']).stdout).toBe('from the bundle\n');
  });
});
