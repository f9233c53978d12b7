import { be16, be32 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, NoFlowReason } from './decoded-packet.js';
import { decodeTransport } from './transport.js';

const MIN_HEADER = 20;

export function decodeIpv4(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (off + MIN_HEADER > end) return pkt.fail(DecodeError.ipv4_truncated);
  const vihl = d[off]!;
  if (vihl >> 4 !== 4) return pkt.fail(DecodeError.ipv4_bad_version);
  const headerLength = (vihl & 15) << 2;
  if (headerLength < MIN_HEADER) return pkt.fail(DecodeError.ipv4_bad_header_length);
  if (off + headerLength > end) return pkt.fail(DecodeError.ipv4_truncated);
  const onWire = end + pkt.wireExtra - off;
  let total = be16(pkt.view, off + 2);
  if (total === 0) {
    // Captured on the sending host before segmentation offload filled in the length.
    pkt.anomaly = DecodeError.ipv4_total_length_zero;
    total = onWire;
  }
  if (total < headerLength || total > onWire) return pkt.fail(DecodeError.ipv4_bad_total_length);

  pkt.ipVersion = 4;
  pkt.ipOffset = off;
  pkt.ipHeaderLength = headerLength;
  pkt.ipTotalLength = total;
  pkt.ttl = d[off + 8]!;
  pkt.ipId = be16(pkt.view, off + 4);
  pkt.src0 = 0;
  pkt.src1 = 0;
  pkt.src2 = 0xffff;
  pkt.src3 = be32(pkt.view, off + 12);
  pkt.dst0 = 0;
  pkt.dst1 = 0;
  pkt.dst2 = 0xffff;
  pkt.dst3 = be32(pkt.view, off + 16);

  const fragment = be16(pkt.view, off + 6);
  if (fragment & 0x3fff) {
    pkt.isFragment = true;
    // Only the first fragment carries the L4 header: later ones cannot be tied to a flow without reassembly.
    if (fragment & 0x1fff) return pkt.noFlow(NoFlowReason.ipv4_fragment);
  }
  return decodeTransport(pkt, d[off + 9]!, off + headerLength, total - headerLength);
}
