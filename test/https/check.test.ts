import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { checkHttpsFiles } from '../../src/https/check.js';
import { parseHtpasswd } from '../../src/https/users.js';
import { loadDoc, minimalDoc } from '../policy/helpers.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!haveOpenssl)('rpcgw check on the HTTPS files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-https-check-'));
  const p = (f: string): string => path.join(dir, f);
  const cert = (name: string, days: number): void => {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', String(days), '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=DNS:${name}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`)]);
    if (r.status !== 0) throw new Error(r.stderr.toString());
  };
  cert('long.test', 365);
  cert('soon.test', 10);
  writeFileSync(p('users'), `alice:${bcrypt.hashSync('pw', 4)}\nbob:{SHA}abcdefghijklmnopqrstuvwxyz0=\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const https = (certificates: { cert: string; key: string }[]) => loadDoc({
    ...minimalDoc(),
    httpsListeners: [{ name: 'mail', address: '198.51.100.1', certificates, users: p('users') }],
    webPublishing: [{ name: 'owa', listener: 'mail', paths: ['/owa'], backend: 'https://192.0.2.10', backendCa: p('long.test.pem') }],
  }).rules.https;

  it('a good certificate: its names, the key matches, users counted; a non-bcrypt entry is a warning', () => {
    const r = checkHttpsFiles(https([{ cert: p('long.test.pem'), key: p('long.test.key') }]), Date.now());
    expect(r.errors).toEqual([]);
    expect(r.info.join('\n')).toMatch(/long\.test\.pem for long\.test, key matches, expires .* \((36[45]) days\)/);
    expect(r.info.join('\n')).toMatch(/1 user\(s\)/);
    expect(r.warnings).toEqual([expect.stringMatching(/user "bob" has a non-bcrypt hash/)]);
  });

  it('expiry within 30 days is a warning; a key of another certificate is an error', () => {
    const soon = checkHttpsFiles(https([{ cert: p('soon.test.pem'), key: p('soon.test.key') }]), Date.now());
    expect(soon.warnings).toContainEqual(expect.stringMatching(/soon\.test\.pem expires in (9|10) days/));
    const wrong = checkHttpsFiles(https([{ cert: p('long.test.pem'), key: p('soon.test.key') }]), Date.now());
    expect(wrong.errors).toEqual([expect.stringMatching(/key .*soon\.test\.key does not match certificate .*long\.test\.pem/)]);
    const missing = checkHttpsFiles(https([{ cert: p('nope.pem'), key: p('soon.test.key') }]), Date.now());
    expect(missing.errors).toEqual([expect.stringMatching(/cannot read certificate .*nope\.pem/)]);
  });

  it('htpasswd parsing keeps bcrypt entries only, with the line of each skipped one', () => {
    const u = parseHtpasswd(`# comment\nalice:${bcrypt.hashSync('x', 4)}\nnocolon\ncarol:$apr1$abc$def\n`);
    expect([...u.users.keys()]).toEqual(['alice']);
    expect(u.skipped).toEqual(['line 3: not USER:HASH', 'line 4: user "carol" has a non-bcrypt hash (use htpasswd -B)']);
  });
});
