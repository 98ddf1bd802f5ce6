import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  LOOKUP_ALLOW, LOOKUP_DENY, LOOKUP_PUBLISHED, NOTIFY_DROP, NOTIFY_PINHOLE,
} from '../../src/policy/compiled.js';
import { loadRules } from '../../src/policy/load.js';
import { projectRoot } from '../helpers/shared.js';
import { loadDoc, minimalDoc, withRule } from './helpers.js';

function shipped(name: string): string {
  return readFileSync(path.join(projectRoot, 'rules', name), 'utf8');
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

describe('rules/exchange.json', () => {
  const { rules, warnings } = loadRules(shipped('exchange.json'), 'exchange.json');
  const r = rules.rules[0]!;

  it('compiles the gateway section to numbers', () => {
    expect(warnings).toEqual([]);
    expect(rules.gateway).toEqual({
      externalInterface: 'gw-ext',
      externalIp: 0xc6336401, // 198.51.100.1
      internalInterface: 'gw-int',
      internalIp: 0xc0000201, // 192.0.2.1
      limits: {
        maxMappings: 1048576, maxFlows: 1048576, maxMappingsPerClient: 64,
        maxHeldBytesPerFlow: 65536, maxHeldBytesTotal: 67108864,
      },
      metricsListen: '127.0.0.1:9135',
      adminSocket: '/run/rpcgw/admin.sock',
      notifyRelayLo: 47000,
      notifyRelayHi: 47999,
      natPortLo: 10000,
      natPortHi: 32767,
      kernelNatPortLo: 61000,
      kernelNatPortHi: 65535,
      logLevel: 'info',
    });
  });

  it('compiles the exchange rule', () => {
    expect(rules.rules).toHaveLength(1);
    expect(r.index).toBe(0);
    expect(r.name).toBe('exchange');
    expect(r.enabled).toBe(true);
    expect(r.serverIp).toBe(0xc000020a); // 192.0.2.10
    expect(r.externalIp).toBe(0xc6336401);
    expect(Array.from(r.clientNet)).toEqual([0]);
    expect(Array.from(r.clientMask)).toEqual([0]);
    expect(r.anyInterface).toBe(false);
    expect([r.portLo, r.portHi]).toEqual([40000, 40999]);
    expect(r.pinholeTimeoutMs).toBe(60_000);
    expect(r.idleTimeoutMs).toBe(900_000);
    expect(r.maxMappingsPerClient).toBe(32);
    expect(r.requireEncryption).toBe(false);
    expect(r.lookup).toBe(LOOKUP_DENY);
    expect(r.notifications).toBe(true);
    expect(r.notificationsWhenEncrypted).toBe(NOTIFY_DROP);
    expect([r.notifyPortLo, r.notifyPortHi]).toEqual([1024, 65535]);
  });

  it('expands "exchange" to EMSMDB 0.81, AsyncEMSMDB 0.1, NSPI 56.0, RFR 1.0 in wire (LE) byte order', () => {
    expect(r.ifUuid.length).toBe(64);
    // Data1 LE | Data2 LE | Data3 LE | Data4 as is (protocol-notes D)
    expect(hex(r.ifUuid.subarray(0, 16))).toBe('00 db f1 a4 47 ca 67 10 b3 1f 00 dd 01 06 62 da');
    expect(hex(r.ifUuid.subarray(16, 32))).toBe('4a 57 61 52 72 45 6e 20 b2 68 6b 19 92 13 b4 e4');
    expect(hex(r.ifUuid.subarray(32, 48))).toBe('18 5a cc f5 64 42 1a 10 8c 59 08 00 2b 2f 84 26');
    expect(hex(r.ifUuid.subarray(48, 64))).toBe('e0 f5 44 15 3c 61 d1 11 93 df 00 c0 4f d7 bd 09');
    expect(Array.from(r.ifMajor)).toEqual([0, 0, 56, 1]);
    expect(Array.from(r.ifMinor)).toEqual([81, 1, 0, 0]);
    expect(r.ifLabel).toEqual([
      'EMSMDB a4f1db00-ca47-1067-b31f-00dd010662da@0.81',
      'AsyncEMSMDB 5261574a-4572-206e-b268-6b199213b4e4@0.1',
      'NSPI f5cc5a18-4264-101a-8c59-08002b2f8426@56.0',
      'RFR 1544f5e0-613c-11d1-93df-00c04fd7bd09@1.0',
    ]);
  });
});

describe('rules/lab.json', () => {
  const { rules, warnings } = loadRules(shipped('lab.json'), 'lab.json');
  const r = rules.rules[0]!;

  it('compiles the lab rule', () => {
    expect(warnings).toEqual([]);
    expect(rules.gateway.externalInterface).toBe('gw-ext');
    expect(rules.gateway.internalInterface).toBe('gw-int');
    expect(rules.gateway.externalIp).toBe(0xc6336401);
    expect(rules.gateway.internalIp).toBe(0xc0000201);
    expect(r.serverIp).toBe(0xc000020a);
    expect(r.externalIp).toBe(0xc6336401); // defaulted from gateway.external.address
    expect(Array.from(r.clientNet)).toEqual([0xc6336400]); // 198.51.100.0
    expect(Array.from(r.clientMask)).toEqual([0xffffff00]); // /24
    expect(r.anyInterface).toBe(true);
    expect(r.ifUuid.length).toBe(0);
    expect([r.portLo, r.portHi]).toEqual([40000, 40999]);
  });
});

describe('rules/schema.json', () => {
  const schema = JSON.parse(shipped('schema.json')) as Record<string, unknown>;

  /** Every property schema under `properties`, with its JSON path in the schema. */
  function properties(node: unknown, at: string, out: Array<[string, Record<string, unknown>]>): void {
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    const props = n.properties as Record<string, Record<string, unknown>> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      out.push([`${at}/properties/${k}`, v]);
      properties(v, `${at}/properties/${k}`, out);
    }
    for (const [k, v] of Object.entries((n.$defs as Record<string, unknown> | undefined) ?? {})) properties(v, `${at}/$defs/${k}`, out);
  }

  it('describes every property', () => {
    const all: Array<[string, Record<string, unknown>]> = [];
    properties(schema, '#', all);
    expect(all.length).toBeGreaterThan(35);
    const undocumented = all.filter(([, s]) => typeof s.description !== 'string' || s.description.length < 10).map(([p]) => p);
    expect(undocumented).toEqual([]);
  });

  it('every property is explained in docs/rules.md', () => {
    const docs = readFileSync(path.join(projectRoot, 'docs', 'rules.md'), 'utf8');
    const all: Array<[string, Record<string, unknown>]> = [];
    properties(schema, '#', all);
    const names = new Set(all.map(([p]) => p.slice(p.lastIndexOf('/') + 1)));
    // As a code span of its own or as part of a dotted one: `name`, `limits.maxFlows`, `log.level`.
    const missing = [...names].filter((n) => !new RegExp(`[\`.]${n.replace('$', '\\$')}[\`.]`).test(docs));
    expect(missing).toEqual([]);
  });
});

