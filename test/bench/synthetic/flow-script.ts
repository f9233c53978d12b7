/**
 * Flow scripts: the planned packets of one flow, decided when the flow starts.
 *
 * A script is an Int32Array of (descriptor, gap) pairs. The descriptor holds the direction, TCP flags, payload
 * length and payload kind; the gap is the time in microseconds until the flow's next packet. Sequence and
 * acknowledgement numbers are NOT in the script: the emitter derives them from each side's running "next
 * sequence" when the packet is written, so they are correct by construction (every ACK acknowledges all that
 * the other side has sent so far, as seen by a sensor next to the client).
 *
 * Planning the whole flow up front gives its exact packet count at birth, which is what lets the generator hit
 * the requested total packet count while opening exactly the requested number of flows.
 */
import { Prng } from './prng.js';

export const enum Dir {
  ClientToServer = 0,
  ServerToClient = 1,
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const enum PayloadKind {
  None = 0,
  /** Bulk bytes from the stream pattern (see payload.ts). */
  Pattern = 1,
  TlsClientHello = 2,
  HttpGet = 3,
  DnsQuery = 4,
  DnsResponse = 5,
  IcmpEcho = 6,
  Rtp = 7,
}

export const MAX_SCRIPT_PAYLOAD = 4095;

/** Descriptor bit: this packet repeats the side's previous segment (same sequence number), as a retransmission. */
export const RETRANSMISSION = 1 << 25;

export function describe(dir: Dir, flags: number, len: number, kind: PayloadKind, retransmission = false): number {
  return dir | (flags << 1) | (len << 9) | (kind << 21) | (retransmission ? RETRANSMISSION : 0);
}

/** Accumulates one script; reused for every flow so only the final copy is allocated. */
export class ScriptBuilder {
  private buf = new Int32Array(4096);
  private n = 0;

  get packets(): number {
    return this.n >> 1;
  }

  reset(): void {
    this.n = 0;
  }

  packet(dir: Dir, flags: number, len: number, kind: PayloadKind, retransmission = false): void {
    if (this.n + 2 > this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n] = describe(dir, flags, len, kind, retransmission);
    this.buf[this.n + 1] = 0;
    this.n += 2;
  }

  /** Sets the time between the last packet added and the next one. */
  wait(us: number): void {
    this.buf[this.n - 1] = Math.max(1, Math.min(0x7fffffff, Math.round(us)));
  }

  finish(): Int32Array {
    return this.buf.slice(0, this.n);
  }
}

/** Timing of one connection: path round trip, bottleneck rate, host reaction times. */
export interface PathTiming {
  rttUs: number;
  /** Bottleneck rate in bytes per microsecond (1 = 8 Mbit/s). */
  bytesPerUs: number;
}

export function drawPathTiming(rng: Prng): PathTiming {
  return {
    rttUs: Math.min(400_000, Math.max(200, rng.logNormal(25_000, 1.0))),
    bytesPerUs: Math.min(125, Math.max(1, rng.logNormal(12, 1.0))),
  };
}

/** Host reaction time (kernel + application) for an immediate answer such as an ACK. */
function hostDelay(rng: Prng): number {
  return 20 + rng.exp(120);
}

// ---------------------------------------------------------------------------------------------------------------
// TCP

/** Smallest established connections: handshake + request + response + RST, and the same with a FIN teardown. */
export const TCP_MIN_RST_FLOW = 6;
export const TCP_MIN_FIN_FLOW = 8;

export interface TcpPlan {
  /** Exact number of packets in the script. */
  packets: number;
  mss: number;
  firstRequestKind: PayloadKind;
  firstRequestLength: number;
  timing: PathTiming;
}

/**
 * Handshake, request/response rounds, teardown (FIN exchange or RST), in exactly `plan.packets` packets
 * (>= TCP_MIN_RST_FLOW). Servers answer requests with MSS-sized segments; clients ACK every second segment.
 */
export function buildTcpEstablished(s: ScriptBuilder, rng: Prng, plan: TcpPlan): void {
  const { packets, mss, timing } = plan;
  const useFin = packets >= TCP_MIN_FIN_FLOW && rng.chance(0.8);
  const teardown = useFin ? 3 : 1;
  let mid = packets - 3 - teardown;

  s.packet(Dir.ClientToServer, TCP_SYN, 0, PayloadKind.None);
  s.wait(timing.rttUs);
  s.packet(Dir.ServerToClient, TCP_SYN | TCP_ACK, 0, PayloadKind.None);
  s.wait(hostDelay(rng));
  s.packet(Dir.ClientToServer, TCP_ACK, 0, PayloadKind.None);
  s.wait(50 + rng.exp(400));

  let firstRound = true;
  while (mid > 0) {
    if (firstRound) {
      s.packet(Dir.ClientToServer, TCP_PSH | TCP_ACK, plan.firstRequestLength, plan.firstRequestKind);
      firstRound = false;
    } else {
      s.packet(Dir.ClientToServer, TCP_PSH | TCP_ACK, laterRequestLength(rng), PayloadKind.Pattern);
    }
    mid--;
    if (mid === 0) break;
    s.wait(timing.rttUs + rng.exp(3_000)); // request travels, server thinks, response comes back
    // Most connections carry one exchange; otherwise split what is left over several rounds.
    const roundPackets = mid <= 3 || rng.chance(0.55) ? mid : 1 + rng.int(mid - 2);
    addResponse(s, rng, roundPackets, mss, timing);
    mid -= roundPackets;
    if (mid > 0) s.wait(hostDelay(rng) + rng.exp(15_000)); // client think time before the next request
  }

  s.wait(hostDelay(rng) + rng.exp(40_000)); // idle before closing
  if (useFin) {
    s.packet(Dir.ClientToServer, TCP_FIN | TCP_ACK, 0, PayloadKind.None);
    s.wait(timing.rttUs);
    s.packet(Dir.ServerToClient, TCP_FIN | TCP_ACK, 0, PayloadKind.None);
    s.wait(hostDelay(rng));
    s.packet(Dir.ClientToServer, TCP_ACK, 0, PayloadKind.None);
  } else if (rng.chance(0.7)) {
    s.packet(Dir.ClientToServer, TCP_RST | TCP_ACK, 0, PayloadKind.None); // browsers abort idle connections
  } else {
    s.packet(Dir.ServerToClient, TCP_RST | TCP_ACK, 0, PayloadKind.None); // server-side abort
  }
}

/**
 * A response of k server segments plus client ACKs, in exactly `budget` packets: k segments with an ACK after
 * every second one take floor(3k/2) packets, and an optional ACK of a trailing odd segment covers the rest.
 */
function addResponse(s: ScriptBuilder, rng: Prng, budget: number, mss: number, timing: PathTiming): void {
  let segments: number;
  let trailingAck: boolean;
  switch (budget % 3) {
    case 0:
      segments = (2 * budget) / 3;
      trailingAck = false;
      break;
    case 1:
      segments = (2 * budget + 1) / 3;
      trailingAck = false;
      break;
    default:
      segments = (2 * budget - 1) / 3;
      trailingAck = true;
      break;
  }
  for (let i = 1; i <= segments; i++) {
    const last = i === segments;
    const len = !last ? mss : segments === 1 ? singleSegmentResponse(rng, mss) : 1 + rng.int(mss);
    s.packet(Dir.ServerToClient, last ? TCP_PSH | TCP_ACK : TCP_ACK, len, PayloadKind.Pattern);
    const serialisation = len / timing.bytesPerUs;
    if (i % 2 === 0 && !last) {
      s.wait(hostDelay(rng));
      s.packet(Dir.ClientToServer, TCP_ACK, 0, PayloadKind.None);
      s.wait(Math.max(1, serialisation - 20));
    } else if (i % 2 === 0 || (last && trailingAck)) {
      s.wait(hostDelay(rng));
      s.packet(Dir.ClientToServer, TCP_ACK, 0, PayloadKind.None);
    } else {
      s.wait(serialisation);
    }
  }
}

/** A one-segment answer: redirects, API replies, small objects, or a full segment of something bigger. */
function singleSegmentResponse(rng: Prng, mss: number): number {
  const r = rng.float();
  if (r < 0.5) return mss;
  if (r < 0.85) return rng.range(300, 1100);
  return rng.range(40, 300);
}

function laterRequestLength(rng: Prng): number {
  return rng.chance(0.7) ? rng.range(350, 800) : rng.range(30, 120);
}

/** Connections that never open: refused (RST) or unanswered (SYN retransmitted after 1 s and 3 s). */
export function buildTcpFailed(s: ScriptBuilder, rng: Prng, refused: boolean, timing: PathTiming): void {
  s.packet(Dir.ClientToServer, TCP_SYN, 0, PayloadKind.None);
  if (refused) {
    s.wait(timing.rttUs);
    s.packet(Dir.ServerToClient, TCP_RST | TCP_ACK, 0, PayloadKind.None);
    return;
  }
  s.wait(1_000_000);
  s.packet(Dir.ClientToServer, TCP_SYN, 0, PayloadKind.None, true);
  if (rng.chance(0.5)) {
    s.wait(2_000_000);
    s.packet(Dir.ClientToServer, TCP_SYN, 0, PayloadKind.None, true);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// UDP and ICMP

export function buildDns(s: ScriptBuilder, rng: Prng, queryLen: number, responseLen: number, answered: boolean): void {
  s.packet(Dir.ClientToServer, 0, queryLen, PayloadKind.DnsQuery);
  if (!answered) return;
  s.wait(Math.max(150, rng.logNormal(6_000, 1.2)));
  s.packet(Dir.ServerToClient, 0, responseLen, PayloadKind.DnsResponse);
}

/** Voice call: 20 ms packets each way, interleaved. */
export function buildRtp(s: ScriptBuilder, rng: Prng, packets: number, payloadLen: number): void {
  const skew = rng.range(500, 9_500); // phase between the two directions' packet clocks
  for (let i = 0; i < packets; i++) {
    const dir = i % 2 === 0 ? Dir.ClientToServer : Dir.ServerToClient;
    s.packet(dir, 0, payloadLen, PayloadKind.Rtp);
    s.wait(i % 2 === 0 ? skew : 20_000 - skew);
  }
}

/** Bulk UDP (a tunnel or a QUIC-like download): full-size datagrams down, one small datagram up per four. */
export function buildUdpBulk(s: ScriptBuilder, rng: Prng, packets: number, timing: PathTiming): void {
  s.packet(Dir.ClientToServer, 0, rng.range(1200, 1250), PayloadKind.Pattern);
  s.wait(timing.rttUs);
  for (let i = 1; i < packets; i++) {
    if (i % 5 === 0) {
      s.packet(Dir.ClientToServer, 0, rng.range(30, 60), PayloadKind.Pattern);
      s.wait(hostDelay(rng));
    } else {
      const len = rng.range(1200, 1350);
      s.packet(Dir.ServerToClient, 0, len, PayloadKind.Pattern);
      s.wait(len / timing.bytesPerUs);
    }
  }
}

/** ping: `pings` echo requests one second apart, each answered. */
export function buildIcmpEcho(s: ScriptBuilder, pings: number, timing: PathTiming): void {
  for (let i = 0; i < pings; i++) {
    s.packet(Dir.ClientToServer, 0, 56, PayloadKind.IcmpEcho);
    s.wait(timing.rttUs);
    s.packet(Dir.ServerToClient, 0, 56, PayloadKind.IcmpEcho);
    s.wait(1_000_000 - timing.rttUs);
  }
}
