/** interfaceLabel: the interface text of records, `uuid@major.minor`, in either NDR byte order. */
import { describe, expect, it } from 'vitest';
import { interfaceLabel } from '../../src/dcerpc/label.js';
import { parseUuid } from '../../src/dcerpc/uuid.js';

describe('interfaceLabel', () => {
  it('reads the UUID in the PDU byte order and appends the version', () => {
    const buf = new Uint8Array(20).fill(0xa5);
    expect(parseUuid('a4f1db00-ca47-1067-b31f-00dd010662da', buf, 3, true)).toBe(true);
    expect(interfaceLabel(buf, 3, true, 0, 81)).toBe('a4f1db00-ca47-1067-b31f-00dd010662da@0.81');
    expect(parseUuid('e1af8308-5d1f-11c9-91a4-08002b14a0fa', buf, 0, false)).toBe(true);
    expect(interfaceLabel(buf, 0, false, 3, 0)).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa@3.0');
    expect(interfaceLabel(buf, 0, false, 65535, 65535)).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa@65535.65535');
  });
});
