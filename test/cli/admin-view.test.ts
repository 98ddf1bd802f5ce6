/** What a reload reports and refuses, from two rules files: by name, nothing ignored. */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadRules } from '../../src/policy/load.js';
import { flowStateName, gatewayChanges, httpsChanges, rulesDiff } from '../../src/cli/admin-view.js';
import { FLOW_ST_ACK_CLIENT, FLOW_ST_ACK_SERVER, FLOW_ST_FIN_CLIENT, FLOW_ST_FIN_SERVER, FLOW_ST_RST, FLOW_ST_SYNACK_SERVER, FLOW_ST_SYN_CLIENT } from '../../src/nat/flow-table.js';
import { projectRoot } from '../helpers/shared.js';

type Doc = { gateway: Record<string, unknown>; rules: Record<string, unknown>[] } & Record<string, unknown>;
const base = (): Doc => JSON.parse(readFileSync(path.join(projectRoot, 'rules', 'exchange.json'), 'utf8')) as Doc;
const load = (d: Doc) => loadRules(JSON.stringify(d), 'r.json').rules;

describe('reload changes', () => {
  it('names rules added, removed and changed', () => {
    const a = base();
    const b = base();
    b.rules[0]!.pinholeTimeoutSeconds = 120;
    b.rules.push({ ...a.rules[0], name: 'second', externalAddress: '198.51.100.2' });
    const d = rulesDiff(load(a), load(b));
    expect(d).toEqual({ rulesAdded: ['second'], rulesRemoved: [], rulesChanged: [a.rules[0]!.name] });
    expect(rulesDiff(load(b), load(a))).toEqual({ rulesAdded: [], rulesRemoved: ['second'], rulesChanged: [a.rules[0]!.name] });
    expect(rulesDiff(load(a), load(base()))).toEqual({ rulesAdded: [], rulesRemoved: [], rulesChanged: [] });
  });

  it('applies the log level and names every gateway field that needs a restart', () => {
    const a = base();
    const b = base();
    (b.gateway.log as Record<string, unknown>).level = 'warn';
    (b.gateway.limits as Record<string, unknown>).maxFlows = 1000;
    b.gateway.notificationRelayPorts = '50000-50099';
    (b.gateway.internal as Record<string, unknown>).interface = 'eth9';
    expect(gatewayChanges(load(a).gateway, load(b).gateway)).toEqual({
      applied: ['log.level'], needRestart: ['internal.interface', 'notificationRelayPorts', 'limits'],
    });
    expect(gatewayChanges(load(a).gateway, load(base()).gateway)).toEqual({ applied: [], needRestart: [] });
  });

  it('names each HTTPS section that changed (listeners and proxies were started for them)', () => {
    const withHttps = (port: number, ports: string): Doc => ({
      ...base(),
      httpsListeners: [{ name: 'mail', address: '198.51.100.1', port, certificates: [{ cert: '/etc/rpcgw/mail.pem', key: '/etc/rpcgw/mail.key' }], users: '/etc/rpcgw/htpasswd' }],
      rpcOverHttp: [{ name: 'oa', listener: 'mail', validPorts: [{ remoteNames: ['exchange'], server: '192.0.2.10', ports }], interfaces: ['exchange'] }],
    });
    expect(httpsChanges(load(withHttps(443, '6001')), load(withHttps(443, '6001')))).toEqual([]);
    expect(httpsChanges(load(withHttps(443, '6001')), load(withHttps(8443, '6001')))).toEqual(['httpsListeners']);
    expect(httpsChanges(load(withHttps(443, '6001')), load(withHttps(443, '6001-6002')))).toEqual(['rpcOverHttp']);
    expect(httpsChanges(load(base()), load(withHttps(443, '6001')))).toEqual(['httpsListeners', 'rpcOverHttp']);
  });
});

describe('state names', () => {
  it('reads the flow state bits as conntrack names', () => {
    expect(flowStateName(FLOW_ST_SYN_CLIENT)).toBe('SYN_SENT');
    expect(flowStateName(FLOW_ST_SYN_CLIENT | FLOW_ST_SYNACK_SERVER)).toBe('SYN_RECV');
    const est = FLOW_ST_SYN_CLIENT | FLOW_ST_SYNACK_SERVER | FLOW_ST_ACK_CLIENT | FLOW_ST_ACK_SERVER;
    expect(flowStateName(est)).toBe('ESTABLISHED');
    expect(flowStateName(est | FLOW_ST_FIN_CLIENT)).toBe('FIN_WAIT');
    expect(flowStateName(est | FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER)).toBe('TIME_WAIT');
    expect(flowStateName(est | FLOW_ST_RST)).toBe('CLOSE');
  });
});