describe('defaults', () => {
  const { rules } = loadDoc(minimalDoc());
  const r = rules.rules[0]!;

  it('fills every rule default', () => {
    expect(r.externalIp).toBe(0xc6336401); // gateway.external.address
    expect(Array.from(r.clientNet)).toEqual([0]); // ["0.0.0.0/0"]
    expect(Array.from(r.clientMask)).toEqual([0]);
    expect(r.pinholeTimeoutMs).toBe(60_000);
    expect(r.idleTimeoutMs).toBe(900_000);
    expect(r.maxMappingsPerClient).toBe(64); // gateway.limits.maxMappingsPerClient
    expect(r.requireEncryption).toBe(false);
    expect(r.lookup).toBe(LOOKUP_DENY);
    expect(r.notifications).toBe(false);
    expect(r.notificationsWhenEncrypted).toBe(NOTIFY_DROP);
    expect([r.notifyPortLo, r.notifyPortHi]).toEqual([1024, 65535]);
    expect(r.enabled).toBe(true);
  });

  it('fills every gateway default', () => {
    expect(rules.gateway.limits).toEqual({
      maxMappings: 1048576, maxFlows: 1048576, maxMappingsPerClient: 64,
      maxHeldBytesPerFlow: 65536, maxHeldBytesTotal: 67108864,
    });
    expect(rules.gateway.metricsListen).toBeNull();
    expect(rules.gateway.adminSocket).toBe('/run/rpcgw/admin.sock');
    expect(rules.gateway.logLevel).toBe('info');
  });

  it('the rule per-client default follows the gateway limit', () => {
    const doc = minimalDoc();
    doc.gateway.limits = { maxMappingsPerClient: 7 };
    const { rules: c } = loadDoc(doc);
    expect(c.gateway.limits.maxMappingsPerClient).toBe(7);
    expect(c.gateway.limits.maxFlows).toBe(1048576); // siblings still defaulted
    expect(c.rules[0]!.maxMappingsPerClient).toBe(7);
  });

  it('puts every effective value in source', () => {
    const src = rules.source as { gateway: Record<string, unknown>; rules: Array<Record<string, unknown>> };
    expect(src.rules[0]).toEqual({
      name: 'exchange', server: '192.0.2.10', interfaces: ['exchange'], mappedPorts: '40000-40999',
      externalAddress: '198.51.100.1', clients: ['0.0.0.0/0'], pinholeTimeoutSeconds: 60,
      idleTimeoutSeconds: 900, maxMappingsPerClient: 64, requireEncryption: false, mappedInspection: 'full', lookup: 'deny',
      notifications: false, notificationsWhenEncrypted: 'drop', notificationPorts: '1024-65535', enabled: true,
    });
    expect(src.gateway.adminSocket).toBe('/run/rpcgw/admin.sock');
    expect(src.gateway.log).toEqual({ level: 'info' });
  });

  it('defaults are not shared between loads', () => {
    const a = loadDoc(minimalDoc()).rules.source as { rules: Array<{ clients: string[] }> };
    a.rules[0]!.clients.push('10.0.0.0/8');
    const b = loadDoc(minimalDoc()).rules;
    expect(Array.from(b.rules[0]!.clientNet)).toEqual([0]);
  });
});

