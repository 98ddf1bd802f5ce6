/**
 * The bundled capture samples/exchange-epm.pcap, built from the project's own encoders (no
 * third-party bytes, no clock, no randomness: the same bytes on every run).
 *
 * What it shows, as seen on the Exchange server's segment (client frames arrive through the
 * router, so they carry the router's MAC and a TTL lowered by the Internet path):
 *
 *  A  client:49731 -> 135  bind EPM with NDR + NDR64 + BTFN; bind_ack accepts NDR64;
 *                          ept_map EMSMDB v0.81 (NDR64) -> 2 towers, 192.0.2.10:1032 and :1033;
 *                          ept_map AsyncEMSMDB v0.1 -> not registered (0x16c9a0d6, no tower)
 *  B  client:49732 -> 135  bind EPM NDR only; ept_map NSPI v56.0 -> 4997; ept_map RFR v1.0 -> 4998,
 *                          that response cut into two TCP segments inside the tower's port field
 *  D  client:49733 -> 1032 the store connection the first ept_map pointed at: bind EMSMDB
 *  C  client:49734 -> 135  an enumeration (PortQry/rpcdump style): ept_lookup "all", answered in
 *                          two DCE/RPC fragments (9 entries: TCP, named-pipe and local towers)
 *  E  client:49735 -> 135  ept_map EMSMDB again; the response's frag_length is deliberately
 *                          wrong (MALFORMED_FRAG_LEN) so `rpcgw inspect` shows how it reports a
 *                          bad PDU; the client then resets the connection
 *
 * Every frame has valid IPv4 and TCP checksums and sequence/acknowledgement numbers.
 * Regenerate with `npm run sample`.
 */
import { CaptureFileWriter } from '../src/dataplane/capture-file.js';
import { buildTcpV4Frame } from '../src/wire/build.js';
import { LINKTYPE_ETHERNET } from '../src/wire/link.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../src/wire/tcp.js';
import { parseIpv4 } from '../src/wire/addr.js';
import {
  DCERPC_OFF_FRAG_LEN, PFC_FIRST_FRAG, PFC_LAST_FRAG, REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, RESP_HDR_LEN,
  RESULT_ACCEPTANCE, RESULT_NEGOTIATE_ACK, RESULT_PROVIDER_REJECTION, UUID_NDR, UUID_NDR64,
} from '../src/dcerpc/constants.js';
import { btfnUuid, encode, writeBind, writeBindAck, writeRequest, writeResponse } from '../src/dcerpc/pdu-write.js';
import type { BindOptions, ContextElemOptions, InterfaceId } from '../src/dcerpc/pdu-write.js';
import {
  EPT_LOOKUP, EPT_MAP, EPT_S_NOT_REGISTERED, EPT_S_OK, PROTO_NCACN_IP_TCP, PROTO_NCACN_NP, PROTO_NCALRPC,
  RPC_C_EP_ALL_ELTS, RPC_C_VERS_ALL,
} from '../src/epm/constants.js';
import { writeEptMapRequest, writeEptMapResponse } from '../src/epm/ept-map.js';
import type { EptMapRequestSpec, EptMapResponseSpec } from '../src/epm/ept-map.js';
import { writeEptLookupRequest, writeEptLookupResponse } from '../src/epm/ept-lookup.js';
import type { EptLookupEntrySpec, EptLookupRequestSpec, EptLookupResponseSpec } from '../src/epm/ept-lookup.js';
import { buildTower } from '../src/epm/tower.js';
import type { TowerSpec } from '../src/epm/tower.js';
import { ASYNC_EMSMDB, EMSMDB, EPM, NSPI, RFR, type KnownInterface } from '../src/policy/interfaces.js';

// ---- the cast (documentation addresses: RFC 5737 IPv4, RFC 7042 MACs) ----

export const SAMPLE_CLIENT_IP = '203.0.113.25';
export const SAMPLE_SERVER_IP = '192.0.2.10';
const CLIENT = parseIpv4(SAMPLE_CLIENT_IP);
const SERVER = parseIpv4(SAMPLE_SERVER_IP);
const SERVER_MAC = Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x53, 0x0a);
const ROUTER_MAC = Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x53, 0x01);
/** Windows' initial TTL, less the hops between the client and the server's segment. */
const CLIENT_TTL = 128 - 11;
const SERVER_TTL = 128;

/** EMSMDB's two listeners on the server (what the first ept_map returns). */
export const SAMPLE_EMSMDB_PORTS: readonly number[] = [1032, 1033];
export const SAMPLE_NSPI_PORT = 4997;
export const SAMPLE_RFR_PORT = 4998;

