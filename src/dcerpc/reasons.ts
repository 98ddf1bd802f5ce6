/**
 * Reason strings of the dcerpc layer's decoders (DecodeResult.errReason). Constants so that
 * reporting a failure allocates nothing and tests can compare exactly.
 */

// common header / framing
export const ERR_SHORT_HEADER = 'fewer than 16 bytes of common header';
export const ERR_SHORT_PEEK = 'fewer than 10 bytes to read frag_length';
export const ERR_BAD_RPC_VERS = 'rpc_vers is not 5';
export const ERR_BAD_RPC_VERS_MINOR = 'rpc_vers_minor above 1';
export const ERR_BAD_DREP = 'unknown drep integer representation';
export const ERR_FRAG_LEN_SHORT = 'frag_length below 16';
export const ERR_FRAG_LEN_LONG = 'frag_length above bound';
export const ERR_AUTH_LEN = 'auth_length exceeds PDU';
export const ERR_PDU_INCOMPLETE = 'PDU incomplete';
export const ERR_WRONG_PTYPE = 'wrong PTYPE for this decoder';
export const ERR_UNKNOWN_PTYPE = 'PTYPE not connection-oriented';
export const ERR_SHORT_BODY = 'frag_length shorter than this PTYPE\'s header';
export const ERR_AUTH_NOT_ALLOWED = 'auth verifier on a PTYPE that has none';
export const ERR_AUTH_REQUIRED = 'auth3 without auth verifier';

// bind / alter_context
export const ERR_TOO_MANY_CONTEXTS = 'too many presentation contexts';
export const ERR_CONTEXT_OVERRUN = 'context list overruns PDU';
export const ERR_NO_TRANSFER_SYNTAX = 'context element without transfer syntax';
export const ERR_TOO_MANY_TRANSFER_SYNTAXES = 'too many transfer syntaxes';

// bind_ack / alter_context_resp
export const ERR_SEC_ADDR_OVERRUN = 'sec_addr overruns PDU';
export const ERR_RESULT_OVERRUN = 'result list overruns PDU';
export const ERR_TOO_MANY_RESULTS = 'too many results';

// bind_nak
export const ERR_VERSIONS_OVERRUN = 'version list overruns PDU';

// request / response / fault
export const ERR_AUTH_PAD = 'auth_pad_length longer than stub';

// rts
export const ERR_RTS_TOO_MANY_COMMANDS = 'too many RTS commands';
export const ERR_RTS_COMMAND_OVERRUN = 'RTS command overruns PDU';
export const ERR_RTS_UNKNOWN_COMMAND = 'unknown RTS command';
export const ERR_RTS_BAD_ADDRESS_TYPE = 'unknown RTS client address type';
export const ERR_RTS_TRAILING = 'bytes after the last RTS command';

// reassembly
export const ERR_CONTINUATION_WITHOUT_FIRST = 'continuation without first fragment';
export const ERR_FIRST_WHILE_IN_PROGRESS = 'first fragment while call in progress';
export const ERR_CALL_TOO_LARGE = 'call exceeds size bound';
export const ERR_TOO_MANY_CALLS = 'too many concurrent calls';
export const ERR_STUB_BOUNDS = 'stub outside the buffer';

// presentation contexts
export const ERR_CONTEXT_TABLE_FULL = 'presentation context table full';
export const ERR_ACK_WITHOUT_BIND = 'bind_ack without pending bind';
export const ERR_RESULT_COUNT = 'result count differs from proposal count';
