import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineColumn, parseJsonLocated } from '../../src/policy/json.js';

describe('parseJsonLocated', () => {
  it('parses what JSON.parse parses, to the same value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const text = JSON.stringify(v, null, 1);
      const r = parseJsonLocated(text);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value).toEqual(JSON.parse(text));
    }), { numRuns: 500 });
  });

  it('rejects what JSON.parse rejects', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      let native = true;
      try {
        JSON.parse(s);
      } catch {
        native = false;
      }
      const ours = parseJsonLocated(s.charCodeAt(0) === 0xfeff ? ` ${s}` : s).ok;
      // Ours additionally rejects nothing valid except a duplicate key, which it reports separately.
      expect(ours).toBe(native);
    }), { numRuns: 1000 });
  });

  it('records the offset of every value by JSON Pointer', () => {
    const text = '{"a": [10, {"b~/c": true}], "": null}';
    const r = parseJsonLocated(text);
    if (!r.ok) throw new Error(r.message);
    expect(r.offsets.get('')).toBe(0);
    expect(r.offsets.get('/a')).toBe(6);
    expect(r.offsets.get('/a/0')).toBe(7);
    expect(r.offsets.get('/a/1')).toBe(11);
    expect(r.offsets.get('/a/1/b~0~1c')).toBe(20);
    expect(r.offsets.get('/')).toBe(32);
  });

  it('keeps the first of duplicate keys, lists the duplicate and keeps "__proto__" as data', () => {
    const r = parseJsonLocated('{"k": 1, "k": {"x": 2}, "__proto__": {"polluted": true}}');
    if (!r.ok) throw new Error(r.message);
    const v = r.value as Record<string, unknown>;
    expect(v.k).toBe(1);
    expect(r.duplicates).toEqual([{ path: '/k', key: 'k', offset: 9 }]);
    expect(r.offsets.get('/k')).toBe(6);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['k', '__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes escapes', () => {
    const r = parseJsonLocated('"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"');
    expect(r.ok && r.value).toBe('a"\\/\b\f\n\r\t\u00e9\u{1f600}');
  });

  it('reports syntax errors at their offset', () => {
    expect(parseJsonLocated('[1 2]')).toEqual({ ok: false, offset: 3, message: "expected ',' or ']' after the list element, found '2'" });
    expect(parseJsonLocated('"a\tb"')).toMatchObject({ ok: false, offset: 2 });
    expect(parseJsonLocated('"\\x"')).toMatchObject({ ok: false, offset: 1 });
    expect(parseJsonLocated('tru')).toMatchObject({ ok: false, offset: 0 });
    expect(parseJsonLocated('-')).toMatchObject({ ok: false, offset: 0 });
    expect(parseJsonLocated('1.')).toMatchObject({ ok: false, offset: 0 });
  });
});

describe('lineColumn', () => {
  it('counts from 1 and restarts columns after each newline', () => {
    expect(lineColumn('ab\ncd\r\nef', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd\r\nef', 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn('ab\ncd\r\nef', 7)).toEqual({ line: 3, column: 1 });
    expect(lineColumn('ab', 2)).toEqual({ line: 1, column: 3 });
  });
});
