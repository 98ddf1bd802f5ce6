/**
 * Annotated PDU byte vectors, every one written by hand from the layouts of C706 ch. 12,
 * MS-RPCE 2.2 and MS-RPCH 2.2 (protocol-notes sections A and B). None is copied from a capture:
 * the project carries no third-party bytes. Values (call ids, fragment sizes, association groups,
 * ports, addresses from 192.0.2.0/24, auth context ids, signatures and encrypted-looking bytes)
 * were made up for these tests. The well-known constants (interface and transfer-syntax UUIDs,
 * Windows' BTFN bitmask 3, the EPM's sec_addr "135") come from the specifications.
 */
import { hex } from './bytes.js';

const EPM = '08 83 af e1 1f 5d c9 11 91 a4 08 00 2b 14 a0 fa';
const NDR = '04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60';
const NDR64 = '33 05 71 71 ba be 37 49 83 19 b5 db ef 9c cc 36';
const BTFN = '2c 1c b7 6c 12 98 40 45 03 00 00 00 00 00 00 00';
const NIL = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';

/**
 * ncacn_ip_tcp tower (B.5, 75 bytes) for NSPI f5cc5a18-4264-101a-8c59-08002b2f8426 v56.0 with
 * the given port and IPv4 floor bytes. Tower integers are little-endian whatever the drep; the
 * port is big-endian.
 */
function nspiTower(portBE: string, ipv4: string): string {
  return [
    '05 00', // floor_count 5
    '13 00', '0d', '18 5a cc f5 64 42 1a 10 8c 59 08 00 2b 2f 84 26', '38 00', // floor 1 lhs: 19 bytes, UUID floor, NSPI, major 56
    '02 00', '00 00', // floor 1 rhs: minor 0
    '13 00', '0d', NDR, '02 00', '02 00', '00 00', // floor 2: NDR v2.0
    '01 00', '0b', '02 00', '00 00', // floor 3: ncacn (connection-oriented), minor 0
    '01 00', '07', '02 00', portBE, // floor 4: TCP port (tower offset 64)
    '01 00', '09', '04 00', ipv4, // floor 5: IPv4 (tower offset 71)
  ].join(' ');
}

/** A Windows-style EPM bind: EPM v3.0 offered three times, with NDR, NDR64 and BTFN. */
export const BIND_3CTX = hex(
  '05 00 0b 03', // rpc_vers 5.0, PTYPE bind, FIRST|LAST
  '10 00 00 00', // drep little-endian, ASCII, IEEE
  'a0 00 00 00', // frag_length 160, auth_length 0
  '15 00 00 00', // call_id 21
  'b8 10 d0 16', // max_xmit_frag 4280, max_recv_frag 5840
  '00 00 00 00', // assoc_group_id 0 (new association group)
  '03 00 00 00', // n_context_elem 3, reserved, reserved2
  // context 0 (offset 28)
  '00 00 01 00', // p_cont_id 0, n_transfer_syn 1, reserved
  EPM, '03 00 00 00', // abstract EPM v3.0
  NDR, '02 00 00 00', // transfer NDR v2
  // context 1 (offset 72)
  '01 00 01 00', EPM, '03 00 00 00', NDR64, '01 00 00 00', // NDR64 v1
  // context 2 (offset 116)
  '02 00 01 00', EPM, '03 00 00 00', BTFN, '01 00 00 00', // BTFN, bitmask 3, v1
);

/** The server's answer to BIND_3CTX: NDR rejected, NDR64 accepted, BTFN negotiate_ack. */
export const BIND_ACK_135 = hex(
  '05 00 0c 03', '10 00 00 00', // bind_ack, FIRST|LAST, LE
  '6c 00 00 00', // frag_length 108, auth_length 0
  '15 00 00 00', // call_id 21
  'd0 16 b8 10', // max_xmit 5840 (the client's max_recv), max_recv 4280 (the client's max_xmit)
  '4e 3a 01 00', // assoc_group_id 0x00013a4e
  '04 00', // sec_addr.length 4
  '31 33 35 00', // "135\0" (offsets 26..29)
  '00 00', // pad to 32 (relative to PDU start)
  '03 00 00 00', // n_results 3, reserved
  '02 00 02 00', NIL, '00 00 00 00', // provider_rejection, proposed_transfer_syntaxes_not_supported
  '00 00 00 00', NDR64, '01 00 00 00', // acceptance, NDR64 v1 (transfer UUID at offset 64)
  '03 00 03 00', NIL, '00 00 00 00', // negotiate_ack, BTFN bitmask 3 in the reason field
);

