/**
 * A strict JSON (RFC 8259) parser that remembers where each value is, with JSONC's comments
 * (`// ...` to the end of the line, `/* ... *\/`) allowed wherever whitespace is: administrators
 * annotate rules files. Everything else stays strict (no trailing commas, no single quotes).
 *
 * Why not JSON.parse: its syntax errors do not reliably give a line and column (Node 20 often
 * reports only a position, sometimes nothing), and it silently keeps the last of two equal keys,
 * which hides typos. This parser reports the exact line:column of a syntax error with an
 * explanation aimed at people who edit JSON by hand (comments, trailing commas, single quotes),
 * records the text offset of every value by JSON Pointer so later problems can be located, and
 * lists duplicate keys. Configuration only: it allocates freely and is never on the packet path.
 */

/** Deeper nesting than any rules file needs; bounds recursion on hostile input. */
export const JSON_MAX_DEPTH = 64;

export interface JsonDuplicate {
  /** JSON Pointer of the repeated property. */
  path: string;
  key: string;
  /** Text offset of the second occurrence's key. */
  offset: number;
}

export type JsonParseResult =
  | { ok: true; value: unknown; offsets: Map<string, number>; duplicates: JsonDuplicate[] }
  | { ok: false; offset: number; message: string };

/** 1-based line and column (in UTF-16 code units) of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** JSON Pointer (RFC 6901) segment escaping. */
export function pointerSegment(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

class SyntaxProblem {
  constructor(readonly offset: number, readonly message: string) {}
}

function describeChar(text: string, pos: number): string {
  if (pos >= text.length) return 'the end of the file';
  const c = text.charAt(pos);
  const code = c.charCodeAt(0);
  if (code < 0x20) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `'${c}'`;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

class Parser {
  pos = 0;
  readonly offsets = new Map<string, number>();
  readonly duplicates: JsonDuplicate[] = [];

  constructor(readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw new SyntaxProblem(at, message);
  }

  /** Explains the usual hand-editing mistakes when `expected` is not what follows. */
  unexpected(expected: string): never {
    const t = this.text;
    const c = t.charAt(this.pos);
    if (c === "'") this.fail(`expected ${expected}, found "'" (JSON strings use double quotes)`);
    return this.fail(`expected ${expected}, found ${describeChar(t, this.pos)}`);
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x2f && t.charCodeAt(this.pos + 1) === 0x2f) {
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl + 1;
        continue;
      }
      if (c === 0x2f && t.charCodeAt(this.pos + 1) === 0x2a) {
        const end = t.indexOf('*/', this.pos + 2);
        if (end < 0) this.fail("unterminated comment ('/*' without '*/')");
        this.pos = end + 2;
        continue;
      }
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  parseDocument(): unknown {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail('the file is empty (expected a JSON object)');
    const value = this.parseValue('', 0);
    this.skipSpace();
    if (this.pos < this.text.length) {
      if (this.text.charAt(this.pos) === '/') this.unexpected('the end of the file');
      this.fail(`expected the end of the file after the top-level value, found ${describeChar(this.text, this.pos)}`);
    }
    return value;
  }

  parseValue(path: string, depth: number): unknown {
    if (depth > JSON_MAX_DEPTH) this.fail(`values nested more than ${JSON_MAX_DEPTH} deep`);
    this.offsets.set(path, this.pos);
    const t = this.text;
    const c = t.charAt(this.pos);
    if (c === '{') return this.parseObject(path, depth);
    if (c === '[') return this.parseArray(path, depth);
    if (c === '"') return this.parseString();
    if (c === '-' || isDigit(t.charCodeAt(this.pos))) return this.parseNumber();
    if (t.startsWith('true', this.pos)) return this.literal(4, true);
    if (t.startsWith('false', this.pos)) return this.literal(5, false);
    if (t.startsWith('null', this.pos)) return this.literal(4, null);
    return this.unexpected('a value (object, array, string, number, true, false or null)');
  }

  literal<T>(len: number, value: T): T {
    this.pos += len;
    return value;
  }

  parseObject(path: string, depth: number): Record<string, unknown> {
    const t = this.text;
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.pos++; // '{'
    this.skipSpace();
    if (t.charAt(this.pos) === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      if (t.charAt(this.pos) !== '"') {
        if (t.charAt(this.pos) === '}') this.fail("trailing comma before '}' is not allowed in JSON");
        this.unexpected('a property name in double quotes');
      }
      const keyAt = this.pos;
      const key = this.parseString();
      const childPath = `${path}/${pointerSegment(key)}`;
      this.skipSpace();
      if (t.charAt(this.pos) !== ':') this.unexpected("':' after the property name");
      this.pos++;
      this.skipSpace();
      const duplicate = seen.has(key);
      // A repeated key's value is parsed under a path no lookup uses, so the offsets recorded
      // for the first occurrence (the one kept) stay right.
      const value = this.parseValue(duplicate ? `\u0000${childPath}` : childPath, depth + 1);
      if (duplicate) {
        this.duplicates.push({ path: childPath, key, offset: keyAt });
      } else {
        seen.add(key);
        // defineProperty, not assignment: a "__proto__" key must stay a plain property.
        Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
      }
      this.skipSpace();
      const sep = t.charAt(this.pos);
      if (sep === '}') {
        this.pos++;
        return obj;
      }
      if (sep !== ',') this.unexpected("',' or '}' after the property value");
      this.pos++;
      this.skipSpace();
    }
  }

  parseArray(path: string, depth: number): unknown[] {
    const t = this.text;
    const arr: unknown[] = [];
    this.pos++; // '['
    this.skipSpace();
    if (t.charAt(this.pos) === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      if (t.charAt(this.pos) === ']') this.fail("trailing comma before ']' is not allowed in JSON");
      arr.push(this.parseValue(`${path}/${arr.length}`, depth + 1));
      this.skipSpace();
      const sep = t.charAt(this.pos);
      if (sep === ']') {
        this.pos++;
        return arr;
      }
      if (sep !== ',') this.unexpected("',' or ']' after the list element");
      this.pos++;
      this.skipSpace();
    }
  }

  parseString(): string {
    const t = this.text;
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string (missing closing \'"\')', start);
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c === 0x0a || c === 0x0d) this.fail('unterminated string (missing closing \'"\' before the end of the line)', start);
      if (c < 0x20) this.fail(`${describeChar(t, this.pos)} inside a string (write it as an escape such as \\t)`);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(runStart, this.pos);
      out += this.parseEscape();
      runStart = this.pos;
    }
  }

  parseEscape(): string {
    const t = this.text;
    const at = this.pos;
    const e = t.charAt(this.pos + 1);
    this.pos += 2;
    switch (e) {
      case '"': return '"';
      case '\\': return '\\';
      case '/': return '/';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'u': {
        const hex = t.slice(this.pos, this.pos + 4);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('expected 4 hex digits after \\u', at);
        this.pos += 4;
        return String.fromCharCode(parseInt(hex, 16));
      }
      default:
        return this.fail(`invalid escape '\\${e}' in a string (JSON allows \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`, at);
    }
  }

  parseNumber(): number {
    const t = this.text;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(t.slice(this.pos, this.pos + 400));
    if (m === null) this.fail('invalid number (JSON numbers look like 12, -3, 0.5 or 1e6)');
    const s = m[0];
    const next = t.charCodeAt(this.pos + s.length);
    // "012", "1." and "0x10" are not JSON: say so rather than stopping at the first digit.
    if (isDigit(next) || next === 0x2e || next === 0x78 || next === 0x58) {
      this.fail('invalid number (JSON numbers have no leading zeros, no trailing \'.\' and no hex)');
    }
    this.pos += s.length;
    return Number(s);
  }
}

/** Parses `text` (a leading UTF-8 BOM is skipped); never throws. */
export function parseJsonLocated(text: string): JsonParseResult {
  const p = new Parser(text);
  if (text.charCodeAt(0) === 0xfeff) p.pos = 1;
  try {
    const value = p.parseDocument();
    return { ok: true, value, offsets: p.offsets, duplicates: p.duplicates };
  } catch (e) {
    if (e instanceof SyntaxProblem) return { ok: false, offset: e.offset, message: e.message };
    throw e;
  }
}
