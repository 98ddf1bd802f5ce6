import { describe, expect, it } from 'vitest';
import { formatProblem, loadRules, RulesError } from '../../src/policy/load.js';
import type { RuleProblem } from '../../src/policy/load.js';
import { minimalDoc, problemsOf, problemsOfText, withRule } from './helpers.js';

/** The single problem of a document, asserting there is exactly one. */
function onlyProblem(doc: unknown): RuleProblem {
  const p = problemsOf(doc);
  expect(p.map((x) => `${x.path}: ${x.message}`)).toHaveLength(1);
  return p[0]!;
}

const PORTS = 'expected "LO-HI" with 1024 <= LO <= HI <= 65535';

describe('RulesError', () => {
  it('formats one line per problem with file, path, rule name and expected/found', () => {
    let err: unknown;
    try {
      loadRules(JSON.stringify(withRule({ mappedPorts: '80-90' })), 'rules.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RulesError);
    expect(err).toBeInstanceOf(Error);
    const e = err as RulesError;
    const column = e.problems[0]!.column!;
    expect(e.format()).toBe(
      `rules.json:1:${column}: /rules/0/mappedPorts (rule "exchange"): expected "LO-HI" with 1024 <= LO <= HI <= 65535, found "80-90"`);
    expect(e.message).toBe(e.format());
    expect(e.problems).toEqual([{
      file: 'rules.json', path: '/rules/0/mappedPorts', rule: 'exchange', line: 1, column: expect.any(Number) as number,
      message: 'expected "LO-HI" with 1024 <= LO <= HI <= 65535, found "80-90"',
    }]);
  });

  it('formats problems outside rules without a rule name, and whole-text problems without a path', () => {
    expect(formatProblem({ file: 'a.json', path: '/gateway/log/level', message: 'm' })).toBe('a.json: /gateway/log/level: m');
    expect(formatProblem({ file: 'a.json', path: '/gateway/log/level', message: 'm', line: 12, column: 7 })).toBe('a.json:12:7: /gateway/log/level: m');
    expect(formatProblem({ file: 'a.json', path: '', message: 'invalid JSON at line 1, column 2: x' }))
      .toBe('a.json: invalid JSON at line 1, column 2: x');
  });

  it('says how many more problems there are in its message', () => {
    try {
      loadRules(JSON.stringify(withRule({ mappedPorts: '80', pinholeTimeoutSeconds: 0 })), 'r.json');
    } catch (e) {
      expect((e as RulesError).message).toMatch(/\(and 1 more\)$/);
    }
  });
});

describe('invalid JSON', () => {
  it('gives line and column of a missing comma', () => {
    const text = '{\n  "gateway": {}\n  "rules": []\n}\n';
    const p = problemsOfText(text);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ file: 'rules.json', path: '', line: 3, column: 3 });
    expect(p[0]!.message).toBe("invalid JSON at line 3, column 3: expected ',' or '}' after the property value, found '\"'");
  });

  it('explains comments, trailing commas, single quotes and an empty file', () => {
    // JSONC: comments are whitespace; an unterminated block comment is located.
    expect(problemsOfText('{\n  // note\n  "a": 1 /* x */\n}').some((p) => p.message.startsWith('invalid JSON'))).toBe(false);
    expect(problemsOfText('{\n  /* note\n  "a": 1\n}')[0]!.message).toBe("invalid JSON at line 2, column 3: unterminated comment ('/*' without '*/')");
    expect(problemsOfText('{"a": [1, 2,]}')[0]!.message).toBe("invalid JSON at line 1, column 13: trailing comma before ']' is not allowed in JSON");
    expect(problemsOfText('{"a": 1,\n}')[0]!.message).toBe("invalid JSON at line 2, column 1: trailing comma before '}' is not allowed in JSON");
    expect(problemsOfText("{'a': 1}")[0]!.message).toMatch(/^invalid JSON at line 1, column 2: expected a property name in double quotes, found "'" \(JSON strings use double quotes\)/);
    expect(problemsOfText('  \n')[0]!.message).toBe('invalid JSON at line 2, column 1: the file is empty (expected a JSON object)');
  });

  it('reports an unterminated string where it starts, and truncated input at its end', () => {
    expect(problemsOfText('{\n "a": "abc\n')[0]).toMatchObject({
      line: 2, column: 7, message: 'invalid JSON at line 2, column 7: unterminated string (missing closing \'"\' before the end of the line)',
    });
    expect(problemsOfText('{"a": ')[0]!.message).toBe(
      'invalid JSON at line 1, column 7: expected a value (object, array, string, number, true, false or null), found the end of the file');
  });

  it('reports text after the document and bad numbers', () => {
    expect(problemsOfText('{} {}')[0]!.message).toMatch(/^invalid JSON at line 1, column 4: expected the end of the file/);
    expect(problemsOfText('{"a": 012}')[0]!.message).toMatch(/^invalid JSON at line 1, column 7: invalid number/);
  });

  it('reports a duplicate property at the second occurrence', () => {
    const text = '{\n  "gateway": {\n    "external": {"interface": "gw-ext", "address": "198.51.100.1"},\n' +
      '    "internal": {"interface": "gw-int", "address": "192.0.2.1"}\n  },\n' +
      '  "rules": [{"name": "a", "server": "192.0.2.10", "interfaces": ["any"], "mappedPorts": "40000", "mappedPorts": "41000"}]\n}';
    const p = problemsOfText(text);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: '/rules/0/mappedPorts', rule: 'a', line: 6 });
    expect(p[0]!.message).toMatch(/^duplicate property "mappedPorts"/);
    expect(p[0]!.column).toBe(text.split('\n')[5]!.lastIndexOf('"mappedPorts"') + 1);
  });
});

