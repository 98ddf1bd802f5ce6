import { describe, expect, it } from 'vitest';
import { INTERFACE_SETS, interfaceName, KNOWN_INTERFACES } from '../../src/policy/interfaces.js';

describe('interfaces', () => {
  it('names well-known UUIDs in any case', () => {
    expect(interfaceName('a4f1db00-ca47-1067-b31f-00dd010662da')).toBe('EMSMDB');
    expect(interfaceName('5261574A-4572-206E-B268-6B199213B4E4')).toBe('AsyncEMSMDB');
    expect(interfaceName('f5cc5a18-4264-101a-8c59-08002b2f8426')).toBe('NSPI');
    expect(interfaceName('1544f5e0-613c-11d1-93df-00c04fd7bd09')).toBe('RFR');
    expect(interfaceName('e1af8308-5d1f-11c9-91a4-08002b14a0fa')).toBe('EPM');
    expect(interfaceName('367abb81-9844-35f1-ad32-98f038001003')).toBe('svcctl');
    expect(interfaceName('00000000-0000-0000-0000-000000000000')).toBeUndefined();
  });

  it('lists each UUID once, in lower case', () => {
    const uuids = KNOWN_INTERFACES.map((k) => k.uuid);
    expect(new Set(uuids).size).toBe(uuids.length);
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('the exchange set is EMSMDB 0.81, AsyncEMSMDB 0.1, NSPI 56.0, RFR 1.0', () => {
    expect(INTERFACE_SETS.get('exchange')!.map((k) => `${k.name}@${k.major}.${k.minor}`))
      .toEqual(['EMSMDB@0.81', 'AsyncEMSMDB@0.1', 'NSPI@56.0', 'RFR@1.0']);
  });
});
