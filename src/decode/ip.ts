import { DecodeError } from './decode-error.js';
import { DecodedPacket } from './decoded-packet.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';

/** Raw IP of either version, told apart by the first nibble. */
export function decodeIp(pkt: DecodedPacket, off: number): number {
  if (off + 1 > pkt.capturedEnd) return pkt.fail(DecodeError.ipv4_truncated);
  const version = pkt.data[off]! >> 4;
  if (version === 4) return decodeIpv4(pkt, off);
  if (version === 6) return decodeIpv6(pkt, off);
  return pkt.fail(DecodeError.ip_version_unknown);
}

/** Tunnels may nest; a bound keeps a crafted packet from recursing without end. */
export const MAX_TUNNEL_DEPTH = 8;

/** Enters one more tunnel level; false (with the error set) when too deep. */
export function enterTunnel(pkt: DecodedPacket): boolean {
  if (++pkt.tunnelDepth > MAX_TUNNEL_DEPTH) {
    pkt.fail(DecodeError.tunnel_too_deep);
    return false;
  }
  return true;
}
