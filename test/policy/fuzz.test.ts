import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadRules, RulesError } from '../../src/policy/load.js';
import { minimalDoc } from './helpers.js';

/** Loads `text`; any outcome is fine except an exception that is not a RulesError. */
function loadsOrRulesError(text: string): boolean {
  try {
    loadRules(text, 'fuzz.json');
    return true;
  } catch (e) {
    if (e instanceof RulesError) {
      expect(e.problems.length).toBeGreaterThan(0);
      for (const p of e.problems) {
        expect(p.file).toBe('fuzz.json');
        expect(typeof p.message).toBe('string');
        expect(p.message.length).toBeGreaterThan(0);
      }
      return false;
    }
    throw e;
  }
}

const FIELD_VALUES = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom('exchange', 'any', '0.0.0.0/0', '10.0.0.1/8', '40000-40999', '80-90', '135', '192.0.2.1',
    '198.51.100.1', 'deny', 'pinhole', '__proto__', 'constructor'),
  fc.integer({ min: -2, max: 70000 }),
);
const RULE_KEYS = ['name', 'server', 'externalAddress', 'interfaces', 'clients', 'mappedPorts', 'pinholeTimeoutSeconds',
  'idleTimeoutSeconds', 'maxMappingsPerClient', 'requireEncryption', 'lookup', 'notifications',
  'notificationsWhenEncrypted', 'notificationPorts', 'enabled', '__proto__', 'toString', 'serevr'];

describe('loadRules never throws anything but RulesError', () => {
  it('on random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      loadsOrRulesError(JSON.stringify(v) ?? 'null');
    }), { numRuns: 500 });
  });

  it('on random rules made of plausible and implausible field values', () => {
    const rule = fc.dictionary(fc.constantFrom(...RULE_KEYS), FIELD_VALUES, { maxKeys: 10 });
    fc.assert(fc.property(fc.array(rule, { maxLength: 4 }), fc.boolean(), (rules, keepBase) => {
      const doc = minimalDoc();
      doc.rules = keepBase ? [...doc.rules, ...rules] : rules;
      loadsOrRulesError(JSON.stringify(doc));
    }), { numRuns: 500 });
  });

  it('on the shipped-like document with one field replaced at random', () => {
    fc.assert(fc.property(fc.constantFrom(...RULE_KEYS), FIELD_VALUES, (key, value) => {
      const doc = minimalDoc();
      Object.defineProperty(doc.rules[0]!, key, { value, enumerable: true, writable: true, configurable: true });
      loadsOrRulesError(JSON.stringify(doc));
    }), { numRuns: 500 });
  });

  it('on random gateway sections', () => {
    const side = fc.dictionary(fc.constantFrom('interface', 'address', 'x'), FIELD_VALUES, { maxKeys: 3 });
    const limits = fc.dictionary(fc.constantFrom('maxMappings', 'maxFlows', 'maxMappingsPerClient',
      'maxHeldBytesPerFlow', 'maxHeldBytesTotal'), FIELD_VALUES, { maxKeys: 5 });
    const gateway = fc.record({
      external: fc.oneof(side, FIELD_VALUES), internal: fc.oneof(side, FIELD_VALUES), limits: fc.oneof(limits, FIELD_VALUES),
      metrics: fc.oneof(fc.record({ listen: FIELD_VALUES }), FIELD_VALUES), adminSocket: FIELD_VALUES,
      log: fc.oneof(fc.record({ level: FIELD_VALUES }), FIELD_VALUES),
    }, { requiredKeys: [] });
    fc.assert(fc.property(gateway, (g) => {
      const doc = minimalDoc();
      doc.gateway = g as Record<string, unknown>;
      loadsOrRulesError(JSON.stringify(doc));
    }), { numRuns: 500 });
  });

  it('on random text and random truncations or corruptions of a valid file', () => {
    const valid = JSON.stringify(minimalDoc(), null, 2);
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { loadsOrRulesError(s); }), { numRuns: 300 });
    fc.assert(fc.property(fc.nat(valid.length), fc.nat(valid.length), fc.string({ maxLength: 3 }), (cut, at, ins) => {
      loadsOrRulesError(valid.slice(0, cut));
      loadsOrRulesError(valid.slice(0, at) + ins + valid.slice(at + 1));
    }), { numRuns: 500 });
  });

  it('on deep nesting', () => {
    expect(loadsOrRulesError('['.repeat(100_000))).toBe(false);
    expect(loadsOrRulesError(`{"gateway": ${'{"a":'.repeat(60)}1${'}'.repeat(60)}, "rules": []}`)).toBe(false);
  });
});
