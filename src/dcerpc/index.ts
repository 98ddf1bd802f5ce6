/** The dcerpc layer: connection-oriented PDU codec, framing, reassembly, contexts, NDR helpers. */
export * from './constants.js';
export * from './reasons.js';
export * from './uuid.js';
export * from './ndr.js';
export * from './header.js';
export * from './framer.js';
export * from './pdu.js';
export * from './reassembly.js';
export * from './context.js';
