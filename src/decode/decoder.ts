import { DecodedPacket } from './decoded-packet.js';
import { decodeLinkLayer } from './link-layer.js';

/**
 * Decodes one captured packet into `pkt` (reused: nothing is allocated) and returns a DecodeResult.
 * Never throws on packet content: every malformed packet comes back as DecodeResult.error with a reason.
 */
export function decodePacket(
  pkt: DecodedPacket,
  data: Uint8Array,
  offset: number,
  capturedLength: number,
  wireLength: number,
  linkType: number,
): number {
  pkt.reset(data, offset, capturedLength, wireLength, linkType);
  return decodeLinkLayer(pkt, offset);
}