/** Hand-made: bind_ack with sec_addr.length 0 (2 pad bytes), one acceptance of NDR. */
export const BIND_ACK_EMPTY_SECADDR = hex(
  '05 00 0c 03', '10 00 00 00',
  '38 00 00 00', // frag_length 56
  '07 00 00 00', // call_id 7
  'b8 10 b8 10', // 4280 / 4280
  '00 00 00 00', // assoc group 0
  '00 00', // sec_addr.length 0
  '00 00', // pad: 26 -> 28
  '01 00 00 00', // n_results 1
  '00 00 00 00', NDR, '02 00 00 00', // acceptance, NDR v2
);

/** Hand-made: bind_nak, protocol version not supported, versions {5.0}, no Signature. */
export const BIND_NAK_PLAIN = hex(
  '05 00 0d 03', '10 00 00 00',
  '15 00 00 00', // frag_length 21
  '09 00 00 00', // call_id 9
  '04 00', // provider_reject_reason 4 (protocol_version_not_supported)
  '01', // n_protocols 1
  '05 00', // version 5.0
);

/** Hand-made: bind_nak with the extended-error Signature and 3 bytes of extended error info. */
export const BIND_NAK_SIGNED = hex(
  '05 00 0d 03', '10 00 00 00',
  '28 00 00 00', // frag_length 40
  '09 00 00 00',
  '02 00', // local_limit_exceeded
  '01 05 00', // 1 version: 5.0
  '20 03 74 90 d0 fa d3 11 82 d7 00 90 27 b1 30 ab', // Signature 90740320-fad0-11d3-82d7-009027b130ab
  'aa bb cc', // extended error information
);

/** NDR64 ept_map request on p_cont_id 1 asking for NSPI v56.0 (stub 144 bytes, B.3). */
export const REQUEST_EPT_MAP_NDR64 = hex(
  '05 00 00 03', '10 00 00 00', // request, FIRST|LAST, LE
  'a8 00 00 00', // frag_length 168, auth_length 0
  '16 00 00 00', // call_id 22
  '90 00 00 00', // alloc_hint 144
  '01 00', // p_cont_id 1 (the NDR64 context)
  '03 00', // opnum 3 ept_map
  // stub (offset 24)
  '01 00 00 00 00 00 00 00', NIL, // object: referent u64 1, nil UUID
  '02 00 00 00 00 00 00 00', // map_tower referent u64 2
  '4b 00 00 00 00 00 00 00', // twr_t max_count 75 (u64)
  '4b 00 00 00', // tower_length 75
  nspiTower('00 00', '00 00 00 00'), // port 0, IPv4 0.0.0.0 (the client leaves them empty)
  '00', // pad to 4
  '00 00 00 00', NIL, // entry_handle (20 zero bytes: first call)
  '02 00 00 00', // max_towers 2
);

/** The NDR64 ept_map response: one tower, NSPI on 192.0.2.47:4997 (stub 148 bytes, B.4). */
export const RESPONSE_EPT_MAP_NDR64 = hex(
  '05 00 02 03', '10 00 00 00', // response, FIRST|LAST, LE
  'ac 00 00 00', // frag_length 172
  '16 00 00 00', // call_id 22
  '94 00 00 00', // alloc_hint 148
  '01 00', // p_cont_id 1
  '00', '00', // cancel_count 0, reserved
  NIL, '00 00 00 00', // entry_handle (20)
  '01 00 00 00', // num_towers 1 (u32)
  '02 00 00 00 00 00 00 00', // towers max_count 2 (u64, the request's max_towers)
  '00 00 00 00 00 00 00 00', // offset 0
  '01 00 00 00 00 00 00 00', // actual_count 1
  '03 00 00 00 00 00 00 00', // tower referent id 3
  '4b 00 00 00 00 00 00 00 4b 00 00 00', // twr_t max_count 75 (u64), tower_length 75
  nspiTower('13 85', 'c0 00 02 2f'), // port 4997, IPv4 192.0.2.47
  '00', // pad to 4
  '00 00 00 00', // status 0
);

