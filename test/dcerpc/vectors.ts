/**
 * Annotated PDU byte vectors. Those marked "real" are copied from public captures in
 * ../shared/pcaps/public (checked with tshark); the others are written by hand from C706 /
 * MS-RPCE / MS-RPCH layouts.
 */
import { hex } from './bytes.js';

const EPM = '08 83 af e1 1f 5d c9 11 91 a4 08 00 2b 14 a0 fa';
const NDR = '04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60';
const NDR64 = '33 05 71 71 ba be 37 49 83 19 b5 db ef 9c cc 36';
const BTFN = '2c 1c b7 6c 12 98 40 45 03 00 00 00 00 00 00 00';
const NIL = '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00';

/** Real: otrf-psexec-svcctl-tcp-epm.cap frame 4, Windows bind to the EPM with NDR, NDR64, BTFN. */
export const BIND_3CTX = hex(
  '05 00 0b 03', // rpc_vers 5.0, PTYPE bind, FIRST|LAST
  '10 00 00 00', // drep little-endian
  'a0 00 00 00', // frag_length 160, auth_length 0
  '02 00 00 00', // call_id 2
  'd0 16 d0 16', // max_xmit_frag 5840, max_recv_frag 5840
  '00 00 00 00', // assoc_group_id 0
  '03 00 00 00', // n_context_elem 3, reserved
  // context 0 (offset 28)
  '00 00 01 00', // p_cont_id 0, n_transfer_syn 1, reserved
  EPM, '03 00 00 00', // abstract EPM v3.0
  NDR, '02 00 00 00', // transfer NDR v2
  // context 1 (offset 72)
  '01 00 01 00', EPM, '03 00 00 00', NDR64, '01 00 00 00',
  // context 2 (offset 116)
  '02 00 01 00', EPM, '03 00 00 00', BTFN, '01 00 00 00',
);