describe('field compilation', () => {
  it('maps the enums and booleans', () => {
    const { rules } = loadDoc(withRule({
      lookup: 'allow', notificationsWhenEncrypted: 'pinhole', notifications: true, requireEncryption: true, enabled: false,
    }));
    const r = rules.rules[0]!;
    expect(r.lookup).toBe(LOOKUP_ALLOW);
    expect(r.notificationsWhenEncrypted).toBe(NOTIFY_PINHOLE);
    expect(r.requireEncryption).toBe(true);
    expect(r.enabled).toBe(false);
    expect(loadDoc(withRule({ lookup: 'published' })).rules.rules[0]!.lookup).toBe(LOOKUP_PUBLISHED);
  });

  it('compiles clients: CIDRs, bare addresses as /32', () => {
    const r = loadDoc(withRule({ clients: ['10.0.0.0/8', '203.0.113.7', '172.16.0.0/12'] })).rules.rules[0]!;
    expect(Array.from(r.clientNet)).toEqual([0x0a000000, 0xcb007107, 0xac100000]);
    expect(Array.from(r.clientMask)).toEqual([0xff000000, 0xffffffff, 0xfff00000]);
  });

  it('compiles a single mapped port and notification port', () => {
    const r = loadDoc(withRule({ mappedPorts: '6001', notificationPorts: '50000' })).rules.rules[0]!;
    expect([r.portLo, r.portHi, r.notifyPortLo, r.notifyPortHi]).toEqual([6001, 6001, 50000, 50000]);
  });

  it('compiles UUID entries with and without a version, and names known ones', () => {
    const r = loadDoc(withRule({
      interfaces: ['12345778-1234-ABCD-EF00-0123456789AC@1.0', '01234567-89ab-cdef-0123-456789abcdef', 'nspi'],
    })).rules.rules[0]!;
    expect(Array.from(r.ifMajor)).toEqual([1, -1, 56]);
    expect(Array.from(r.ifMinor)).toEqual([0, -1, 0]);
    expect(hex(r.ifUuid.subarray(0, 16))).toBe('78 57 34 12 34 12 cd ab ef 00 01 23 45 67 89 ac');
    expect(hex(r.ifUuid.subarray(16, 32))).toBe('67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef');
    expect(r.ifLabel).toEqual([
      'samr 12345778-1234-abcd-ef00-0123456789ac@1.0',
      '01234567-89ab-cdef-0123-456789abcdef@any',
      'NSPI f5cc5a18-4264-101a-8c59-08002b2f8426@56.0',
    ]);
  });

  it('drops an entry listed twice (set and explicit UUID)', () => {
    const r = loadDoc(withRule({ interfaces: ['exchange', 'a4f1db00-ca47-1067-b31f-00dd010662da@0.81'] })).rules.rules[0]!;
    expect(r.ifLabel).toHaveLength(4);
  });

  it('compiles several rules with their indexes and a second external address', () => {
    const doc = minimalDoc();
    doc.rules.push({
      name: 'other', server: '192.0.2.20', externalAddress: '198.51.100.2', interfaces: ['any'],
      mappedPorts: '40000-40999',
    });
    const { rules } = loadDoc(doc);
    expect(rules.rules.map((r) => [r.index, r.name, r.externalIp, r.serverIp])).toEqual([
      [0, 'exchange', 0xc6336401, 0xc000020a],
      [1, 'other', 0xc6336402, 0xc0000214],
    ]);
  });

  it('accepts a UTF-8 BOM, "$schema" and "comment"', () => {
    const doc = { $schema: './schema.json', comment: 'hi', ...minimalDoc() };
    doc.rules[0]!.comment = 'rule note';
    const { rules } = loadRules(`\ufeff${JSON.stringify(doc)}`, 'r.json');
    expect(rules.rules[0]!.name).toBe('exchange');
  });
});

