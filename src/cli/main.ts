#!/usr/bin/env node
/**
 * The `rpcgw` executable. Resolving, reading and compiling the ~90 modules of a command was most
 * of `rpcgw replay`'s start-up, so `npm run build` (scripts/bundle.mjs) also writes the whole CLI
 * (commands.ts and what it imports) as one CommonJS file, rpcgw.cjs, in which every module still
 * initialises only when its command first needs it, and a V8 code cache of it, rpcgw.cjs.cache
 * (vm.Script cachedData: Node 20 has no compile cache for ES modules).
 *
 * The bundle is used only when it is not older than the compiled commands.js (tsc run alone after
 * an edit means the modules are newer); the cache only when its header names this very bundle
 * (the id the build wrote at the bundle's end, and its length). V8 refuses a cache made by
 * another Node or with other flags, and one cut short; a refused cache costs time, never output.
 */
import { isAscii } from 'node:buffer';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const BUNDLE = fileURLToPath(new URL('./rpcgw.cjs', import.meta.url));
const CACHE = `${BUNDLE}.cache`;
const ID_MARK = '\n//# rpcgw-bundle ';

/** The bundle's text, or undefined when there is none or the compiled modules are newer. */
function bundleText(): string | undefined {
  try {
    if (statSync(BUNDLE).mtimeMs < statSync(fileURLToPath(new URL('./commands.js', import.meta.url))).mtimeMs) return undefined;
    const bytes = readFileSync(BUNDLE);
    // The build writes ASCII (scripts/bundle.mjs): Latin-1 decodes it unchanged, faster than UTF-8.
    return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  } catch {
    return undefined;
  }
}

/** The header a code cache of `text` starts with (one line). */
function cacheHeader(text: string): string {
  const at = text.lastIndexOf(ID_MARK);
  return `rpcgw-code-cache ${at < 0 ? '-' : text.slice(at + ID_MARK.length).trim()} ${text.length}\n`;
}

function cachedData(header: string): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(CACHE);
  } catch {
    return undefined;
  }
  return file.length > header.length && file.toString('latin1', 0, header.length) === header ? file.subarray(header.length) : undefined;
}

function runBundle(text: string): void {
  const header = cacheHeader(text);
  // Same wrapper as Node's own CommonJS loader, on the first line so line numbers hold.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${text}\n})`, {
    filename: BUNDLE,
    cachedData: cachedData(header),
  });
  const writeTo = process.env.RPCGW_WRITE_CODE_CACHE;
  if (writeTo !== undefined && writeTo !== '') {
    // The build's seeding run: cache what this run compiled, written whole or not at all.
    process.once('exit', () => {
      writeFileSync(`${writeTo}.tmp`, Buffer.concat([Buffer.from(header, 'latin1'), script.createCachedData()]));
      renameSync(`${writeTo}.tmp`, writeTo);
    });
  }
  const fn = script.runInThisContext() as (e: object, r: NodeRequire, m: object, f: string, d: string) => void;
  const mod = { exports: {} };
  fn.call(mod.exports, mod.exports, createRequire(BUNDLE), mod, BUNDLE, path.dirname(BUNDLE));
}

const text = bundleText();
if (text !== undefined) runBundle(text);
else await import('./commands.js');
