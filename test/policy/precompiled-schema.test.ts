/**
 * The build's precompiled rules validator (dist/policy/rules-validator.cjs) must judge every
 * document exactly as compiling rules/schema.json does: same problems, same defaults filled in.
 * Documents: the shipped rules files and every single-value mutation of them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as compiled from '../../src/policy/schema.js';
import { projectRoot } from '../helpers/shared.js';

type Doc = unknown;
type SchemaModule = typeof compiled;

function judge(m: SchemaModule, doc: Doc): { ok: boolean; problems: string[]; filled: Doc } {
  const copy = structuredClone(doc);
  const problems: string[] = [];
  const ok = m.checkSchema(copy, { error: (p: string, msg: string) => problems.push(`${p} ${msg}`), warn: () => {} } as never);
  return { ok, problems, filled: copy };
}

/** Every document made by replacing one value (or deleting one key) of `doc`. */
function* mutations(doc: Doc): Generator<Doc> {
  const replacements: unknown[] = [null, 'x', -1, 1.5, 70000, true, {}, [], ['x'], { bogus: 1 }];
  function* walk(node: unknown, set: (v: unknown) => Doc, del: (() => Doc) | null): Generator<Doc> {
    for (const r of replacements) yield set(r);
    if (del) yield del();
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        yield* walk(node[i], (v) => set(node.map((x, j) => (j === i ? v : x))), () => set(node.filter((_, j) => j !== i)));
      }
    } else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      yield set({ ...o, bogusKey: 1 });
      for (const k of Object.keys(o)) {
        yield* walk(o[k], (v) => set({ ...o, [k]: v }), () => {
          const { [k]: _, ...rest } = o;
          return set(rest);
        });
      }
    }
  }
  yield* walk(doc, (v) => v, null);
}

describe('precompiled rules validator', () => {
  it('is what the built CLI uses, and judges like the compiled schema on every mutation of the shipped rules', async () => {
    const built = (await import(path.join(projectRoot, 'dist', 'policy', 'schema.js'))) as SchemaModule;
    const files = ['rules/exchange.json', 'rules/lab.json', 'bench/rules.json'];
    let n = 0;
    let invalid = 0;
    for (const f of files) {
      const doc = JSON.parse(readFileSync(path.join(projectRoot, f), 'utf8')) as Doc;
      for (const m of mutations(doc)) {
        const a = judge(built, m);
        const b = judge(compiled, m);
        expect(a, `${f}: ${JSON.stringify(m)}`).toEqual(b);
        n++;
        if (!b.ok) invalid++;
      }
    }
    expect(built.usesPrecompiledValidator(), 'dist/policy/rules-validator.cjs missing or older than rules/schema.json: run `npm run build`').toBe(true);
    expect(compiled.usesPrecompiledValidator()).toBe(false);
    expect(invalid).toBeGreaterThan(n / 2);
  });
});
