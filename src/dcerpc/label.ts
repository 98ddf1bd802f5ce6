/**
 * `uuid@major.minor`, the interface label of refusal and connection records, as one flat string:
 * a template over the UUID text leaves a chain of cons strings behind, ~125 bytes more for every
 * connection that keeps its label.
 */
import { uuidToString } from './uuid.js';

const CODES: number[] = [];

/** The label of the interface UUID at buf[off] (NDR byte order `littleEndian`; towers: true). */
export function interfaceLabel(buf: Uint8Array, off: number, littleEndian: boolean, major: number, minor: number): string {
  const text = `${uuidToString(buf, off, littleEndian)}@${major}.${minor}`;
  CODES.length = 0;
  for (let i = 0; i < text.length; i++) CODES.push(text.charCodeAt(i));
  return String.fromCharCode.apply(null, CODES);
}