/** 2006-03-14 09:12:05 UTC: an Exchange 2003-era morning. */
const START_SEC = 1142327525;

// ---- timing (microseconds), what a capture on the server side sees ----

/** Round trip between the server's segment and the client across the Internet. */
const RTT_US = 38_400;
/** Client think time between receiving a response and sending the next request. */
const CLIENT_TURN_US = 1_150;
/** Server processing before it answers. */
const SERVER_TURN_US = 310;
/** Back-to-back segments or fragments of one response. */
const BACK_TO_BACK_US = 14;

/** SYN options: MSS 1460, NOP, NOP, SACK permitted (window scaling off: raw windows stay readable). */
const SYN_OPTIONS = Uint8Array.of(0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02);
const CLIENT_WINDOW = 64240;
const SERVER_WINDOW = 65535;

// ---- DCE/RPC bits ----

const NDR = { uuid: UUID_NDR, version: 2 };
const NDR64 = { uuid: UUID_NDR64, version: 1 };
/** BTFN offering SecurityContextMultiplexing and KeepConnectionOnOrphan (what Windows sends). */
const BTFN = { uuid: btfnUuid(3), version: 1 };
/** Windows' fragment size (max_xmit_frag / max_recv_frag). */
const WINDOWS_FRAG = 5840;
/** The C706 minimum fragment size every implementation must accept; the enumerating tool offers it. */
const MIN_FRAG = 1432;
/** ept_map's max_towers as Windows sends it. */
const MAP_MAX_TOWERS = 4;
/** ept_lookup's max_ents (rpcdump-style tools ask for up to 500 per call). */
const LOOKUP_MAX_ENTS = 500;

/**
 * frag_length written into connection E's ept_map response instead of its true 240: shorter
 * than the 24-byte response header, so the PDU cannot even hold its own header.
 */
export const MALFORMED_FRAG_LEN = 20;

function ifId(k: KnownInterface): InterfaceId {
  return { uuid: k.uuid, major: k.major, minor: k.minor };
}

function ctx(ctxId: number, k: KnownInterface, transfer: { uuid: Uint8Array; version: number }): ContextElemOptions {
  return { ctxId, abstract: ifId(k), transfer: [transfer] };
}

function tcpTower(k: KnownInterface, port: number, ipv4: number): Uint8Array {
  return buildTower({ ifUuid: k.uuid, ifMajor: k.major, ifMinor: k.minor, protocol: PROTO_NCACN_IP_TCP, port, ipv4 });
}

/** The tower a client sends in ept_map: the interface, port 0, IP 0.0.0.0. */
function mapRequestTower(k: KnownInterface): Uint8Array {
  return tcpTower(k, 0, 0);
}

const STUB_SCRATCH = new Uint8Array(65536);

function stub<T>(write: (buf: Uint8Array, off: number, spec: T) => number, spec: T): Uint8Array {
  const n = write(STUB_SCRATCH, 0, spec);
  return STUB_SCRATCH.slice(0, n);
}

function mapRequest(callId: number, ctxId: number, ndr64: boolean, k: KnownInterface): Uint8Array {
  const spec: EptMapRequestSpec = { ndr64, tower: mapRequestTower(k), maxTowers: MAP_MAX_TOWERS };
  return encode(writeRequest, { callId, ctxId, opnum: EPT_MAP, stub: stub(writeEptMapRequest, spec) });
}

function mapResponse(callId: number, ctxId: number, ndr64: boolean, towers: Uint8Array[], status: number): Uint8Array {
  const spec: EptMapResponseSpec = { ndr64, towers, maxTowers: MAP_MAX_TOWERS, status };
  return encode(writeResponse, { callId, ctxId, stub: stub(writeEptMapResponse, spec) });
}

/** A response stub cut into fragments of at most `maxFrag` bytes, alloc_hint = bytes still to come. */
function fragmentedResponse(callId: number, ctxId: number, stubBytes: Uint8Array, maxFrag: number): Uint8Array[] {
  const perFrag = maxFrag - RESP_HDR_LEN;
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < stubBytes.length; pos += perFrag) {
    const end = Math.min(stubBytes.length, pos + perFrag);
    const flags = (pos === 0 ? PFC_FIRST_FRAG : 0) | (end === stubBytes.length ? PFC_LAST_FRAG : 0);
    out.push(encode(writeResponse, {
      callId, ctxId, pfcFlags: flags, allocHint: stubBytes.length - pos, stub: stubBytes.subarray(pos, end),
    }));
  }
  return out;
}

// ---- frames and TCP connections ----

