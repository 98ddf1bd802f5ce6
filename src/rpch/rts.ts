/**
 * The RTS PDUs the RPC proxy reads and writes (MS-RPCH 2.2.4), over the dcerpc layer's one RTS
 * codec (readRts / writeRts): this module only picks out the command values a proxy acts on and
 * builds the few PDUs it sends.
 *
 *   CONN/A1  client -> OUT channel: Version, VC cookie, OUT channel cookie, ReceiveWindowSize
 *   CONN/B1  client -> IN channel:  Version, VC cookie, IN channel cookie, ChannelLifetime,
 *                                   ClientKeepalive, AssociationGroupId
 *   CONN/A3  proxy -> client (OUT): ConnectionTimeout
 *   CONN/C2  proxy -> client (OUT): Version, ReceiveWindowSize (the IN channel's), ConnectionTimeout
 *   FlowControlAck (flags OTHER_CMD): BytesReceived, AvailableWindow, ChannelCookie — the client
 *            sends it (often with a Destination) for the OUT channel, the proxy for the IN channel
 *   Ping (flags PING, no command), Echo (flags ECHO, no command)
 */
import { OK } from '../wire/status.js';
import {
  RTS_CMD_ASSOCIATION_GROUP_ID, RTS_CMD_CHANNEL_LIFETIME, RTS_CMD_CLIENT_KEEPALIVE, RTS_CMD_CONNECTION_TIMEOUT,
  RTS_CMD_COOKIE, RTS_CMD_DESTINATION, RTS_CMD_FLOW_CONTROL_ACK, RTS_CMD_RECEIVE_WINDOW_SIZE, RTS_CMD_VERSION,
  RTS_FLAG_ECHO, RTS_FLAG_NONE, RTS_FLAG_OTHER_CMD, RTS_FLAG_PING,
} from '../dcerpc/constants.js';
import { rd32 } from '../dcerpc/ndr.js';
import { RtsView, readRts, writeRts } from '../dcerpc/pdu.js';

export const COOKIE_LEN = 16;
const MAX_COOKIES = 4;

/** The values of one RTS PDU the proxy acts on; offsets absolute in the PDU's buffer, -1 absent. */
export class RtsValues {
  flags = 0;
  nCommands = 0;
  readonly cookieOff = new Int32Array(MAX_COOKIES);
  nCookies = 0;
  receiveWindowSize = -1;
  connectionTimeout = -1;
  channelLifetime = -1;
  clientKeepalive = -1;
  version = -1;
  destination = -1;
  ackBytesReceived = 0;
  ackAvailableWindow = 0;
  ackCookieOff = -1;
  assocGroupOff = -1;
  errOffset = 0;
  errReason = '';
}

const VIEW = new RtsView();

/** Reads the RTS PDU buf[off, off + len) into `v`; false (errOffset in the PDU, errReason) if malformed. */
export function readRtsValues(buf: Uint8Array, off: number, len: number, v: RtsValues): boolean {
  const r = VIEW;
  v.nCookies = 0;
  v.receiveWindowSize = v.connectionTimeout = v.channelLifetime = v.clientKeepalive = v.version = v.destination = -1;
  v.ackCookieOff = v.assocGroupOff = -1;
  v.ackBytesReceived = v.ackAvailableWindow = 0;
  if (readRts(buf, off, len, r) !== OK) {
    v.errOffset = r.errOffset - off;
    v.errReason = r.errReason;
    return false;
  }
  if (!r.littleEndian) {
    v.errOffset = 4;
    v.errReason = 'RTS PDU in big-endian byte order (MS-RPCH requires little-endian)';
    return false;
  }
  v.flags = r.flags;
  v.nCommands = r.numberOfCommands;
  for (let i = 0; i < r.numberOfCommands; i++) {
    const at = r.commandOff[i]!;
    const body = at + 4;
    switch (r.commandType[i]) {
      case RTS_CMD_RECEIVE_WINDOW_SIZE: v.receiveWindowSize = rd32(buf, body, true); break;
      case RTS_CMD_CONNECTION_TIMEOUT: v.connectionTimeout = rd32(buf, body, true); break;
      case RTS_CMD_CHANNEL_LIFETIME: v.channelLifetime = rd32(buf, body, true); break;
      case RTS_CMD_CLIENT_KEEPALIVE: v.clientKeepalive = rd32(buf, body, true); break;
      case RTS_CMD_VERSION: v.version = rd32(buf, body, true); break;
      case RTS_CMD_DESTINATION: v.destination = rd32(buf, body, true); break;
      case RTS_CMD_ASSOCIATION_GROUP_ID: v.assocGroupOff = body; break;
      case RTS_CMD_COOKIE:
        if (v.nCookies < MAX_COOKIES) v.cookieOff[v.nCookies++] = body;
        break;
      case RTS_CMD_FLOW_CONTROL_ACK:
        v.ackBytesReceived = rd32(buf, body, true);
        v.ackAvailableWindow = rd32(buf, body + 4, true);
        v.ackCookieOff = body + 8;
        break;
      default:
        break;
    }
  }
  return true;
}

function build(flags: number, commands: Parameters<typeof writeRts>[2]['commands']): Buffer {
  const b = Buffer.alloc(256);
  const n = writeRts(b, 0, { flags, commands });
  return b.subarray(0, n);
}

/** CONN/A3 (2.2.4.4). */
export function connA3(connectionTimeoutMs: number): Buffer {
  return build(RTS_FLAG_NONE, [{ type: RTS_CMD_CONNECTION_TIMEOUT, value: connectionTimeoutMs }]);
}

/** CONN/C2 (2.2.4.9): `receiveWindowSize` is the proxy's IN channel window. */
export function connC2(receiveWindowSize: number, connectionTimeoutMs: number): Buffer {
  return build(RTS_FLAG_NONE, [
    { type: RTS_CMD_VERSION, value: 1 },
    { type: RTS_CMD_RECEIVE_WINDOW_SIZE, value: receiveWindowSize },
    { type: RTS_CMD_CONNECTION_TIMEOUT, value: connectionTimeoutMs },
  ]);
}

/** FlowControlAck RTS PDU (2.2.4.50). */
export function flowControlAck(bytesReceived: number, availableWindow: number, channelCookie: Uint8Array): Buffer {
  return build(RTS_FLAG_OTHER_CMD, [{
    type: RTS_CMD_FLOW_CONTROL_ACK, bytesReceived: bytesReceived >>> 0, availableWindow, cookie: channelCookie,
  }]);
}

/** Ping RTS PDU (2.2.4.49). */
export function ping(): Buffer {
  return build(RTS_FLAG_PING, []);
}

/** Echo RTS PDU (2.2.4.47), the answer to a client's echo request. */
export function echo(): Buffer {
  return build(RTS_FLAG_ECHO, []);
}

/** Cookie bytes as hex: the key of a virtual connection (per channel set-up, not per PDU). */
export function cookieHex(buf: Uint8Array, off: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + off, COOKIE_LEN).toString('hex');
}
