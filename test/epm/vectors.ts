/**
 * Byte vectors shared by the epm tests, annotated field by field.
 * Towers are fixed-order bytes (B.5): lengths LE, UUID-floor fields LE, ports BE, IPv4 as is.
 */

/** Bytes of hex text; `//` comments and whitespace are ignored. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex: ${digits}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Concatenation of byte arrays. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** `bytes` copied at `off` into a 0xa5-filled buffer with `tail` spare bytes after it. */
export function placed(bytes: Uint8Array, off: number, tail = 0): Uint8Array {
  const buf = new Uint8Array(off + bytes.length + tail).fill(0xa5);
  buf.set(bytes, off);
  return buf;
}

/** A 0xa5-filled buffer (unwritten bytes show up as a5). */
export function filled(size: number): Uint8Array {
  return new Uint8Array(size).fill(0xa5);
}

export const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
export const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
export const NDR = '8a885d04-1ceb-11c9-9fe8-08002b104860';
export const NDR64 = '71710533-beba-4937-8319-b5dbef9ccc36';

/** Floor 1, EMSMDB v0.81 (25 bytes). */
const FLOOR_EMSMDB = `
  13 00                                              // lhs_length 19
  0d                                                 // protocol id: UUID
  00 db f1 a4 47 ca 67 10 b3 1f 00 dd 01 06 62 da    // a4f1db00-ca47-1067-b31f-00dd010662da (LE)
  00 00                                              // major 0 (LE)
  02 00  51 00                                       // rhs_length 2, minor 81 (LE)
`;
/** Floor 1, NSPI v56.0. */
const FLOOR_NSPI = `
  13 00  0d  18 5a cc f5 64 42 1a 10 8c 59 08 00 2b 2f 84 26  38 00   // NSPI f5cc5a18-..., major 56
  02 00  00 00                                                         // minor 0
`;
/** Floor 2, NDR 2.0 (what Windows puts there even in NDR64 calls). */
const FLOOR_NDR = `
  13 00  0d  04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60  02 00   // 8a885d04-..., major 2
  02 00  00 00                                                         // minor 0
`;
const FLOOR_NCACN = `01 00 0b  02 00 00 00   // floor 3: lhs 1, ncacn (0x0b); rhs 2, minor 0`;

/** The exact 75-byte EMSMDB request tower of protocol-notes B.5 (port 0, IP 0.0.0.0). */
export const TOWER_EMSMDB_REQ = hex(`
  05 00                    // floor_count 5
  ${FLOOR_EMSMDB}
  ${FLOOR_NDR}
  ${FLOOR_NCACN}
  01 00 07  02 00 00 00    // floor 4: TCP port, rhs 2: port 0 (BE)      tower off 64..65
  01 00 09  04 00 00 00 00 00 // floor 5: IPv4, rhs 4: 0.0.0.0           tower off 71..74
`);

/** EMSMDB at 192.168.0.2:1032 (what the 2003 Exchange server answered, frame 705). */
export const TOWER_EMSMDB_TCP = hex(`
  05 00
  ${FLOOR_EMSMDB}
  ${FLOOR_NDR}
  ${FLOOR_NCACN}
  01 00 07  02 00 04 08    // port 1032 (BE)
  01 00 09  04 00 c0 a8 00 02 // 192.168.0.2
`);

/** NSPI at 192.168.0.2:4997. */
export const TOWER_NSPI_TCP = hex(`
  05 00
  ${FLOOR_NSPI}
  ${FLOOR_NDR}
  ${FLOOR_NCACN}
  01 00 07  02 00 13 85    // port 4997
  01 00 09  04 00 c0 a8 00 02 // 192.168.0.2
`);

/** NSPI over ncacn_np: pipe \PIPE\x, host \\SRVAB (85 bytes: not a multiple of 4 or 8 past its start). */
export const TOWER_NSPI_NP = hex(`
  05 00
  ${FLOOR_NSPI}
  ${FLOOR_NDR}
  ${FLOOR_NCACN}
  01 00 0f  08 00 5c 50 49 50 45 5c 78 00    // floor 4: named pipe, rhs 8: "\\PIPE\\x\\0"
  01 00 11  08 00 5c 5c 53 52 56 41 42 00    // floor 5: NetBIOS host, rhs 8: "\\\\SRVAB\\0"
`);

/** EMSMDB over ncalrpc, endpoint OLE1 (4 floors, 69 bytes). */
export const TOWER_EMSMDB_LRPC = hex(`
  04 00                    // floor_count 4
  ${FLOOR_EMSMDB}
  ${FLOOR_NDR}
  01 00 0c  02 00 00 00    // floor 3: ncalrpc (0x0c), minor 0
  01 00 10  05 00 4f 4c 45 31 00             // floor 4: local pipe, rhs 5: "OLE1\\0"
`);

/**
 * NSPI over ncacn_http port 5000 whose floor 5 is protocol 0x20 with c0a80002 (not 0x09), as the
 * 2003 Exchange server registered it (ept_lookup answer in exchange-outlook-mapi-epm.pcap).
 */
export const TOWER_NSPI_HTTP_0X20 = hex(`
  05 00
  ${FLOOR_NSPI}
  ${FLOOR_NDR}
  ${FLOOR_NCACN}
  01 00 1f  02 00 13 88    // floor 4: HTTP port 5000 (BE)
  01 00 20  04 00 c0 a8 00 02 // floor 5: unknown protocol 0x20, rhs 4
`);
