/**
 * What the engine's stream path asks of the reader of a connection (the EPM leg on 135, the
 * RPC policy on mapped ports): in-order bytes in, a verdict out, and whether the direction must
 * hold its segments because a PDU it may rewrite is still incomplete.
 */
export interface Leg {
  /** The connection it reads (its flow id, set by the engine on open): handed back in every host callback. */
  flow: number;
  /** Feeds in-order payload bytes starting at stream sequence `seq`: PASS or a REFUSE_* code. */
  feed(fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number;
  midPdu(fromClient: boolean): boolean;
  /** With a refusal: what the log says, and the interface concerned. */
  refuseDetail: string;
  lastInterface: string;
}
