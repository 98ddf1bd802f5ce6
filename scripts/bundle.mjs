// Run by `npm run build` after tsc and precompile-rules: writes dist/cli/rpcgw.cjs, the CLI
// (dist/cli/commands.js and every module it imports) as one CommonJS file, and rpcgw.cjs.cache,
// a V8 code cache of it seeded by replaying the README's sample capture. dist/cli/main.js (the
// bin) runs them; see src/cli/main.ts for when it does not.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = path.join(root, 'dist', 'cli');
const bundle = path.join(cliDir, 'rpcgw.cjs');
const cache = `${bundle}.cache`;

// Packages and Node built-ins stay outside the bundle (native addons load from node_modules), each
// behind a CommonJS wrapper the bundler initialises lazily: a hoisted `require('pino')` at the top
// would load every command's dependencies for `rpcgw replay`.
const lazyExternals = {
  name: 'lazy-externals',
  resolveId(id, importer) {
    if (importer === undefined || id.startsWith('.') || path.isAbsolute(id) || id.startsWith('\0')) return null;
    // The precompiled validator's helpers (a few lines each) are bundled: no node_modules lookup at start.
    if (id.startsWith('ajv/dist/runtime/')) return null;
    if (importer.startsWith('\0ext:')) return { id, external: true };
    return `\0ext:${id}`;
  },
  load(id) {
    return id.startsWith('\0ext:') ? { code: `module.exports = require(${JSON.stringify(id.slice(5))});`, moduleType: 'js' } : null;
  },
};

// The precompiled rules validator (150 KB of code) goes into the bundle and so into the code cache,
// instead of being compiled from dist/policy at every start; schema.js still uses it only when it
// was made from the rules/schema.json it reads.
const schemaModule = path.join(root, 'dist', 'policy', 'schema.js');
const inlineValidator = {
  name: 'inline-rules-validator',
  transform(code, id) {
    if (id !== schemaModule) return null;
    if (code.split('require(PRECOMPILED)').length !== 2) throw new Error(`bundle: ${id} no longer loads its validator with one require(PRECOMPILED)`);
    return { code: `import precompiledValidator from './rules-validator.cjs';\n${code.replace('require(PRECOMPILED)', 'precompiledValidator')}` };
  },
};

// The old cache stays until the new one replaces it (renamed into place): its header names the old
// bundle, so it is ignored meanwhile, and a CLI started during a build never finds none.
const build = await rolldown({
  input: path.join(cliDir, 'commands.js'), cwd: root, platform: 'node', plugins: [lazyExternals, inlineValidator], logLevel: 'warn',
});
const { output } = await build.generate({ format: 'cjs', codeSplitting: false });
await build.close();
const chunk = output.find((o) => o.type === 'chunk');
if (chunk === undefined || output.length !== 1) throw new Error(`bundle: expected one chunk, got ${output.map((o) => o.fileName).join(', ')}`);
// The launcher runs the text inside a function: no dynamic import() (vm.Script would refuse it).
if (/\bimport\(/.test(chunk.code.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''))) throw new Error('bundle: a dynamic import() is left in the bundle');
// ASCII only (the few other characters, in strings and comments, as \u escapes: same values), so
// the launcher decodes it as Latin-1, half the time of UTF-8. Only a template's .raw would differ.
if (chunk.code.includes('String.raw')) throw new Error('bundle: String.raw would see the \\u escapes');
const code = chunk.code.replace(/^#!.*\n/, '').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
// The id ties a code cache to this exact text (src/cli/main.ts compares it with the cache's header).
const id = createHash('sha256').update(code).digest('hex').slice(0, 32);
const text = `${code}\n//# rpcgw-bundle ${id}\n`;
writeFileSync(`${bundle}.tmp`, text);
renameSync(`${bundle}.tmp`, bundle);

// Seed the cache with a replay: most of the engine's functions are compiled into it.
const tmp = mkdtempSync(path.join(tmpdir(), 'rpcgw-bundle-'));
try {
  const run = spawnSync(process.execPath, [
    path.join(cliDir, 'main.js'), 'replay', path.join(root, 'samples', 'exchange-epm.pcap'),
    '--rules', path.join(root, 'rules', 'exchange.json'), '--out', path.join(tmp, 'out.pcapng'), '--report', path.join(tmp, 'report.jsonl'),
  ], { encoding: 'utf8', env: { ...process.env, RPCGW_WRITE_CODE_CACHE: cache } });
  const header = `rpcgw-code-cache ${id} ${text.length}\n`;
  const made = existsSync(cache) && readFileSync(cache).subarray(0, header.length).toString('latin1') === header;
  if (run.status !== 0 || !made) throw new Error(`bundle: the seeding replay failed to write the code cache (exit ${run.status}): ${run.stderr}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
