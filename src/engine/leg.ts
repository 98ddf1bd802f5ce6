/**
 * What the engine's stream path asks of the reader of a connection (the EPM leg on 135, the
 * RPC policy on mapped ports): in-order bytes in, a verdict out, and whether the direction must
 * hold its segments because a PDU it may rewrite is still incomplete. The connection is named by
 * its flow id in every call (a reader may serve many connections).
 */
export interface Leg {
  /** Feeds in-order payload bytes of connection `flow` starting at stream sequence `seq`: PASS or a REFUSE_* code. */
  feed(flow: number, fromClient: boolean, data: Uint8Array, off: number, len: number, seq: number): number;
  midPdu(flow: number, fromClient: boolean): boolean;
  /** With a refusal (read right after feed): what the log says, and the interface concerned. */
  refuseDetail: string;
  lastInterface: string;
  /** The interface a refusal of `flow` names when it comes from outside the leg (the hold limit). */
  interfaceOf(flow: number): string;
}
