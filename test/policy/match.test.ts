import { describe, expect, it } from 'vitest';
import { parseUuid } from '../../src/dcerpc/uuid.js';
import type { CompiledRules } from '../../src/policy/compiled.js';
import { clientAllowed, interfaceAllowed, ruleForMappedPort, selectRule } from '../../src/policy/match.js';
import { loadDoc, minimalDoc, withRule } from './helpers.js';

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const ASYNC = '5261574a-4572-206e-b268-6b199213b4e4';
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
const SAMR = '12345778-1234-abcd-ef00-0123456789ac';

/** The UUID at offset 5 of a buffer pre-filled with 0xa5, as it would sit inside a bind PDU. */
function uuidAt5(text: string, littleEndian = true): Uint8Array {
  const buf = new Uint8Array(32).fill(0xa5);
  expect(parseUuid(text, buf, 5, littleEndian)).toBe(true);
  return buf;
}

function exchangeRule() {
  return loadDoc(minimalDoc()).rules.rules[0]!;
}

describe('interfaceAllowed', () => {
  const r = exchangeRule();

  it('allows EMSMDB at the registered version 0.81 and lower minors', () => {
    expect(interfaceAllowed(r, uuidAt5(EMSMDB), 5, true, 0, 81)).toBe(true);
    expect(interfaceAllowed(r, uuidAt5(EMSMDB), 5, true, 0, 0)).toBe(true);
  });

  it('refuses a higher minor or another major', () => {
    expect(interfaceAllowed(r, uuidAt5(EMSMDB), 5, true, 0, 82)).toBe(false);
    expect(interfaceAllowed(r, uuidAt5(EMSMDB), 5, true, 1, 0)).toBe(false);
    expect(interfaceAllowed(r, uuidAt5(NSPI), 5, true, 55, 0)).toBe(false);
    expect(interfaceAllowed(r, uuidAt5(NSPI), 5, true, 56, 0)).toBe(true);
    expect(interfaceAllowed(r, uuidAt5(ASYNC), 5, true, 0, 1)).toBe(true);
  });

  it('matches a big-endian (drep) UUID against the little-endian rule', () => {
    const be = uuidAt5(EMSMDB, false);
    // Big-endian wire form: Data1..3 in network order
    expect(Array.from(be.subarray(5, 13))).toEqual([0xa4, 0xf1, 0xdb, 0x00, 0xca, 0x47, 0x10, 0x67]);
    expect(interfaceAllowed(r, be, 5, false, 0, 81)).toBe(true);
    expect(interfaceAllowed(r, be, 5, true, 0, 81)).toBe(false);
  });

  it('refuses interfaces outside the rule, even the Exchange store-admin UUID one bit away', () => {
    expect(interfaceAllowed(r, uuidAt5(SAMR), 5, true, 1, 0)).toBe(false);
    expect(interfaceAllowed(r, uuidAt5('a4f1db00-ca47-1067-b31e-00dd010662da'), 5, true, 0, 81)).toBe(false);
  });

  it('an unversioned UUID entry allows every version; "any" allows everything', () => {
    const anyVersion = loadDoc(withRule({ interfaces: [SAMR] })).rules.rules[0]!;
    expect(interfaceAllowed(anyVersion, uuidAt5(SAMR), 5, true, 7, 9)).toBe(true);
    expect(interfaceAllowed(anyVersion, uuidAt5(EMSMDB), 5, true, 0, 81)).toBe(false);
    const any = loadDoc(withRule({ interfaces: ['any'] })).rules.rules[0]!;
    expect(interfaceAllowed(any, uuidAt5(SAMR), 5, true, 1, 0)).toBe(true);
  });

  it('a UUID@major.minor entry bounds the minor', () => {
    const v = loadDoc(withRule({ interfaces: [`${SAMR}@1.2`] })).rules.rules[0]!;
    expect(interfaceAllowed(v, uuidAt5(SAMR), 5, true, 1, 2)).toBe(true);
    expect(interfaceAllowed(v, uuidAt5(SAMR), 5, true, 1, 3)).toBe(false);
    expect(interfaceAllowed(v, uuidAt5(SAMR), 5, true, 2, 0)).toBe(false);
  });
});

/** Rules: 0 = 10.0.0.0/8 only, 1 = disabled catch-all, 2 = everyone, 3 = everyone on a second address. */
function ordered(): CompiledRules {
  const doc = minimalDoc();
  doc.rules = [
    { name: 'corp', server: '192.0.2.10', clients: ['10.0.0.0/8', '203.0.113.5'], interfaces: ['exchange'], mappedPorts: '40000-40999' },
    { name: 'off', server: '192.0.2.11', interfaces: ['any'], mappedPorts: '41000-41999', enabled: false },
    { name: 'world', server: '192.0.2.12', interfaces: ['nspi'], mappedPorts: '42000-42999' },
    { name: 'second', server: '192.0.2.13', externalAddress: '198.51.100.2', interfaces: ['any'], mappedPorts: '40000-40999' },
  ];
  return loadDoc(doc).rules;
}

describe('selectRule', () => {
  const rules = ordered();
  const EXT = 0xc6336401; // 198.51.100.1
  const EXT2 = 0xc6336402;

  it('takes the first enabled rule on that address whose clients contain the client', () => {
    expect(selectRule(rules, EXT, 0x0a010203)).toBe(0); // 10.1.2.3 -> corp
    expect(selectRule(rules, EXT, 0xcb007105)).toBe(0); // 203.0.113.5 (/32) -> corp
    expect(selectRule(rules, EXT, 0xcb007106)).toBe(2); // 203.0.113.6 -> world (skips disabled "off")
    expect(selectRule(rules, EXT2, 0x0a010203)).toBe(3);
  });

  it('returns -1 for an address no rule publishes', () => {
    expect(selectRule(rules, 0xc6336403, 0x0a010203)).toBe(-1);
  });

  it('accepts addresses passed as signed 32-bit numbers', () => {
    expect(selectRule(rules, EXT | 0, 0xcb007106 | 0)).toBe(2);
    expect(clientAllowed(rules.rules[0]!, 0xcb007105 | 0)).toBe(true);
  });

  it('clientAllowed follows the prefix boundaries', () => {
    const corp = rules.rules[0]!;
    expect(clientAllowed(corp, 0x0a000000)).toBe(true);
    expect(clientAllowed(corp, 0x0affffff)).toBe(true);
    expect(clientAllowed(corp, 0x0b000000)).toBe(false);
    expect(clientAllowed(corp, 0x09ffffff)).toBe(false);
  });
});

describe('ruleForMappedPort', () => {
  const rules = ordered();

  it('finds the enabled rule whose range holds the port on that address', () => {
    expect(ruleForMappedPort(rules, 0xc6336401, 40000)).toBe(0);
    expect(ruleForMappedPort(rules, 0xc6336401, 40999)).toBe(0);
    expect(ruleForMappedPort(rules, 0xc6336401, 42500)).toBe(2);
    expect(ruleForMappedPort(rules, 0xc6336402, 40500)).toBe(3);
  });

  it('returns -1 outside every range, for disabled rules and for other addresses', () => {
    expect(ruleForMappedPort(rules, 0xc6336401, 39999)).toBe(-1);
    expect(ruleForMappedPort(rules, 0xc6336401, 41500)).toBe(-1); // "off" is disabled
    expect(ruleForMappedPort(rules, 0xc6336401, 135)).toBe(-1);
    expect(ruleForMappedPort(rules, 0xc6336409, 40500)).toBe(-1);
  });
});
