#!/usr/bin/env node
// Throughput of the RPC proxy on loopback (npm run build first): a Node TLS client opens one
// virtual connection through dist/https's listener to a TCP sink that answers every request PDU
// with a response of the same size, and sends N MiB of 4280-byte DCE/RPC requests on IN while
// reading the responses on OUT (acking the OUT window as impacket does). Prints MiB/s each way.
// Usage: node scripts/bench-rpch.mjs [MiB, default 200]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { HttpsFrontend } from '../dist/https/frontend.js';
import { loadRules } from '../dist/policy/load.js';
import { writeBind, writeRequest, writeResponse, writeBindAck, writeRts } from '../dist/dcerpc/pdu.js';
import * as C from '../dist/dcerpc/constants.js';

const MIB = Number(process.argv[2] ?? 200);
const PORT = 18443;
const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-bench-rpch-'));
spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=bench', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`]);
writeFileSync(`${dir}/users`, `u:${bcrypt.hashSync('pw', 4)}\n`);

const sink = net.createServer((s) => {
  s.on('error', () => {});
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const out = [];
    while (buf.length >= 10) {
      const len = buf.readUInt16LE(8);
      if (buf.length < len) break;
      const ptype = buf[2];
      const b = Buffer.alloc(len + 64);
      const n = ptype === 11
        ? writeBindAck(b, 0, { callId: 1, results: [{ result: C.RESULT_ACCEPTANCE, transfer: { uuid: C.UUID_NDR, version: C.NDR_VERSION } }] })
        : writeResponse(b, 0, { callId: 2, ctxId: 0, stub: new Uint8Array(len - 24) });
      out.push(b.subarray(0, n));
      buf = buf.subarray(len);
    }
    if (out.length) s.write(Buffer.concat(out));
  });
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = sink.address().port;
const rules = loadRules(JSON.stringify({
  gateway: { external: { interface: 'lo', address: '198.51.100.1' }, internal: { interface: 'lo2', address: '192.0.2.1' } },
  rules: [{ name: 'x', server: '192.0.2.10', interfaces: ['any'], mappedPorts: '40000-40999' }],
  httpsListeners: [{ name: 'b', address: '127.0.0.1', port: PORT, certificates: [{ cert: `${dir}/c.pem`, key: `${dir}/k.pem` }], users: `${dir}/users` }],
  rpcOverHttp: [{ name: 'p', listener: 'b', validPorts: [{ remoteNames: ['s'], server: '127.0.0.1', ports: String(sinkPort) }], interfaces: ['any'], requireEncryption: false, receiveWindowBytes: 262144 }],
}), 'bench.json').rules;
const fe = new HttpsFrontend(rules.https, { info() {}, warn() {}, error() {}, debug() {} });
await fe.start();

const pdu = (f) => { const b = Buffer.alloc(8192); return b.subarray(0, f(b)); };
const cookie = (s) => Uint8Array.from({ length: 16 }, (_, i) => s + i);
const head = (m, len) => `${m} /rpc/rpcproxy.dll?s:${sinkPort} HTTP/1.1\r\nHost: b\r\nContent-Length: ${len}\r\nAuthorization: Basic ${Buffer.from('u:pw').toString('base64')}\r\n\r\n`;
const out = tls.connect({ host: '127.0.0.1', port: PORT, rejectUnauthorized: false });
const inn = tls.connect({ host: '127.0.0.1', port: PORT, rejectUnauthorized: false });
out.write(head('RPC_OUT_DATA', 76));
out.write(pdu((b) => writeRts(b, 0, { commands: [{ type: C.RTS_CMD_VERSION, value: 1 }, { type: C.RTS_CMD_COOKIE, cookie: cookie(1) }, { type: C.RTS_CMD_COOKIE, cookie: cookie(40) }, { type: C.RTS_CMD_RECEIVE_WINDOW_SIZE, value: 262144 }] })));
inn.write(head('RPC_IN_DATA', 1073741824));
inn.write(pdu((b) => writeRts(b, 0, { commands: [{ type: C.RTS_CMD_VERSION, value: 1 }, { type: C.RTS_CMD_COOKIE, cookie: cookie(1) }, { type: C.RTS_CMD_COOKIE, cookie: cookie(60) }, { type: C.RTS_CMD_CHANNEL_LIFETIME, value: 1 << 30 }, { type: C.RTS_CMD_CLIENT_KEEPALIVE, value: 300000 }, { type: C.RTS_CMD_ASSOCIATION_GROUP_ID, cookie: cookie(80) }] })));

const req = pdu((b) => writeRequest(b, 0, { callId: 2, ctxId: 0, opnum: 1, stub: new Uint8Array(4280 - 24) }));
const total = MIB * 1024 * 1024;
let received = 0;
let sent = 0;
let acked = 0;
let started = 0;
let headerDone = false;
let pend = Buffer.alloc(0);
const done = new Promise((resolve) => {
  out.on('data', (d) => {
    pend = pend.length ? Buffer.concat([pend, d]) : d;
    if (!headerDone) {
      const e = pend.indexOf('\r\n\r\n');
      if (e < 0) return;
      pend = pend.subarray(e + 4);
      headerDone = true;
      inn.write(pdu((b) => writeBind(b, 0, { callId: 1, contexts: [{ ctxId: 0, abstract: { uuid: '12345778-1234-abcd-ef00-0123456789ac', major: 1, minor: 0 }, transfer: [{ uuid: C.UUID_NDR, version: C.NDR_VERSION }] }] })));
    }
    while (pend.length >= 10) {
      const len = pend.readUInt16LE(8);
      if (pend.length < len) break;
      if (pend[2] === 12) pump();
      else if (pend[2] === 2) {
        received += len;
        if (received - acked >= 131072) {
          acked = received;
          inn.write(pdu((b) => writeRts(b, 0, { flags: C.RTS_FLAG_OTHER_CMD, commands: [{ type: C.RTS_CMD_DESTINATION, value: 3 }, { type: C.RTS_CMD_FLOW_CONTROL_ACK, bytesReceived: received >>> 0, availableWindow: 262144, cookie: cookie(40) }] })));
        }
        if (received >= total) resolve();
      }
      pend = pend.subarray(len);
    }
  });
});
function pump() {
  if (!started) started = performance.now();
  while (sent < total) {
    sent += req.length;
    if (!inn.write(req)) { inn.once('drain', pump); return; }
  }
}
out.on('error', () => {});
inn.on('error', () => {});
await done;
const s = (performance.now() - started) / 1000;
console.log(`rpch proxy loopback: ${MIB} MiB of 4280-byte requests in and as many response bytes out in ${s.toFixed(2)} s: ${(MIB / s).toFixed(0)} MiB/s each way (${(2 * MIB / s).toFixed(0)} MiB/s through the proxy)`);
out.destroy();
inn.destroy();
await fe.stop();
sink.close();
rmSync(dir, { recursive: true, force: true });
