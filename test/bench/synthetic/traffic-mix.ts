/**
 * The traffic mix, and the controller that makes `flows` flows add up to `packets` packets.
 *
 * Shares are per flow. DNS lookups are about as many as TCP connections (every connection starts with one, and
 * A + AAAA lookups double them), so they are a large share of flows but a small share of packets. With the
 * default 5 packets per flow this gives roughly 80 % TCP, 19 % UDP and 1 % ICMP by packets.
 *
 * Each flow has a fixed minimum shape (DNS: 2 packets; an established TCP connection: 6 or 8) plus, for the
 * "elastic" kinds (established TCP, long UDP), an extra number of packets from a heavy-tailed distribution. The
 * mean of that extra is recomputed for every new flow from the packets still to plan and the flows still to
 * open, so the total lands on the target whatever the ratio asked for: 5 packets per flow gives mostly short
 * connections; 50 per flow gives long transfers.
 */
import { Prng } from './prng.js';

export const MIX = {
  dnsFlows: 0.45,
  icmpFlows: 0.006,
  /** Long UDP flows (voice, bulk); most of them RTP. */
  udpStreamFlows: 0.006,
  rtpShareOfUdpStreams: 0.7,
  /** The rest are TCP; of those, this share never opens (refused or unanswered). */
  tcpFailedShare: 0.05,
  tcpRefusedShareOfFailed: 0.45,
  dnsUnanswered: 0.02,
  dnsNxdomain: 0.04,
  /** Shares of flows over IPv6 and on a tagged VLAN (both per flow, so both directions match). */
  ipv6Flows: 0.1,
  vlanFlows: 0.08,
} as const;

export const enum FlowType {
  Dns,
  Icmp,
  Rtp,
  UdpBulk,
  TcpFailed,
  TcpEstablished,
}

/** Base packet counts used to predict the mean; the feedback through the remaining budget corrects any error. */
const BASE_PACKETS = {
  dns: 2 * (1 - MIX.dnsUnanswered) + MIX.dnsUnanswered,
  icmp: 5, // 1-4 pings, two packets each
  udpStream: 12,
  tcpFailed: 2.3,
  tcpEstablished: 0.8 * 8 + 0.2 * 6, // see FlowSizer.established
};
const TCP_SHARE = 1 - MIX.dnsFlows - MIX.icmpFlows - MIX.udpStreamFlows;
const ELASTIC_SHARE = TCP_SHARE * (1 - MIX.tcpFailedShare) + MIX.udpStreamFlows;
const BASE_MEAN =
  MIX.dnsFlows * BASE_PACKETS.dns +
  MIX.icmpFlows * BASE_PACKETS.icmp +
  MIX.udpStreamFlows * BASE_PACKETS.udpStream +
  TCP_SHARE * (MIX.tcpFailedShare * BASE_PACKETS.tcpFailed + (1 - MIX.tcpFailedShare) * BASE_PACKETS.tcpEstablished);

/** Log-normal shape of the extra packets of elastic flows: sigma 1.6 gives a realistic elephant/mouse split. */
const TAIL_SIGMA = 1.6;
/** Longest flow we plan, in packets: bounds the memory of one script. */
const MAX_FLOW_PACKETS = 200_000;

export function chooseFlowType(rng: Prng): FlowType {
  let r = rng.float();
  if ((r -= MIX.dnsFlows) < 0) return FlowType.Dns;
  if ((r -= MIX.icmpFlows) < 0) return FlowType.Icmp;
  if ((r -= MIX.udpStreamFlows) < 0) return rng.chance(MIX.rtpShareOfUdpStreams) ? FlowType.Rtp : FlowType.UdpBulk;
  return rng.chance(MIX.tcpFailedShare) ? FlowType.TcpFailed : FlowType.TcpEstablished;
}

/** Tracks planned packets against the target and sizes elastic flows so the two meet. */
export class FlowSizer {
  private planned = 0;
  private opened = 0;

  constructor(
    private readonly targetPackets: number,
    private readonly targetFlows: number,
  ) {}

  get plannedPackets(): number {
    return this.planned;
  }

  /** True for the last flow: it takes whatever is left of the packet budget, so the total is never short. */
  get isLastFlow(): boolean {
    return this.opened === this.targetFlows - 1;
  }

  get remainingPackets(): number {
    return this.targetPackets - this.planned;
  }

  /** Extra packets for one elastic flow: heavy-tailed, with the mean the remaining budget calls for. */
  extraPackets(rng: Prng): number {
    const remainingFlows = this.targetFlows - this.opened;
    const wantedMean = (this.targetPackets - this.planned) / Math.max(1, remainingFlows);
    const extraMean = Math.max(0, (wantedMean - BASE_MEAN) / ELASTIC_SHARE);
    if (extraMean === 0) return 0;
    // Log-normal with mean 1 (mu = -sigma^2/2) times the mean, stochastically rounded so small means stay unbiased.
    const x = extraMean * Math.exp(TAIL_SIGMA * rng.normal() - (TAIL_SIGMA * TAIL_SIGMA) / 2);
    return Math.min(MAX_FLOW_PACKETS, Math.floor(x + rng.float()));
  }

  /** Records a flow that was opened with `packets` packets. */
  record(packets: number): void {
    this.planned += packets;
    this.opened++;
  }
}