/** Writes frames with a running capture clock. */
class SampleWriter {
  private readonly frame = new Uint8Array(2048);
  private nowUs = 0;
  private clientIpId = 0x1a2b;
  private serverIpId = 0x5c10;

  constructor(private readonly out: CaptureFileWriter) {}

  /** Moves the capture clock forward. */
  after(us: number): void {
    this.nowUs += us;
  }

  tcp(fromClient: boolean, srcPort: number, dstPort: number, seq: number, ack: number, flags: number, payload?: Uint8Array): void {
    const len = buildTcpV4Frame(this.frame, 0, {
      srcMac: fromClient ? ROUTER_MAC : SERVER_MAC,
      dstMac: fromClient ? SERVER_MAC : ROUTER_MAC,
      src: fromClient ? CLIENT : SERVER,
      dst: fromClient ? SERVER : CLIENT,
      ttl: fromClient ? CLIENT_TTL : SERVER_TTL,
      id: fromClient ? this.clientIpId++ : this.serverIpId++,
      srcPort,
      dstPort,
      seq: seq >>> 0,
      ack: ack >>> 0,
      flags,
      window: fromClient ? CLIENT_WINDOW : SERVER_WINDOW,
      ...((flags & TCP_SYN) !== 0 ? { tcpOptions: SYN_OPTIONS } : {}),
      ...(payload === undefined ? {} : { payload }),
    });
    const sec = START_SEC + Math.floor(this.nowUs / 1e6);
    const nsec = (this.nowUs % 1e6) * 1000;
    this.out.write(sec, nsec, this.frame, 0, len);
  }
}

/** One TCP connection: tracks both sides' next sequence numbers. */
class TcpConnection {
  private clientNext: number;
  private serverNext: number;

  constructor(
    private readonly w: SampleWriter,
    private readonly clientPort: number,
    private readonly serverPort: number,
    clientIsn: number,
    serverIsn: number,
  ) {
    this.clientNext = clientIsn;
    this.serverNext = serverIsn;
  }

  /** SYN, SYN/ACK, ACK. */
  open(): void {
    this.fromClient(TCP_SYN, undefined, 1);
    this.w.after(SERVER_TURN_US / 2);
    this.fromServer(TCP_SYN | TCP_ACK, undefined, 1);
    this.w.after(RTT_US);
    this.fromClient(TCP_ACK);
  }

  /** The client sends `payload` after it had a turn to think. */
  clientSends(payload: Uint8Array): void {
    this.w.after(CLIENT_TURN_US);
    this.fromClient(TCP_PSH | TCP_ACK, payload);
  }

  /** The server answers one request with these segments, back to back. */
  serverSends(...segments: Uint8Array[]): void {
    this.w.after(SERVER_TURN_US);
    segments.forEach((s, i) => {
      if (i > 0) this.w.after(BACK_TO_BACK_US);
      this.fromServer(i === segments.length - 1 ? TCP_PSH | TCP_ACK : TCP_ACK, s);
    });
    this.w.after(RTT_US);
  }

  /** The client acknowledges what it received without sending data. */
  clientAcks(): void {
    this.fromClient(TCP_ACK);
  }

  /** Client FIN, server FIN (acknowledging it), client's last ACK. */
  clientCloses(): void {
    this.w.after(CLIENT_TURN_US);
    this.fromClient(TCP_FIN | TCP_ACK, undefined, 1);
    this.w.after(SERVER_TURN_US);
    this.fromServer(TCP_FIN | TCP_ACK, undefined, 1);
    this.w.after(RTT_US);
    this.fromClient(TCP_ACK);
  }

  /** The client aborts the connection. */
  clientResets(): void {
    this.w.after(CLIENT_TURN_US);
    this.fromClient(TCP_RST | TCP_ACK);
  }

  private fromClient(flags: number, payload?: Uint8Array, seqUsed = payload?.length ?? 0): void {
    const ack = (flags & TCP_ACK) !== 0 ? this.serverNext : 0;
    this.w.tcp(true, this.clientPort, this.serverPort, this.clientNext, ack, flags, payload);
    this.clientNext = (this.clientNext + seqUsed) >>> 0;
  }

  private fromServer(flags: number, payload?: Uint8Array, seqUsed = payload?.length ?? 0): void {
    this.w.tcp(false, this.serverPort, this.clientPort, this.serverNext, this.clientNext, flags, payload);
    this.serverNext = (this.serverNext + seqUsed) >>> 0;
  }
}

// ---- the five connections ----