describe('structure (schema) errors', () => {
  it('rejects unknown properties anywhere, suggesting the intended name', () => {
    expect(onlyProblem(withRule({ mapedPorts: '40000' }))).toMatchObject({
      path: '/rules/0/mapedPorts', rule: 'exchange', message: 'unknown property "mapedPorts" (did you mean "mappedPorts"?)',
    });
    const doc = minimalDoc();
    doc.gateway.limits = { maxflows: 10 };
    expect(onlyProblem(doc)).toMatchObject({ path: '/gateway/limits/maxflows', message: 'unknown property "maxflows" (did you mean "maxFlows"?)' });
    const top = { ...minimalDoc(), rule: [] };
    expect(onlyProblem(top)).toMatchObject({ path: '/rule', message: 'unknown property "rule" (did you mean "rules"?)' });
    const far = withRule({ frobnicate: true });
    expect(onlyProblem(far).message).toMatch(/^unknown property "frobnicate" \(expected one of "name", "server", /);
  });

  it('requires the mandatory fields, located at the missing property', () => {
    expect(onlyProblem(withRule({ server: undefined }))).toMatchObject({
      path: '/rules/0/server', rule: 'exchange',
      message: 'expected an IPv4 address in dotted-quad form (e.g. "192.0.2.10", no leading zeros), found nothing ("server" is required)',
    });
    const doc = minimalDoc();
    delete (doc.gateway.internal as Record<string, unknown>).interface;
    expect(onlyProblem(doc).path).toBe('/gateway/internal/interface');
  });

  it('requires at least one rule', () => {
    const doc = { ...minimalDoc(), rules: [] };
    expect(onlyProblem(doc)).toMatchObject({ path: '/rules', message: 'expected a list of at least one rule, found []' });
    expect(onlyProblem({ gateway: minimalDoc().gateway })).toMatchObject({
      path: '/rules', message: 'expected a list of at least one rule, found nothing ("rules" is required)',
    });
  });

  it('rejects a top level that is not an object', () => {
    expect(onlyProblem([])).toMatchObject({ path: '', message: 'expected an object with "gateway" and "rules" at the top level, found []' });
  });

  it('checks interface names (IFNAMSIZ)', () => {
    for (const bad of ['', 'a/b', 'eth 0', 'a:1', 'sixteen-chars-xx', '..']) {
      const doc = minimalDoc();
      (doc.gateway.external as Record<string, unknown>).interface = bad;
      const p = onlyProblem(doc);
      expect(p.path).toBe('/gateway/external/interface');
      expect(p.message).toMatch(/^expected a Linux interface name \(1-15 printable ASCII characters, no '\/', ':' or space\), found /);
    }
    const doc = minimalDoc();
    (doc.gateway.external as Record<string, unknown>).interface = 'fifteen-chars-x';
    expect(() => loadRules(JSON.stringify(doc), 'r.json')).not.toThrow();
  });

  it('checks addresses', () => {
    for (const bad of ['192.0.2', '192.0.2.256', '010.0.0.1', '192.0.2.1 ', '::1']) {
      expect(onlyProblem(withRule({ server: bad }))).toMatchObject({
        path: '/rules/0/server',
        message: `expected an IPv4 address in dotted-quad form (e.g. "192.0.2.10", no leading zeros), found ${JSON.stringify(bad)}`,
      });
    }
    expect(onlyProblem(withRule({ externalAddress: 3 })).path).toBe('/rules/0/externalAddress');
  });

  it('checks the rule name pattern', () => {
    expect(onlyProblem(withRule({ name: 'has space' }))).toMatchObject({
      path: '/rules/0/name', rule: 'has space', message: 'expected a name of 1-64 characters from A-Z a-z 0-9 _ . -, found "has space"',
    });
    expect(onlyProblem(withRule({ name: 'x'.repeat(65) })).path).toBe('/rules/0/name');
  });

  it('checks interfaces entries and the list', () => {
    expect(onlyProblem(withRule({ interfaces: [] }))).toMatchObject({
      path: '/rules/0/interfaces', message: 'expected a non-empty list of interface sets or UUIDs, found []',
    });
    expect(onlyProblem(withRule({ interfaces: ['exchange', 'Exchange'] }))).toMatchObject({ path: '/rules/0/interfaces/1' });
    expect(onlyProblem(withRule({ interfaces: ['a4f1db00-ca47-1067-b31f-00dd010662da@0'] })).path).toBe('/rules/0/interfaces/0');
    expect(onlyProblem(withRule({ interfaces: ['a4f1db00-ca47-1067-b31f-00dd010662da@70000.0'] })).message)
      .toMatch(/versions 0\.\.65535\), found "a4f1db00-ca47-1067-b31f-00dd010662da@70000.0"$/);
  });

  it('checks numeric ranges and enum values', () => {
    expect(onlyProblem(withRule({ pinholeTimeoutSeconds: 0 }))).toMatchObject({
      path: '/rules/0/pinholeTimeoutSeconds', message: 'expected an integer 1..86400, found 0',
    });
    expect(onlyProblem(withRule({ idleTimeoutSeconds: 604801 })).message).toBe('expected an integer 1..604800, found 604801');
    expect(onlyProblem(withRule({ idleTimeoutSeconds: 1.5 })).message).toBe('expected an integer 1..604800, found 1.5');
    expect(onlyProblem(withRule({ lookup: 'Deny' }))).toMatchObject({
      path: '/rules/0/lookup', message: 'expected one of "deny", "published", "allow", found "Deny"',
    });
    expect(onlyProblem(withRule({ notificationsWhenEncrypted: 'open' })).message).toBe('expected one of "drop", "pinhole", found "open"');
    expect(onlyProblem(withRule({ enabled: 'yes' })).message).toBe('expected true or false, found "yes"');
  });

  it('checks gateway fields', () => {
    const doc = minimalDoc();
    doc.gateway.log = { level: 'verbose' };
    doc.gateway.adminSocket = 'admin.sock';
    doc.gateway.metrics = { listen: 'localhost:9135' };
    expect(problemsOf(doc).map((p) => p.path)).toEqual(['/gateway/log/level', '/gateway/adminSocket', '/gateway/metrics/listen']);
  });
});

