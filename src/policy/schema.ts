/**
 * Structural validation against rules/schema.json, the single source of truth for the file's
 * shape and static defaults. ajv reports every violation (allErrors); each is turned into a
 * located "expected ..., found ..." problem worded by the schema's `x-expected` annotations.
 *
 * The schema is read once, at first use, from rules/schema.json two levels above both src/policy/
 * and dist/policy/ (tsconfig's rootDir, src, does not allow importing it as a module).
 *
 * Compiling the schema with ajv took about a quarter of `rpcgw replay`'s start-up, so the build
 * writes the compiled validator as code (dist/policy/rules-validator.cjs, ajv standalone, same
 * options) with the schema text it was made from; it is used when that text is the schema read
 * here, else (tests run from src/, a schema edited after the build) the schema is compiled. The
 * text is compared whole (a hash of it in JS cost more start-up than the compare) and parsed
 * only when a problem is worded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { isObject, show } from './document.js';
import type { ProblemSink } from './document.js';
import { pointerSegment } from './json.js';

type SchemaNode = Record<string, unknown>;

// ajv is loaded only when the schema must be compiled (CommonJS: require keeps validation synchronous).
const require = createRequire(import.meta.url);
const SCHEMA_URL = new URL('../../rules/schema.json', import.meta.url);
// From dist/policy/ and from the CLI bundle in dist/cli/ alike (src/cli/main.ts).
const PRECOMPILED = '../policy/rules-validator.cjs';

let schemaTextCache: string | undefined;
let schemaCache: SchemaNode | undefined;
let validateCache: ValidateFunction | undefined;

function schemaText(): string {
  if (schemaTextCache === undefined) schemaTextCache = readFileSync(SCHEMA_URL, 'utf8');
  return schemaTextCache;
}

/** The parsed rules/schema.json. */
export function rulesSchema(): SchemaNode {
  if (schemaCache === undefined) schemaCache = JSON.parse(schemaText()) as SchemaNode;
  return schemaCache;
}

function newAjv(source: boolean): Ajv2020 {
  // useDefaults: the schema's `default`s are written into the document, so the compiled rules
  // and the printed source agree with what the schema documents.
  const { Ajv2020: AjvClass } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };
  const ajv = new AjvClass({ allErrors: true, verbose: true, useDefaults: true, strict: true, code: { source } });
  ajv.addKeyword('x-expected');
  return ajv;
}

function precompiled(): ValidateFunction | undefined {
  try {
    const m = require(PRECOMPILED) as ValidateFunction & { schemaText?: string };
    return m.schemaText === schemaText() ? m : undefined;
  } catch {
    return undefined; // not built (running from src/): compile instead
  }
}

let precompiledUsed = false;

function validator(): ValidateFunction {
  if (validateCache === undefined) {
    const pre = precompiled();
    precompiledUsed = pre !== undefined;
    validateCache = pre ?? newAjv(false).compile(rulesSchema());
  }
  return validateCache;
}

/** Whether validation runs the build's precompiled validator (false before the first use). */
export function usesPrecompiledValidator(): boolean {
  return precompiledUsed;
}

/** Writes the precompiled validator next to this module (the build runs it on dist/policy/schema.js). */
export function writePrecompiledValidator(): string {
  const standaloneCode = (require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js')).default;
  const ajv = newAjv(true);
  const code = standaloneCode(ajv, ajv.compile(rulesSchema()));
  const file = new URL(PRECOMPILED, import.meta.url);
  writeFileSync(file, `${code}\nmodule.exports.schemaText = ${JSON.stringify(schemaText())};\n`);
  return file.pathname;
}

/** Follows a local "$ref" ("#/$defs/ipv4") to its target, merged under the referring node. */
function resolve(node: unknown): SchemaNode | undefined {
  if (!isObject(node)) return undefined;
  const ref = node.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return node;
  let target: unknown = rulesSchema();
  for (const seg of ref.slice(2).split('/')) target = isObject(target) ? target[seg] : undefined;
  return isObject(target) ? { ...target, ...node } : node;
}

function expectedText(schema: unknown, fallback: string): string {
  const s = resolve(schema);
  const x = s?.['x-expected'];
  return typeof x === 'string' ? x : fallback;
}

/** Edit distance, for "did you mean" on unknown property names. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

function unknownPropertyMessage(name: string, parentSchema: unknown): string {
  const props = resolve(parentSchema)?.properties;
  const known = isObject(props) ? Object.keys(props).filter((k) => k !== '$schema' && k !== 'comment') : [];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === name.toLowerCase() ? 0 : distance(k, name);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const base = `unknown property ${JSON.stringify(name)}`;
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4))) {
    return `${base} (did you mean ${JSON.stringify(best)}?)`;
  }
  return known.length > 0 ? `${base} (expected one of ${known.map((k) => JSON.stringify(k)).join(', ')})` : base;
}

function reportAjvError(e: ErrorObject, sink: ProblemSink): void {
  switch (e.keyword) {
    case 'if':
      return; // "must match then/else": the failing "required" below it says what is missing
    case 'additionalProperties': {
      const name = String((e.params as { additionalProperty?: unknown }).additionalProperty);
      sink.error(`${e.instancePath}/${pointerSegment(name)}`, unknownPropertyMessage(name, e.parentSchema));
      return;
    }
    case 'required': {
      const name = String((e.params as { missingProperty?: unknown }).missingProperty);
      const props = resolve(e.parentSchema)?.properties;
      const propSchema = isObject(props) ? props[name] : undefined;
      sink.error(`${e.instancePath}/${pointerSegment(name)}`,
        `expected ${expectedText(propSchema, 'a value')}, found nothing (${JSON.stringify(name)} is required)`);
      return;
    }
    default:
      sink.error(e.instancePath, `expected ${expectedText(e.parentSchema, e.message ?? 'something else')}, found ${show(e.data)}`);
  }
}

/**
 * Validates `doc` in place (filling schema defaults) and reports every structural problem to
 * `sink`. Returns true when the document has the schema's shape.
 */
export function checkSchema(doc: unknown, sink: ProblemSink): boolean {
  const validate = validator();
  if (validate(doc)) return true;
  for (const e of validate.errors ?? []) reportAjvError(e, sink);
  return false;
}