/** Real: same capture frame 5, the bind_ack: NDR rejected, NDR64 accepted, BTFN negotiate_ack. */
export const BIND_ACK_135 = hex(
  '05 00 0c 03', '10 00 00 00', // bind_ack, FIRST|LAST, LE
  '6c 00 00 00', // frag_length 108, auth_length 0
  '02 00 00 00', // call_id 2
  'd0 16 d0 16', // max_xmit/max_recv 5840
  'd5 74 00 00', // assoc_group_id 0x74d5
  '04 00', // sec_addr.length 4
  '31 33 35 00', // "135\0" (offsets 26..29)
  '00 00', // pad to 32 (relative to PDU start)
  '03 00 00 00', // n_results 3
  '02 00 02 00', NIL, '00 00 00 00', // provider_rejection, proposed_transfer_syntaxes_not_supported
  '00 00 00 00', NDR64, '01 00 00 00', // acceptance, NDR64 v1
  '03 00 03 00', NIL, '00 00 00 00', // negotiate_ack, BTFN bitmask 3
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

/** Real: otrf-psexec frame 6, NDR64 ept_map request on p_cont_id 1 (stub 144 bytes). */
export const REQUEST_EPT_MAP_NDR64 = hex(
  '05 00 00 03', '10 00 00 00',
  'a8 00 00 00', // frag_length 168, auth_length 0
  '02 00 00 00', // call_id 2
  '90 00 00 00', // alloc_hint 144
  '01 00', // p_cont_id 1
  '03 00', // opnum 3 ept_map
  // stub (offset 24): object referent u64 1, nil UUID, map_tower referent u64 2, ...
  '01 00 00 00 00 00 00 00', NIL,
  '02 00 00 00 00 00 00 00', '4b 00 00 00 00 00 00 00', '4b 00 00 00',
  '05 00 13 00 0d 81 bb 7a 36 44 98 f1 35 ad 32 98 f0 38 00 10 03 02 00 02 00 00 00',
  '13 00 0d 04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60 02 00 02 00 00 00',
  '01 00 0b 02 00 00 00 01 00 07 02 00 00 87 01 00 09 04 00 00 00 00 00',
  '00', // pad
  '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00', // entry_handle
  '04 00 00 00', // max_towers 4
);

/** Real: otrf-psexec frame 7, the NDR64 ept_map response (stub 148 bytes). */
export const RESPONSE_EPT_MAP_NDR64 = hex(
  '05 00 02 03', '10 00 00 00',
  'ac 00 00 00', // frag_length 172
  '02 00 00 00',
  '94 00 00 00', // alloc_hint 148
  '01 00', // p_cont_id 1
  '00', '00', // cancel_count 0, reserved
  NIL, '00 00 00 00', // entry_handle (20)
  '01 00 00 00', // num_towers 1 (u32)
  '04 00 00 00 00 00 00 00', // towers max_count 4 (u64)
  '00 00 00 00 00 00 00 00', // offset 0
  '01 00 00 00 00 00 00 00', // actual_count 1
  '03 00 00 00 00 00 00 00', // tower referent id 3
  '4b 00 00 00 00 00 00 00 4b 00 00 00', // twr_t max_count 75 (u64), tower_length 75
  '05 00 13 00 0d 81 bb 7a 36 44 98 f1 35 ad 32 98 f0 38 00 10 03 02 00 02 00 00 00',
  '13 00 0d 04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60 02 00 02 00 00 00',
  '01 00 0b 02 00 00 00 01 00 07 02 00 c2 3e 01 00 09 04 00 ac 12 27 06',
  '00 00 00 00 00', // pad + status 0
);

/** Real: scapy-svcctl-ntlm-privacy-epm.pcapng frame 14, NTLM level 6 request, opnum 64, pad 4. */
export const REQUEST_NTLM_PRIVACY = hex(
  '05 00 00 03', '10 00 00 00',
  '70 00', // frag_length 112
  '10 00', // auth_length 16
  '02 00 00 00', // call_id 2
  '3c 00 00 00', // alloc_hint 60
  '00 00', // p_cont_id 0
  '40 00', // opnum 64
  // encrypted stub, 60 bytes (offsets 24..83)
  'c2 f4 9c 21 d4 be a9 77 48 a2 69 ff 0b 0f 39 59 50 50 d4 59 aa cc 4f 54 f7 f1 f8 88 99 2a',
  'f5 f3 56 4b f4 35 bc 51 d9 20 2d b3 08 37 d0 13 b6 38 5a b2 2b 36 83 ba 6d 47 01 3b 69 fa',
  '69 0a ed aa', // auth pad, 4 bytes (encrypted with the stub)
  '0a 06 04 00', // sec_trailer (offset 88): auth_type 10 NTLM, level 6 privacy, pad 4, reserved
  '00 00 00 00', // auth_context_id 0
  '01 00 00 00 c9 26 17 d0 bd 7e 73 0f 00 00 00 00', // NTLMSSP signature (offset 96)
);

/** Real: scapy-svcctl frame 18, NTLM level 6 response, stub 24 + pad 8. */
export const RESPONSE_NTLM_PRIVACY = hex(
  '05 00 02 03', '10 00 00 00',
  '50 00 10 00', // frag_length 80, auth_length 16
  '03 00 00 00', // call_id 3
  '18 00 00 00', // alloc_hint 24
  '00 00 00 00', // p_cont_id 0, cancel_count 0, reserved
  '05 bf 16 75 c2 5f d3 cb 02 0f 58 17 3a c8 68 28 1a 6a a6 a3 c1 07 e1 96', // stub 24
  'b8 9d eb 57 6c be 40 e6', // pad 8
  '0a 06 08 00 00 00 00 00', // NTLM, privacy, pad 8, context 0
  '01 00 00 00 a0 e9 20 13 d7 c1 1f 96 00 00 00 00', // signature
);

/** Real: scapy-svcctl frame 16, fault nca_op_rng_error with extended error stub (88 bytes). */
export const FAULT_OP_RNG = hex(
  '05 00 03 23', // fault, FIRST|LAST|DID_NOT_EXECUTE
  '10 00 00 00',
  '78 00 00 00', // frag_length 120
  '02 00 00 00', // call_id 2
  '78 00 00 00', // alloc_hint 120
  '00 00', // p_cont_id 0
  '00', // cancel_count
  '01', // fault flags: extended error present
  '02 00 01 1c', // status 0x1c010002 nca_op_rng_error
  '00 00 00 00', // reserved
  '01 10 08 00 cc cc cc cc 48 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00 00',
  '01 00 01 00 04 00 00 00 04 00 02 00 ac 02 00 00 00 00 00 00 a0 ac 12 83 a4 75 da 01',
  '02 00 00 00 d1 06 00 00 b7 00 00 00 00 00 00 00 04 00 00 00 44 00 43 00 31 00 00 00',
  '00 00 00 00',
);

/**
 * Hand-made, shaped like the auth3 in smbexec-svcctl-epm.pcap frame 7 (which carries a 534-byte
 * NTLMSSP AUTHENTICATE): 4 "pad" bytes holding max_xmit/max_recv, then the trailer.
 */
export const AUTH3_NTLM = hex(
  '05 00 10 07', // auth3, FIRST|LAST|SUPPORT_HEADER_SIGN
  '10 00 00 00',
  '24 00 08 00', // frag_length 36, auth_length 8
  '02 00 00 00',
  'd0 16 d0 16', // pad: max_xmit 5840, max_recv 5840
  '0a 06 00 00', // NTLM, privacy, pad 0
  '00 00 00 00', // auth_context_id 0
  '4e 54 4c 4d 53 53 50 00', // "NTLMSSP\0" (token truncated for the test)
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