/** A: the 64-bit RPC runtime's EPM association (NDR64), EMSMDB mapped, AsyncEMSMDB not registered. */
function connectionA(w: SampleWriter): void {
  const c = new TcpConnection(w, 49731, 135, 0x3b9f0c21, 0x8e41d6a7);
  c.open();
  const bind: BindOptions = {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG,
    contexts: [ctx(0, EPM, NDR), ctx(1, EPM, NDR64), ctx(2, EPM, BTFN)],
  };
  c.clientSends(encode(writeBind, bind));
  c.serverSends(encode(writeBindAck, {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, assocGroup: 0x0000b8e1, secAddr: '135',
    results: [
      { result: RESULT_PROVIDER_REJECTION, reason: REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED },
      { result: RESULT_ACCEPTANCE, transfer: NDR64 },
      { result: RESULT_NEGOTIATE_ACK, reason: 3 },
    ],
  }));
  c.clientSends(mapRequest(2, 1, true, EMSMDB));
  c.serverSends(mapResponse(2, 1, true, SAMPLE_EMSMDB_PORTS.map((p) => tcpTower(EMSMDB, p, SERVER)), EPT_S_OK));
  c.clientSends(mapRequest(3, 1, true, ASYNC_EMSMDB));
  c.serverSends(mapResponse(3, 1, true, [], EPT_S_NOT_REGISTERED));
  c.clientCloses();
}

/** B: the address book's association (NDR): NSPI, then RFR whose answer straddles two segments. */
function connectionB(w: SampleWriter): void {
  const c = new TcpConnection(w, 49732, 135, 0x3c02f5e8, 0x91d7a044);
  c.open();
  c.clientSends(encode(writeBind, { callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, contexts: [ctx(0, EPM, NDR)] }));
  c.serverSends(encode(writeBindAck, {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, assocGroup: 0x0000b8e2, secAddr: '135',
    results: [{ result: RESULT_ACCEPTANCE, transfer: NDR }],
  }));
  c.clientSends(mapRequest(2, 0, false, NSPI));
  c.serverSends(mapResponse(2, 0, false, [tcpTower(NSPI, SAMPLE_NSPI_PORT, SERVER)], EPT_S_OK));
  c.clientSends(mapRequest(3, 0, false, RFR));
  const rfr = mapResponse(3, 0, false, [tcpTower(RFR, SAMPLE_RFR_PORT, SERVER)], EPT_S_OK);
  // PDU offset 136-137 is the tower's port (stub offset 112): cut between its two bytes.
  c.serverSends(rfr.subarray(0, RESP_HDR_LEN + 113), rfr.subarray(RESP_HDR_LEN + 113));
  c.clientCloses();
}

/** D: the store connection to the first port ept_map returned. */
function connectionD(w: SampleWriter): void {
  const port = SAMPLE_EMSMDB_PORTS[0]!;
  const c = new TcpConnection(w, 49733, port, 0x3c5d1b7f, 0x94a3e610);
  c.open();
  c.clientSends(encode(writeBind, {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, contexts: [ctx(0, EMSMDB, NDR), ctx(1, EMSMDB, BTFN)],
  }));
  c.serverSends(encode(writeBindAck, {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, assocGroup: 0x0000c41d, secAddr: String(port),
    results: [{ result: RESULT_ACCEPTANCE, transfer: NDR }, { result: RESULT_NEGOTIATE_ACK, reason: 3 }],
  }));
  c.clientAcks();
}

/** What the server has registered, as ept_lookup lists it. */
function registrations(): EptLookupEntrySpec[] {
  const nil = '00000000-0000-0000-0000-000000000000';
  const store = 'Exchange Server STORE EMSMDB Interface';
  const other = (uuid: string, major: number, minor: number, rest: Omit<TowerSpec, 'ifUuid' | 'ifMajor' | 'ifMinor'>): Uint8Array =>
    buildTower({ ifUuid: uuid, ifMajor: major, ifMinor: minor, ...rest });
  return [
    { object: nil, annotation: store, tower: tcpTower(EMSMDB, SAMPLE_EMSMDB_PORTS[0]!, SERVER) },
    { object: nil, annotation: store, tower: tcpTower(EMSMDB, SAMPLE_EMSMDB_PORTS[1]!, SERVER) },
    { object: nil, annotation: store, tower: other(EMSMDB.uuid, 0, 81, { protocol: PROTO_NCALRPC, pipe: 'LRPC00000d4c.00000001' }) },
    { object: nil, annotation: 'MS Exchange Directory NSPI Proxy', tower: tcpTower(NSPI, SAMPLE_NSPI_PORT, SERVER) },
    { object: nil, annotation: 'MS Exchange Directory RFR Interface', tower: tcpTower(RFR, SAMPLE_RFR_PORT, SERVER) },
    {
      object: nil, annotation: 'Exchange Server STORE ADMIN Interface',
      tower: other('a4f1db00-ca47-1067-b31e-00dd010662da', 1, 0, { protocol: PROTO_NCACN_NP, pipe: '\\PIPE\\store', host: '\\\\EXCH01' }),
    },
    {
      object: nil, annotation: "MS Exchange MTA 'Mta' Interface",
      tower: other('9e8ee830-4459-11ce-979b-00aa005ffebe', 2, 0, { protocol: PROTO_NCACN_IP_TCP, port: 1035, ipv4: SERVER }),
    },
    {
      object: nil, annotation: 'MS Exchange System Attendant Public Interface',
      tower: other('469d6ec0-0d87-11ce-b13f-00aa003bac6c', 16, 0, { protocol: PROTO_NCACN_IP_TCP, port: 1036, ipv4: SERVER }),
    },
    {
      object: nil, annotation: 'MS Exchange System Attendant Private Interface',
      tower: other('83d72bf0-0d89-11ce-b13f-00aa003bac6c', 6, 0, { protocol: PROTO_NCALRPC, pipe: 'LRPC000009a8.00000001' }),
    },
  ];
}

