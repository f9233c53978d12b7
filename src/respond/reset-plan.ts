import { DecodedPacket, TcpFlag } from '../decode/decoded-packet.js';
import { SessionTable } from '../session/session-table.js';
import { seqAfter } from '../session/tcp-state.js';

/**
 * Which RST segments kill a TCP session right now, so that an RFC 5961 stack (Linux) accepts them.
 * Mechanism only: whether to send them at all is the guards' business.
 *
 * With c and s the client's and server's initial sequence numbers, per state:
 * - only the client's SYN seen: to the client RST+ACK with ack = c+1 (SYN-SENT checks only the ACK); to the
 *   server a bare RST with seq = c+1 (a half-open server ignores RST+ACK with a wrong ack);
 * - SYN-ACK seen, no data yet: to the client RST+ACK seq = s+1, ack = c+1; to the server RST+ACK seq = c+1,
 *   ack = s+1;
 * - otherwise (established, closing): a RST is accepted only at the receiver's exact RCV.NXT. The packet
 *   that triggered us, from X to Y, gives X's RCV.NXT exactly in its ack field; Y's RCV.NXT lies on a
 *   segment boundary between Y's last ACK and X's nxt, so each boundary we know of is a candidate
 *   (X's nxt first, since Y has most likely received everything X sent), capped at MAX_CANDIDATES.
 *   Never seq = 0 into an established flow: a side whose sequence numbers we have not seen gets no RST.
 */
export const MAX_CANDIDATES = 8;

export class ResetPlan {
  count = 0;
  /** Receiving side of each segment: 0 = initiator (client), 1 = responder (server). */
  readonly toSide = new Uint8Array(2 * MAX_CANDIDATES);
  readonly seq = new Uint32Array(2 * MAX_CANDIDATES);
  readonly ack = new Uint32Array(2 * MAX_CANDIDATES);
  readonly flags = new Uint8Array(2 * MAX_CANDIDATES);
  /** Sides that got no RST because we never saw their sequence numbers. */
  unknownSides = 0;

  clear(): void {
    this.count = 0;
    this.unknownSides = 0;
  }

  add(toSide: number, seq: number, ack: number, flags: number): void {
    if (this.count >= this.seq.length) return;
    for (let i = 0; i < this.count; i++) {
      if (this.toSide[i] === toSide && this.seq[i] === seq >>> 0) return; // one RST per distinct number
    }
    this.toSide[this.count] = toSide;
    this.seq[this.count] = seq >>> 0;
    this.ack[this.count] = ack >>> 0;
    this.flags[this.count] = flags;
    this.count++;
  }
}

const RST = TcpFlag.RST;
const RST_ACK = TcpFlag.RST | TcpFlag.ACK;

/**
 * Fills `plan` with the resets for session `s`. `trigger` is the packet just tracked for it (its direction
 * is table.lastDirection), or null when acting without a packet (for example after an intel change).
 */
export function planResets(table: SessionTable, s: number, trigger: DecodedPacket | null, triggerSide: number, plan: ResetPlan): void {
  plan.clear();
  const clientIsn = table.isn(s, 0);
  const serverIsn = table.isn(s, 1);
  const haveClientIsn = table.hasIsn(s, 0);
  const haveServerIsn = table.hasIsn(s, 1);
  const handshakeOnly =
    haveClientIsn && table.nxt(s, 0) === ((clientIsn + 1) >>> 0) && (!haveServerIsn || table.nxt(s, 1) === ((serverIsn + 1) >>> 0));

  if (haveClientIsn && !haveServerIsn && !table.seen(s, 1)) {
    plan.add(0, 0, clientIsn + 1, RST_ACK);
    plan.add(1, clientIsn + 1, 0, RST);
    return;
  }
  if (haveClientIsn && haveServerIsn && handshakeOnly) {
    plan.add(0, serverIsn + 1, clientIsn + 1, RST_ACK);
    plan.add(1, clientIsn + 1, serverIsn + 1, RST_ACK);
    return;
  }
  for (let receiver = 0; receiver < 2; receiver++) addDataStateResets(table, s, receiver, trigger, triggerSide, plan);
}

function addDataStateResets(table: SessionTable, s: number, receiver: number, trigger: DecodedPacket | null, triggerSide: number, plan: ResetPlan): void {
  const sender = 1 - receiver;
  const before = plan.count;
  const ackForReceiver = table.seen(s, receiver) ? table.nxt(s, receiver) : 0;
  const flags = table.seen(s, receiver) ? RST_ACK : RST;
  const triggerHasAck = trigger !== null && (trigger.tcpFlags & TcpFlag.ACK) !== 0 && (trigger.tcpFlags & TcpFlag.RST) === 0;
  if (trigger && triggerSide === receiver && triggerHasAck) {
    // The receiver itself just told us what it expects next.
    plan.add(receiver, trigger.ack, ackForReceiver, flags);
  }
  const receiverAck = table.hasAck(s, receiver) ? table.lastAck(s, receiver) : -1;
  if (table.seen(s, sender)) {
    const senderNxt = table.nxt(s, sender);
    plan.add(receiver, senderNxt, ackForReceiver, flags);
    if (trigger && triggerSide === sender) {
      const end = segmentEnd(trigger);
      if (receiverAck < 0 || !seqAfter(receiverAck >>> 0, end)) plan.add(receiver, end, ackForReceiver, flags);
      if (trigger.payloadLength > 0 && (receiverAck < 0 || !seqAfter(receiverAck >>> 0, trigger.seq))) {
        plan.add(receiver, trigger.seq, ackForReceiver, flags);
      }
    }
  }
  if (receiverAck >= 0) plan.add(receiver, receiverAck, ackForReceiver, flags);
  // Cap each side's share so that one side's candidates cannot crowd out the other's.
  if (plan.count - before > MAX_CANDIDATES) plan.count = before + MAX_CANDIDATES;
  if (plan.count === before) plan.unknownSides++;
}

function segmentEnd(pkt: DecodedPacket): number {
  let end = pkt.seq + pkt.payloadLength;
  if (pkt.tcpFlags & TcpFlag.SYN) end++;
  if (pkt.tcpFlags & TcpFlag.FIN) end++;
  return end >>> 0;
}