/**
 * NTLM packet-privacy request (auth level 6): EMSMDB EcDoRpcExt2 (opnum 11), 36 encrypted stub
 * bytes padded to 48 (16-byte alignment, MS-RPCE 2.2.2.11), sec_trailer, 16-byte NTLMSSP signature.
 */
export const REQUEST_NTLM_PRIVACY = hex(
  '05 00 00 03', '10 00 00 00', // request, FIRST|LAST, LE
  '60 00', // frag_length 96
  '10 00', // auth_length 16
  '2f 00 00 00', // call_id 47
  '24 00 00 00', // alloc_hint 36
  '00 00', // p_cont_id 0
  '0b 00', // opnum 11
  // encrypted stub, 36 bytes (offsets 24..59)
  'ac 84 4c bb bc ab 08 76 9b 3f 19 d0 b7 99 2b 5d 3f 0f 67 a7 01 78 99 9a d4 cd 6b ec bf d3 7e 1c 84 bd 8e c1',
  '74 6f 4d db 1c c0 0f a8 cf b9 30 d4', // auth pad, 12 bytes (encrypted with the stub, so not zeros)
  '0a 06 0c 00', // sec_trailer (offset 72): auth_type 10 NTLM, level 6 privacy, pad 12, reserved
  'c1 a7 00 00', // auth_context_id 0xa7c1
  '01 00 00 00', // NTLMSSP signature (offset 80): version 1
  'e1 a9 1e 3b 5c 1f 94 a6', // checksum
  '03 00 00 00', // sequence number 3
);

/** The NTLM privacy response to REQUEST_NTLM_PRIVACY: 40 stub bytes padded by 8 to 48. */
export const RESPONSE_NTLM_PRIVACY = hex(
  '05 00 02 03', '10 00 00 00', // response, FIRST|LAST, LE
  '60 00 10 00', // frag_length 96, auth_length 16
  '2f 00 00 00', // call_id 47
  '28 00 00 00', // alloc_hint 40
  '00 00 00 00', // p_cont_id 0, cancel_count 0, reserved
  // encrypted stub, 40 bytes (offsets 24..63)
  '6a 05 ab 08 79 7f b8 be da 17 4a 26 81 86 05 e8 87 45 2c 7a a0 b2 e0 ef c0 18 27 93 71 50 fc d2 5f 5e 91 1d 1a e4 ab 24',
  'c0 be d4 32 93 01 b8 62', // auth pad, 8 bytes
  '0a 06 08 00', // sec_trailer (offset 72): NTLM, privacy, pad 8, reserved
  'c1 a7 00 00', // auth_context_id 0xa7c1
  '01 00 00 00 55 6f a5 4b d0 26 b1 a2 02 00 00 00', // signature: version 1, checksum, sequence 2
);

/**
 * fault nca_s_unk_if with extended error information (fault flag bit 0): the stub is an
 * ExtendedErrorInfo (MS-EERR 2.2.1) pickled with type serialization v1 (MS-RPCE 2.2.6).
 */