describe('warnings', () => {
  it('warns when the idle timeout is below the AsyncEMSMDB wait', () => {
    const { warnings } = loadDoc(withRule({ idleTimeoutSeconds: 300 }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ file: 'rules.json', path: '/rules/0/idleTimeoutSeconds', rule: 'exchange' });
    expect(warnings[0]!.message).toContain('AsyncEMSMDB');
    expect(warnings[0]!.message).toContain('360');
  });

  it('does not warn about the idle timeout for a rule that cannot carry AsyncEMSMDB', () => {
    expect(loadDoc(withRule({ idleTimeoutSeconds: 300, interfaces: ['nspi'] })).warnings).toEqual([]);
    expect(loadDoc(withRule({ idleTimeoutSeconds: 360 })).warnings).toEqual([]);
  });

  it('warns about a rule an earlier rule always wins against', () => {
    const doc = minimalDoc();
    doc.rules.push({ name: 'late', server: '192.0.2.20', clients: ['10.1.0.0/16'], interfaces: ['any'], mappedPorts: '41000-41999' });
    const { warnings } = loadDoc(doc);
    expect(warnings.map((w) => w.path)).toEqual(['/rules/1/clients']);
    expect(warnings[0]!.message).toContain('never selected');
  });

  it('warns about a per-client limit above the gateway one, "any" with others, encryption with notifications', () => {
    const { warnings } = loadDoc(withRule({
      maxMappingsPerClient: 100, interfaces: ['any', 'nspi'], requireEncryption: true, notifications: true,
    }));
    expect(warnings.map((w) => w.path).sort()).toEqual([
      '/rules/0/interfaces', '/rules/0/maxMappingsPerClient', '/rules/0/notifications',
    ]);
  });

  it('warns when no rule is enabled', () => {
    const { warnings } = loadDoc(withRule({ enabled: false }));
    expect(warnings.map((w) => [w.path, w.message])).toEqual([['/rules', 'no rule is enabled: the gateway publishes nothing']]);
  });
});
