/** Per-direction TCP state, as seen from the segments that direction sent. */
export const TcpDirState = {
  none: 0,
  /** Sent a SYN (client). */
  syn: 1,
  /** Sent a SYN-ACK (server). */
  synAck: 2,
  /** Sent an ACK after the handshake, or data/ACKs on a session picked up midstream. */
  established: 3,
  fin: 4,
  rst: 5,
} as const;

/** Session-level state reported to users, derived from both directions. */
export const SessionStateName = [
  'new',
  'syn_sent',
  'syn_received',
  'established',
  'closing',
  'closed',
  'reset',
  'midstream',
  'one_way',
  'two_way',
] as const;
export type SessionStateLabel = (typeof SessionStateName)[number];

export const SessionState = {
  new: 0,
  synSent: 1,
  synReceived: 2,
  established: 3,
  closing: 4,
  closed: 5,
  reset: 6,
  midstream: 7,
  oneWay: 8,
  twoWay: 9,
} as const;

/** Derives the session state of a TCP session from its two direction states. */
export function tcpSessionState(initiator: number, responder: number): number {
  if (initiator === TcpDirState.rst || responder === TcpDirState.rst) return SessionState.reset;
  if (initiator === TcpDirState.fin && responder === TcpDirState.fin) return SessionState.closed;
  if (initiator === TcpDirState.fin || responder === TcpDirState.fin) return SessionState.closing;
  if (initiator === TcpDirState.established && responder === TcpDirState.established) return SessionState.established;
  if (responder === TcpDirState.synAck) return initiator === TcpDirState.established ? SessionState.established : SessionState.synReceived;
  if (initiator === TcpDirState.syn) return SessionState.synSent;
  return SessionState.midstream;
}

/** Sequence-space comparison (RFC 1982): true when a is after b, modulo 2^32. */
export function seqAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