export const FAULT_EEINFO = hex(
  '05 00 03 23', // fault, FIRST|LAST|DID_NOT_EXECUTE
  '10 00 00 00', // drep LE
  '80 00 00 00', // frag_length 128, auth_length 0
  '1c 00 00 00', // call_id 28
  '60 00 00 00', // alloc_hint 96
  '01 00', // p_cont_id 1
  '00', // cancel_count
  '01', // fault flags: extended error present
  '03 00 01 1c', // status 0x1c010003 nca_s_unk_if
  '00 00 00 00', // reserved
  // stub (offset 32; offsets below are from the stub start)
  '01 10 08 00 cc cc cc cc', // 0 common header: version 1, drep 0x10, length 8, filler
  '50 00 00 00 00 00 00 00', // 8 private header: object buffer length 80, filler
  '00 00 02 00', // 16 ExtendedErrorInfoPtr referent id 0x00020000
  '00 00 00 00', // 20 conformance of Params[] (= nLen 0), hoisted before the struct
  '00 00 00 00', // 24 Next: NULL (a single record)
  '01 00 01 00', // 28 ComputerName.Type eecnpPresent, union discriminant 1
  '07 00 00 00', // 32 Name.nLength 7 (UTF-16 units with the NUL), pad
  '04 00 02 00', // 36 Name.pString referent id 0x00020004
  '3c 0d 00 00', // 40 ProcessID 3388
  '00 00 00 00', // 44 pad to 8
  '80 3e c9 5a 6f 47 c6 01', // 48 TimeStamp (FILETIME 0x01c6476f5ac93e80)
  '02 00 00 00', // 56 GeneratingComponent 2
  'b5 06 00 00', // 60 Status 1717 (RPC_S_UNKNOWN_IF)
  '38 01 00 00', // 64 DetectionLocation 0x138, Flags 0
  '00 00 00 00', // 68 nLen 0 (no parameters), pad
  '07 00 00 00', // 72 deferred pString: max_count 7
  '45 00 58 00 43 00 48 00 30 00 31 00 00 00', // 76 "EXCH01\0" UTF-16LE
  '00 00 00 00 00 00', // 90 pad: the object buffer is a multiple of 8 (16 + 80 = 96)
);

/** auth3 (third NTLM leg): 4 "pad" bytes holding max_xmit/max_recv, then the trailer. */
export const AUTH3_NTLM = hex(
  '05 00 10 07', // auth3, FIRST|LAST|SUPPORT_HEADER_SIGN
  '10 00 00 00',
  '24 00 08 00', // frag_length 36, auth_length 8
  '2e 00 00 00', // call_id 46
  'b8 10 b8 10', // pad: max_xmit 4280, max_recv 4280
  '0a 06 00 00', // NTLM, privacy, pad 0
  '00 00 00 00', // auth_context_id 0
  '4e 54 4c 4d 53 53 50 00', // "NTLMSSP\0" (the AUTHENTICATE token cut short for the test)
);

/** Hand-made: shutdown, header only. */
export const SHUTDOWN = hex('05 00 11 03', '10 00 00 00', '10 00 00 00', '00 00 00 00');

/** Hand-made: RTS CONN/A1 (MS-RPCH 2.2.4.2), 76 bytes. */
export const RTS_CONN_A1 = hex(
  '05 00 14 03', '10 00 00 00',
  '4c 00 00 00', // frag_length 76
  '00 00 00 00', // call_id 0
  '00 00', // Flags RTS_FLAG_NONE
  '04 00', // NumberOfCommands 4
  '06 00 00 00 01 00 00 00', // Version 1
  '03 00 00 00 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11', // Cookie: VirtualConnectionCookie
  '03 00 00 00 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22', // Cookie: OUTChannelCookie
  '00 00 00 00 00 00 01 00', // ReceiveWindowSize 65536
);

/** Hand-made: request with PFC_OBJECT_UUID (object UUID between opnum and stub). */
export const REQUEST_WITH_OBJECT = hex(
  '05 00 00 83', // request, FIRST|LAST|OBJECT_UUID
  '10 00 00 00',
  '2c 00 00 00', // frag_length 44, auth_length 0
  '04 00 00 00', // call_id 4
  '04 00 00 00', // alloc_hint 4
  '00 00', // p_cont_id 0
  '07 00', // opnum 7
  'b4 f0 e7 b0 57 8d f5 4e a6 b4 1a 0e 0f 7b 5b 53', // object b0e7f0b4-8d57-4ef5-a6b4-1a0e0f7b5b53
  '01 02 03 04', // stub (offset 40)
);