describe('semantic errors', () => {
  it('mappedPorts outside 1024-65535 or reversed', () => {
    for (const bad of ['80-90', '1023-2000', '40000-65536', '41000-40000', '0', '99999', '40000-', ' 40000']) {
      const p = onlyProblem(withRule({ mappedPorts: bad }));
      expect(p.path).toBe('/rules/0/mappedPorts');
      expect(p.message).toContain(`${PORTS}, found ${JSON.stringify(bad)}`);
    }
    expect(onlyProblem(withRule({ mappedPorts: '41000-40000' })).message).toContain('(LO is above HI)');
    expect(onlyProblem(withRule({ mappedPorts: 40000 })).message).toBe(`${PORTS}, found 40000`);
  });

  it('mappedPorts containing 135', () => {
    expect(onlyProblem(withRule({ mappedPorts: '100-2000' })).message)
      .toBe(`${PORTS}, found "100-2000" (the range contains 135, the endpoint mapper's own port)`);
  });

  it('notificationPorts like mappedPorts', () => {
    expect(onlyProblem(withRule({ notificationPorts: '53' }))).toMatchObject({
      path: '/rules/0/notificationPorts', message: `${PORTS}, found "53"`,
    });
  });

  it('clients with host bits set, with the network meant', () => {
    expect(onlyProblem(withRule({ clients: ['192.0.2.0/24', '10.0.0.1/8'] }))).toMatchObject({
      path: '/rules/0/clients/1', rule: 'exchange',
      message: 'expected a network address with the host bits zero, found "10.0.0.1/8" (did you mean "10.0.0.0/8"?)',
    });
    expect(onlyProblem(withRule({ clients: ['10.0.0.0/33'] })).message).toMatch(/^expected an IPv4 CIDR/);
    expect(onlyProblem(withRule({ clients: [] })).path).toBe('/rules/0/clients');
  });

  it('duplicate rule names', () => {
    const doc = minimalDoc();
    doc.rules.push({ name: 'exchange', server: '192.0.2.11', interfaces: ['any'], mappedPorts: '41000-41999' });
    expect(onlyProblem(doc)).toMatchObject({
      path: '/rules/1/name', rule: 'exchange', message: 'expected a name no other rule uses, found "exchange" (also the name of /rules/0)',
    });
  });

  it('overlapping mappedPorts of enabled rules on the same externalAddress', () => {
    const doc = minimalDoc();
    doc.rules.push({ name: 'b', server: '192.0.2.11', interfaces: ['any'], mappedPorts: '40999-41999' });
    expect(onlyProblem(doc)).toMatchObject({
      path: '/rules/1/mappedPorts', rule: 'b',
      message: 'expected a range that does not overlap "40000-40999" of rule "exchange" (/rules/0) on externalAddress 198.51.100.1, found "40999-41999"',
    });
  });

  it('allows the same range on another externalAddress or when one rule is disabled', () => {
    const other = minimalDoc();
    other.rules.push({ name: 'b', server: '192.0.2.11', externalAddress: '198.51.100.2', interfaces: ['any'], mappedPorts: '40000-40999' });
    expect(() => loadRules(JSON.stringify(other), 'r.json')).not.toThrow();
    const disabled = minimalDoc();
    disabled.rules.push({ name: 'b', server: '192.0.2.11', interfaces: ['any'], mappedPorts: '40000-40999', enabled: false });
    expect(() => loadRules(JSON.stringify(disabled), 'r.json')).not.toThrow();
  });

  it('externalAddress equal to the internal address', () => {
    expect(onlyProblem(withRule({ externalAddress: '192.0.2.1' }))).toMatchObject({
      path: '/rules/0/externalAddress',
      message: 'expected a public address clients connect to, found "192.0.2.1" (that is gateway.internal.address)',
    });
  });

  it('server equal to a gateway address', () => {
    expect(onlyProblem(withRule({ server: '192.0.2.1' }))).toMatchObject({
      path: '/rules/0/server',
      message: 'expected the published server\'s own address, found "192.0.2.1" (that is gateway.internal.address, the gateway itself)',
    });
    expect(onlyProblem(withRule({ server: '198.51.100.1' })).message).toContain('(that is gateway.external.address, the gateway itself)');
    expect(onlyProblem(withRule({ server: '198.51.100.7', externalAddress: '198.51.100.7' })).message)
      .toContain("(that is this rule's externalAddress, the gateway itself)");
  });

  it('gateway sides that collide', () => {
    const doc = minimalDoc();
    doc.gateway.internal = { interface: 'gw-ext', address: '198.51.100.1' };
    doc.rules[0]!.server = '192.0.2.10';
    expect(problemsOf(doc).map((p) => [p.path, p.message])).toEqual([
      ['/gateway/internal/interface', 'expected an interface different from gateway.external.interface, found "gw-ext" (the gateway tells the sides apart by interface)'],
      ['/gateway/internal/address', 'expected an address different from gateway.external.address, found "198.51.100.1"'],
    ]);
  });

  it('held-bytes limits that contradict each other, metrics port 0', () => {
    const doc = minimalDoc();
    doc.gateway.limits = { maxHeldBytesPerFlow: 65536, maxHeldBytesTotal: 4096 };
    doc.gateway.metrics = { listen: '127.0.0.1:0' };
    expect(problemsOf(doc).map((p) => [p.path, p.message])).toEqual([
      ['/gateway/limits/maxHeldBytesTotal', 'expected at least maxHeldBytesPerFlow (65536), found 4096'],
      ['/gateway/metrics/listen', 'expected "ADDRESS:PORT" with an IPv4 address and 1 <= PORT <= 65535, found "127.0.0.1:0"'],
    ]);
  });
});

