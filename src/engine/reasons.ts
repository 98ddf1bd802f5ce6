/**
 * Why the engine dropped a packet or refused a connection. Numbers index the counters; the
 * names are what logs, metrics and replay reports print.
 */

export const PASS = 0;

// ---- packet drops ----
export const DROP_MALFORMED = 1;
export const DROP_NOT_IPV4 = 2;
export const DROP_FRAGMENT = 3;
export const DROP_UNSUPPORTED_PROTOCOL = 4;
export const DROP_NOT_FOR_GATEWAY = 5;
export const DROP_PORT_NOT_PUBLISHED = 6;
export const DROP_CLIENT_NOT_ALLOWED = 7;
export const DROP_NO_FLOW = 8;
export const DROP_NO_PINHOLE = 9;
export const DROP_FLOW_TABLE_FULL = 10;
export const DROP_NO_GATEWAY_PORT = 11;
/** An out-of-order segment that would take a connection's held bytes past its limit. */
export const DROP_HOLD_LIMIT = 12;
export const DROP_DUPLICATE = 13;
export const DROP_REFUSED_CONNECTION = 14;
export const DROP_BAD_CHECKSUM = 15;
export const DROP_TTL_EXCEEDED = 16;
export const DROP_NO_NOTIFICATION = 17;
export const DROP_PATCH_FORGOTTEN = 18;
export const DROP_EPM_CONNECTION_LIMIT = 19;
export const DROP_BAD_IP_CHECKSUM = 20;
/** DF set, fits the interface it came in on, not the one it would leave by (answered: frag-needed). */
export const DROP_TOO_BIG = 21;
/** Longer than the egress MTU and not TCP, so it cannot be re-segmented. */
export const DROP_OVERSIZE = 22;
/** An ICMP error quoting a packet of no connection the gateway carries. */
export const DROP_ICMP_NO_FLOW = 23;
/** ICMP other than an error that quotes a TCP packet (echo, redirects, malformed quotes...). */
export const DROP_ICMP_NOT_TRANSLATED = 24;
/** A client's packet to a "kernel" rule's mapped port reached the daemon (the kernel carries those). */
export const DROP_KERNEL_PORT = 25;

// ---- connection refusals (the connection is reset both ways) ----
export const REFUSE_MALFORMED = 32;
export const REFUSE_BIND_INTERFACE = 33;
export const REFUSE_MAP_INTERFACE = 34;
export const REFUSE_LOOKUP = 35;
export const REFUSE_OPNUM = 36;
export const REFUSE_ENCRYPTED = 37;
export const REFUSE_AUTH_RESPONSE = 38;
export const REFUSE_MAPPING = 39;
export const REFUSE_CALL_TOO_LARGE = 40;
export const REFUSE_UNEXPECTED_PDU = 41;
/** One PDU still incomplete after a connection's hold limit (a name of its own: counted apart from DROP_HOLD_LIMIT). */
export const REFUSE_HOLD_LIMIT = 42;
export const REFUSE_CONTEXT_NOT_ACCEPTED = 43;
export const REFUSE_NOT_ENCRYPTED = 44;
export const REFUSE_IPV6_CALLBACK = 45;
/** nftables did not install a "kernel" rule's pinhole: the rewritten answer is not released. */
export const REFUSE_KERNEL_PINHOLE = 46;

export const REASON_COUNT = 48;

export const REASON_NAMES: readonly string[] = (() => {
  const n: string[] = new Array<string>(REASON_COUNT).fill('');
  n[PASS] = 'pass';
  n[DROP_MALFORMED] = 'malformed-packet';
  n[DROP_NOT_IPV4] = 'not-ipv4';
  n[DROP_FRAGMENT] = 'ip-fragment';
  n[DROP_UNSUPPORTED_PROTOCOL] = 'unsupported-protocol';
  n[DROP_NOT_FOR_GATEWAY] = 'not-for-gateway';
  n[DROP_PORT_NOT_PUBLISHED] = 'port-not-published';
  n[DROP_CLIENT_NOT_ALLOWED] = 'client-not-allowed';
  n[DROP_NO_FLOW] = 'no-connection';
  n[DROP_NO_PINHOLE] = 'no-pinhole';
  n[DROP_FLOW_TABLE_FULL] = 'connection-table-full';
  n[DROP_NO_GATEWAY_PORT] = 'no-gateway-port';
  n[DROP_HOLD_LIMIT] = 'hold-limit';
  n[DROP_DUPLICATE] = 'duplicate-of-held-data';
  n[DROP_REFUSED_CONNECTION] = 'refused-connection';
  n[DROP_BAD_CHECKSUM] = 'bad-checksum';
  n[DROP_TTL_EXCEEDED] = 'ttl-exceeded';
  n[DROP_NO_NOTIFICATION] = 'no-notification-registration';
  n[DROP_EPM_CONNECTION_LIMIT] = 'epm-connection-limit';
  n[DROP_PATCH_FORGOTTEN] = 'retransmission-of-acknowledged-rewrite';
  n[DROP_BAD_IP_CHECKSUM] = 'bad-ip-checksum';
  n[DROP_TOO_BIG] = 'too-big-dont-fragment';
  n[DROP_OVERSIZE] = 'oversize-not-segmentable';
  n[DROP_ICMP_NO_FLOW] = 'icmp-no-connection';
  n[DROP_ICMP_NOT_TRANSLATED] = 'icmp-not-translated';
  n[DROP_KERNEL_PORT] = 'kernel-mode-port';
  n[REFUSE_MALFORMED] = 'malformed-rpc';
  n[REFUSE_BIND_INTERFACE] = 'bind-interface-not-allowed';
  n[REFUSE_MAP_INTERFACE] = 'interface-not-published';
  n[REFUSE_LOOKUP] = 'lookup-denied';
  n[REFUSE_OPNUM] = 'epm-operation-not-allowed';
  n[REFUSE_ENCRYPTED] = 'encrypted-epm-request';
  n[REFUSE_AUTH_RESPONSE] = 'signed-epm-response';
  n[REFUSE_MAPPING] = 'mapping-refused';
  n[REFUSE_CALL_TOO_LARGE] = 'epm-response-too-large';
  n[REFUSE_UNEXPECTED_PDU] = 'unexpected-pdu';
  n[REFUSE_HOLD_LIMIT] = 'pdu-hold-limit';
  n[REFUSE_CONTEXT_NOT_ACCEPTED] = 'context-not-accepted';
  n[REFUSE_NOT_ENCRYPTED] = 'encryption-required';
  n[REFUSE_IPV6_CALLBACK] = 'ipv6-callback';
  n[REFUSE_KERNEL_PINHOLE] = 'kernel-pinhole-failed';
  return n;
})();

export function isRefusal(code: number): boolean {
  return code >= REFUSE_MALFORMED;
}
