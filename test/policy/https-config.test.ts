import { describe, expect, it } from 'vitest';
import { findValidPort } from '../../src/policy/https.js';
import { interfaceAllowed } from '../../src/policy/match.js';
import { parseUuid } from '../../src/dcerpc/uuid.js';
import { loadDoc, minimalDoc, problemsOf } from './helpers.js';

function httpsDoc(): ReturnType<typeof minimalDoc> & Record<string, unknown> {
  return {
    ...minimalDoc(),
    httpsListeners: [{
      name: 'mail', address: '198.51.100.1',
      certificates: [{ cert: '/etc/rpcgw/mail.pem', key: '/etc/rpcgw/mail.key' }],
      users: '/etc/rpcgw/htpasswd',
    }],
    rpcOverHttp: [{
      name: 'outlook-anywhere', listener: 'mail',
      validPorts: [
        { remoteNames: ['exchange', 'Exchange.corp.example'], server: '192.0.2.10', ports: '6001-6002,6004' },
        { remoteNames: ['dc1'], server: '192.0.2.20', ports: '593', endpointMapperPort: 135 },
      ],
      interfaces: ['exchange'], requireEncryption: true,
    }],
    webPublishing: [{
      name: 'activesync', listener: 'mail', paths: ['/Microsoft-Server-ActiveSync', '/owa/'],
      backend: 'https://192.0.2.10', backendCa: '/etc/rpcgw/internal-ca.pem',
    }],
  };
}

describe('httpsListeners, rpcOverHttp, webPublishing', () => {
  it('compiles the issue example with its defaults', () => {
    const { rules } = loadDoc(httpsDoc());
    const h = rules.https!;
    expect(h.listeners[0]).toMatchObject({ name: 'mail', port: 443, realm: 'rpcgw', headersTimeoutMs: 10_000 });
    const r = h.rpcOverHttp[0]!;
    expect(r.path).toBe('/rpc/rpcproxy.dll');
    expect(r.requireEncryption).toBe(true);
    expect(findValidPort(r, 'EXCHANGE.corp.example', 6002)?.server).toBe('192.0.2.10');
    expect(findValidPort(r, 'exchange', 6003)).toBeNull();
    expect(findValidPort(r, 'dc1', 593)?.endpointMapperPort).toBe(135);
    expect(findValidPort(r, 'dc1', 6001)).toBeNull();
    const emsmdb = new Uint8Array(16);
    parseUuid('a4f1db00-ca47-1067-b31f-00dd010662da', emsmdb, 0, true);
    expect(interfaceAllowed(r, emsmdb, 0, true, 0, 81)).toBe(true);
    const samr = new Uint8Array(16);
    parseUuid('12345778-1234-abcd-ef00-0123456789ac', samr, 0, true);
    expect(interfaceAllowed(r, samr, 0, true, 1, 0)).toBe(false);
    expect(h.webPublishing[0]!.paths).toEqual(['/microsoft-server-activesync', '/owa']);
    expect(h.webPublishing[0]!.backendServerName).toBe('192.0.2.10');
  });

  it('a file without the sections compiles to none', () => {
    expect(loadDoc(minimalDoc()).rules.https).toEqual({ listeners: [], rpcOverHttp: [], webPublishing: [] });
  });

  it('an unknown listener, a bad port list and a duplicate name are located errors', () => {
    const doc = httpsDoc();
    (doc.rpcOverHttp as Record<string, unknown>[])[0]!.listener = 'nope';
    ((doc.rpcOverHttp as Record<string, unknown>[])[0]!.validPorts as Record<string, unknown>[])[0]!.ports = '6002-6001';
    (doc.webPublishing as Record<string, unknown>[]).push({ ...(doc.webPublishing as Record<string, unknown>[])[0]!, paths: ['/other'] });
    const problems = problemsOf(doc);
    const byPath = new Map(problems.map((p) => [p.path, p.message]));
    expect(byPath.get('/rpcOverHttp/0/listener')).toMatch(/expected the name of an httpsListeners entry \("mail"\), found "nope"/);
    expect(byPath.get('/rpcOverHttp/0/validPorts/0/ports')).toMatch(/LO <= HI.*found "6002-6001"/);
    expect(byPath.get('/webPublishing/1/name')).toMatch(/not used by another webPublishing entry/);
    for (const p of problems) expect(p.line).toBeGreaterThan(0);
  });

  it("the RPC proxy's clients are checked as a rule's are: host bits, not a CIDR, twice", () => {
    const doc = httpsDoc();
    (doc.rpcOverHttp as Record<string, unknown>[])[0]!.clients = ['203.0.113.7/24', 'corp-net', '198.51.100.0/24', '198.51.100.0/24'];
    const byPath = new Map(problemsOf(doc).map((p) => [p.path, p.message]));
    expect(byPath.get('/rpcOverHttp/0/clients/0')).toMatch(/host bits zero, found "203\.0\.113\.7\/24" \(did you mean "203\.0\.113\.0\/24"\?\)/);
    expect(byPath.get('/rpcOverHttp/0/clients/1')).toMatch(/expected an IPv4 CIDR.*found "corp-net"/);
    expect(byPath.get('/rpcOverHttp/0/clients/3')).toMatch(/each client network once.*also \/rpcOverHttp\/0\/clients\/2/);
    expect(byPath.has('/rpcOverHttp/0/clients/2')).toBe(false);
  });

  it('schema errors name the field: a missing users file, an http backend', () => {
    const doc = httpsDoc();
    delete (doc.httpsListeners as Record<string, unknown>[])[0]!.users;
    (doc.webPublishing as Record<string, unknown>[])[0]!.backend = 'http://192.0.2.10';
    const paths = problemsOf(doc).map((p) => p.path);
    expect(paths).toContain('/httpsListeners/0/users');
    expect(paths).toContain('/webPublishing/0/backend');
  });
});