describe('collecting problems', () => {
  it('reports every problem of a file in one load, in file order, each located', () => {
    const doc = minimalDoc();
    (doc.gateway.external as Record<string, unknown>).interface = 'gw/ext';
    doc.rules = [
      { name: 'a', server: '192.0.2.1', interfaces: ['exchange', 'bogus'], mappedPorts: '80-90', clients: ['10.0.0.1/8'], serevr: 1 },
      { name: 'a', server: '192.0.2.10', interfaces: [], mappedPorts: '41000-41999', lookup: 'Deny' },
      5 as unknown as Record<string, unknown>,
      { name: 'c', server: '192.0.2.10', interfaces: ['any'], mappedPorts: '41500', pinholeTimeoutSeconds: 0 },
    ];
    const problems = problemsOf(doc);
    expect(problems.map((p) => [p.path, p.rule])).toEqual([
      ['/gateway/external/interface', undefined],
      ['/rules/0/server', 'a'],
      ['/rules/0/interfaces/1', 'a'],
      ['/rules/0/mappedPorts', 'a'],
      ['/rules/0/clients/0', 'a'],
      ['/rules/0/serevr', 'a'],
      ['/rules/1/name', 'a'],
      ['/rules/1/interfaces', 'a'],
      ['/rules/1/lookup', 'a'],
      ['/rules/2', undefined],
      ['/rules/3/mappedPorts', 'c'],
      ['/rules/3/pinholeTimeoutSeconds', 'c'],
    ]);
    // Every problem carries the file and a line that points into the pretty-printed text.
    for (const p of problems) {
      expect(p.file).toBe('rules.json');
      expect(p.line).toBeGreaterThan(1);
    }
  });

  it('the line and column point at the offending value', () => {
    const text = [
      '{',
      '  "gateway": {',
      '    "external": { "interface": "gw-ext", "address": "198.51.100.1" },',
      '    "internal": { "interface": "gw-int", "address": "192.0.2.1" }',
      '  },',
      '  "rules": [',
      '    { "name": "x", "server": "192.0.2.10", "interfaces": ["any"],',
      '      "mappedPorts": "80-90" }',
      '  ]',
      '}',
    ].join('\n');
    expect(problemsOfText(text)[0]).toMatchObject({ path: '/rules/0/mappedPorts', line: 8, column: 22 });
  });
});