/** C: an enumeration of everything the server registers, answered in two fragments. */
function connectionC(w: SampleWriter): void {
  const c = new TcpConnection(w, 49734, 135, 0x3d1e8a02, 0x9b0c57d3);
  c.open();
  c.clientSends(encode(writeBind, { callId: 1, maxXmit: MIN_FRAG, maxRecv: MIN_FRAG, contexts: [ctx(0, EPM, NDR)] }));
  c.serverSends(encode(writeBindAck, {
    callId: 1, maxXmit: MIN_FRAG, maxRecv: MIN_FRAG, assocGroup: 0x0000b8e3, secAddr: '135',
    results: [{ result: RESULT_ACCEPTANCE, transfer: NDR }],
  }));
  const lookup: EptLookupRequestSpec = {
    ndr64: false, inquiryType: RPC_C_EP_ALL_ELTS, object: null, ifId: null, versOption: RPC_C_VERS_ALL, maxEnts: LOOKUP_MAX_ENTS,
  };
  c.clientSends(encode(writeRequest, { callId: 2, ctxId: 0, opnum: EPT_LOOKUP, stub: stub(writeEptLookupRequest, lookup) }));
  const answer: EptLookupResponseSpec = { ndr64: false, entries: registrations(), maxEnts: LOOKUP_MAX_ENTS, status: EPT_S_OK };
  c.serverSends(...fragmentedResponse(2, 0, stub(writeEptLookupResponse, answer), MIN_FRAG));
  c.clientCloses();
}

/** E: a response whose frag_length lies; the client gives up with a reset. */
function connectionE(w: SampleWriter): void {
  const c = new TcpConnection(w, 49735, 135, 0x3d9c40b6, 0x9f62e1c8);
  c.open();
  c.clientSends(encode(writeBind, { callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, contexts: [ctx(0, EPM, NDR)] }));
  c.serverSends(encode(writeBindAck, {
    callId: 1, maxXmit: WINDOWS_FRAG, maxRecv: WINDOWS_FRAG, assocGroup: 0x0000b8e4, secAddr: '135',
    results: [{ result: RESULT_ACCEPTANCE, transfer: NDR }],
  }));
  c.clientSends(mapRequest(2, 0, false, EMSMDB));
  const bad = mapResponse(2, 0, false, SAMPLE_EMSMDB_PORTS.map((p) => tcpTower(EMSMDB, p, SERVER)), EPT_S_OK);
  bad[DCERPC_OFF_FRAG_LEN] = MALFORMED_FRAG_LEN & 0xff;
  bad[DCERPC_OFF_FRAG_LEN + 1] = MALFORMED_FRAG_LEN >>> 8;
  c.serverSends(bad);
  c.clientResets();
}

/** Writes the sample capture (classic pcap, microseconds, Ethernet) to `path`. */
export function buildSampleCapture(path: string): void {
  const out = CaptureFileWriter.create(path, 'pcap', LINKTYPE_ETHERNET);
  try {
    const w = new SampleWriter(out);
    const gapUs = 212_000; // between one connection's close and the next connection
    connectionA(w);
    w.after(gapUs);
    connectionB(w);
    w.after(gapUs);
    connectionD(w);
    w.after(4_870_000); // some seconds later an administrator enumerates the endpoints
    connectionC(w);
    w.after(gapUs);
    connectionE(w);
  } finally {
    out.close();
  }
}
