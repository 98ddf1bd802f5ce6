/**
 * Publishing rules compiled to numbers, built once by loadRules. The engine reads only these
 * fields on the packet path: addresses as unsigned 32-bit numbers, CIDRs and UUIDs in typed
 * arrays, timeouts in milliseconds, enums as small integers. Strings are for logs.
 */

import type { CompiledHttps } from './https.js';

export const LOOKUP_DENY = 0;
export const LOOKUP_PUBLISHED = 1;
export const LOOKUP_ALLOW = 2;
export type LookupMode = typeof LOOKUP_DENY | typeof LOOKUP_PUBLISHED | typeof LOOKUP_ALLOW;
export const LOOKUP_NAMES: readonly string[] = ['deny', 'published', 'allow'];

export const NOTIFY_DROP = 0;
export const NOTIFY_PINHOLE = 1;
export type NotifyMode = typeof NOTIFY_DROP | typeof NOTIFY_PINHOLE;
export const NOTIFY_NAMES: readonly string[] = ['drop', 'pinhole'];

export const INSPECT_FULL = 0;
export const INSPECT_KERNEL = 1;
export type InspectMode = typeof INSPECT_FULL | typeof INSPECT_KERNEL;
export const INSPECT_NAMES: readonly string[] = ['full', 'kernel'];
/** What a "kernel" rule gives up, printed by `rpcgw check` for each such rule. */
export const KERNEL_MODE_GIVES_UP =
  'the endpoint mapper stays inspected (interface allow-list, tower rewrite, refusals, per-client pinholes); ' +
  'after ept_map the kernel forwards the mapped connection unread: no per-PDU policy, no bind/alter_context re-check ' +
  '(a client may bind any interface the server offers on that port, at any auth level), no requireEncryption, no notification rewriting';

/** Size of one interface UUID in CompiledRule.ifUuid. */
export const UUID_LEN = 16;

export interface CompiledLimits {
  maxMappings: number;
  maxFlows: number;
  maxMappingsPerClient: number;
  maxHeldBytesPerFlow: number;
  maxHeldBytesTotal: number;
}

export interface CompiledGateway {
  externalInterface: string;
  /** u32, e.g. 198.51.100.1 -> 0xC6336401. */
  externalIp: number;
  internalInterface: string;
  internalIp: number;
  limits: CompiledLimits;
  /** "ADDRESS:PORT" of the metrics listener, or null when metrics are off. */
  metricsListen: string | null;
  adminSocket: string;
  /** UDP ports on the internal address that notification callbacks are rewritten to, inclusive. */
  notifyRelayLo: number;
  notifyRelayHi: number;
  /** TCP source ports on the internal address the gateway uses toward servers (flow gwPort), inclusive. */
  natPortLo: number;
  natPortHi: number;
  /** TCP source ports of the kernel's SNAT for "kernel" rules' connections, inclusive; disjoint from natPorts. */
  kernelNatPortLo: number;
  kernelNatPortHi: number;
  /** pino level name. */
  logLevel: string;
}

export interface CompiledRule {
  /** Position in the rules list (and in CompiledRules.rules). */
  index: number;
  name: string;
  enabled: boolean;
  /**
   * Internal clients to external servers (direction "outbound"): clientNet/clientMask are the
   * internal clients, serverNet/serverMask the external servers, externalIp the gateway's
   * external address (the NAT source); serverIp is 0 and portLo..portHi empty (nothing published).
   */
  outbound: boolean;
  /** Outbound rules: the external servers (net under mask); empty for inbound rules. */
  serverNet: Uint32Array;
  serverMask: Uint32Array;
  /** u32 address of the published server. */
  serverIp: number;
  /** u32 public address clients connect to (TCP 135 and the mapped ports). */
  externalIp: number;
  /** Client networks: clientNet[i] (host bits zero) under clientMask[i]. */
  clientNet: Uint32Array;
  clientMask: Uint32Array;
  /** The rule allows whatever interface the server registers ("any"). */
  anyInterface: boolean;
  /** 16 bytes per allowed interface, wire little-endian NDR form (Data1..3 LE, Data4 as is). */
  ifUuid: Uint8Array;
  /** Major version per entry; -1 = any version. */
  ifMajor: Int32Array;
  /** Highest minor version allowed per entry; -1 = any. */
  ifMinor: Int32Array;
  /** Per entry, for logs: "EMSMDB a4f1db00-ca47-1067-b31f-00dd010662da@0.81". */
  ifLabel: string[];
  /** Mapped external TCP port range, inclusive. */
  portLo: number;
  portHi: number;
  pinholeTimeoutMs: number;
  idleTimeoutMs: number;
  maxMappingsPerClient: number;
  /** Binds below packet privacy (auth level 6) are refused on mapped ports. */
  requireEncryption: boolean;
  /** INSPECT_FULL: every mapped packet through the daemon; INSPECT_KERNEL: nftables pinhole + NAT. */
  mappedInspection: InspectMode;
  lookup: LookupMode;
  notifications: boolean;
  notificationsWhenEncrypted: NotifyMode;
  /** Client UDP ports notifications may go to, inclusive. */
  notifyPortLo: number;
  notifyPortHi: number;
}

export interface CompiledRules {
  gateway: CompiledGateway;
  rules: CompiledRule[];
  /** httpsListeners, rpcOverHttp, webPublishing (absent in hand-built rules: none). */
  https?: CompiledHttps;
  /** The validated document with every default filled in, for printing (`rpcgw rules show`). */
  source: unknown;
}
