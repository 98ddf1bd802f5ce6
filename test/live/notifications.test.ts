/**
 * New-mail notifications through the live gateway, with the project's Exchange store simulator
 * (test/sim) as the server — no real Exchange runs here — and its Outlook-2003-like client:
 * ept_map EMSMDB through 135, connect to the mapped port, bind, EcDoConnectEx,
 * EcRRegisterPushNotification with the client's own callback address; the simulator sends the
 * datagram (payload = rgbContext) to whatever address it was given.
 *
 *  - readable registration (auth level 1): the server sees the gateway's relay address, and the
 *    datagram reaches the client's registered port from the gateway's external address; a
 *    datagram from any other internal source to the relay port does not pass.
 *  - encrypted registration (level 6) with notificationsWhenEncrypted "pinhole": the server sends
 *    to the client's own address (through the gateway, its default route) and it passes, from the
 *    gateway's external address; with "drop" nothing passes.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB } from '../../src/lab/lab.js';
import { LIVE_TIMEOUT_MS, PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL, becomeRouter, repoRoot, skipLive, type HostSetting } from './live.js';
import { SimProcess, runClient, haveImpacket } from '../sim/harness.js';

const PASSWORD = 'Outl00k-lab';
const CALLBACK_PORT = 50123;
const EXCHANGE = ['exchange'];

function ipNetns(ns: string, args: string[]): void {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} in ${ns}: ${r.stderr}`);
}

async function startSim(lab: Lab, autoNotifyMs: number): Promise<SimProcess> {
  return SimProcess.start({
    listen: LAB.server, control: path.join(lab.dir!, 'sim.sock'), epmPort: 135, storePort: 6001, nspiPort: 6004, rfrPort: 6002,
    password: PASSWORD, extra: ['--auto-notify-ms', String(autoNotifyMs)], netns: lab.nsName('server'),
  });
}

/** The callback addresses the simulator was given (its `register` log events). */
function registrations(sim: SimProcess): { ip: string; port: number }[] {
  return sim.events
    .filter((e) => e.event === 'register')
    .map((e) => (e as unknown as { callback: { ip: string; port: number } }).callback);
}

const skip = skipLive('notifications') || !haveImpacket;

/**
 * The readable registration on three hosts: the peers' offloads at the kernel's defaults (partial
 * checksums, TSO segments: the store's answers reach the gateway as large segments), switched
 * off, and a router with forwarding on and the administrator's drop-by-default firewall.
 */
const HOSTS: HostSetting[] = [{ name: 'peers with offloads at kernel defaults', net: {} }, PEERS_OFFLOADS_OFF, ROUTER_WITH_ADMIN_FIREWALL];

describe.skipIf(skip).each(HOSTS)('new-mail notifications through rpcgw run (readable registration; $name)', ({ net, router }) => {
  const lab = new Lab();
  let sim: SimProcess;

  beforeAll(async () => {
    await lab.up({ repoRoot, samba: false, net, daemon: router !== true, rules: { interfaces: EXCHANGE, notifications: true } });
    if (router === true) {
      await becomeRouter(lab);
      await lab.startDaemon();
    }
    sim = await startSim(lab, 4000);
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await sim?.stop();
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('the datagram reaches the client from the gateway\'s external address, and only the server\'s passes', async () => {
    const client = runClient(
      ['--server', LAB.gatewayExt, '--callback-ip', LAB.client, '--callback-port', String(CALLBACK_PORT), '--auth-level', '1', '--wait', '10'],
      { netns: lab.nsName('client'), timeoutMs: 60_000 },
    );
    // While the registration is live: a forged datagram to the relay port from another host on
    // the internal network (a second address in the server namespace). The simulator sends the
    // genuine one later (--auto-notify-ms).
    await sim.waitFor((e) => e.event === 'register', 30_000);
    const relay = registrations(sim)[0]!;
    ipNetns(lab.nsName('server'), ['ip', 'addr', 'add', '192.0.2.11/24', 'dev', 'eth0']);
    const send = `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.0.2.11', 0)); s.sendto(b'forged-notification', ('${LAB.gatewayInt}', ${relay.port}))`;
    ipNetns(lab.nsName('server'), ['/usr/bin/python3', '-c', send]);
    const r = await client;
    expect(r.result.errors).toEqual([]);
    expect(r.result.tower?.ip).toBe(LAB.gatewayExt); // the EMSMDB tower was rewritten too
    expect(r.result.registration?.ret).toBe(0);
    expect(r.result.datagram?.received).toBe(true);
    expect(r.result.datagram?.count).toBe(1); // the forged one never arrived
    expect(r.result.datagram?.matches).toBe(true);
    expect(r.result.datagram?.sourceIp).toBe(LAB.gatewayExt);
    // The server registered the gateway's relay address, not the client's.
    expect(relay.ip).toBe(LAB.gatewayInt);
    expect(relay.port).toBeGreaterThanOrEqual(47000);
    expect(relay.port).toBeLessThanOrEqual(47999);
    expect(lab.daemonLogs().some((rec) => rec.event === 'notification' && rec.action === 'rewritten')).toBe(true);
  }, LIVE_TIMEOUT_MS);
});

describe.skipIf(skip)('new-mail notifications, encrypted registration (level 6)', () => {
  for (const mode of ['pinhole', 'drop'] as const) {
    describe(`notificationsWhenEncrypted: ${mode}`, () => {
      const lab = new Lab();
      let sim: SimProcess;

      beforeAll(async () => {
        await lab.up({ repoRoot, samba: false, rules: { interfaces: EXCHANGE, notifications: true, notificationsWhenEncrypted: mode } });
        // The server reaches clients through the gateway (its default route); forwarding is off
        // there, so only the daemon's pinhole can carry the datagram.
        ipNetns(lab.nsName('server'), ['ip', 'route', 'add', 'default', 'via', LAB.gatewayInt]);
        sim = await startSim(lab, 700);
      }, LIVE_TIMEOUT_MS);

      afterAll(async () => {
        await sim?.stop();
        await lab.down();
      }, LIVE_TIMEOUT_MS);

      it(mode === 'pinhole' ? 'the datagram to the client\'s own address passes, from the external address' : 'nothing passes, and the log says why', async () => {
        const r = await runClient(
          ['--server', LAB.gatewayExt, '--callback-ip', LAB.client, '--callback-port', String(CALLBACK_PORT), '--auth-level', '6', '--password', PASSWORD, '--wait', mode === 'pinhole' ? '8' : '4'],
          { netns: lab.nsName('client'), timeoutMs: 60_000 },
        );
        expect(r.result.registration?.ret).toBe(0);
        expect(registrations(sim)[0]!.ip).toBe(LAB.client); // encrypted: the gateway could not rewrite it
        const note = lab.daemonLogs().find((rec) => rec.event === 'notification');
        expect(note?.action).toBe(mode === 'pinhole' ? 'pinhole' : 'dropped');
        if (mode === 'pinhole') {
          expect(r.result.datagram?.received).toBe(true);
          expect(r.result.datagram?.matches).toBe(true);
          expect(r.result.datagram?.sourceIp).toBe(LAB.gatewayExt);
        } else {
          expect(r.result.datagram?.received).toBe(false);
        }
      }, LIVE_TIMEOUT_MS);
    });
  }
});


