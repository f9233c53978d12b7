import type { FrameInjector } from '../../capture/live/live-capture.js';

/** IEEE 802 "local experimental" EtherType: no stack acts on it. */
export const CANARY_ETHERTYPE = 0x88b5;
const MAGIC = 'offpath-canary ';

export interface CanaryResult {
  /** The injection interface took the frame. */
  sent: boolean;
  error: string | null;
  /** The frame came back on the mirror (only when the injection port is itself mirrored). */
  seenOnMirror: boolean;
}

/**
 * The start-up self-test of the injection path: one frame from the sensor's own MAC to itself, a harmless
 * EtherType, a random nonce. A switch does not forward a frame back out of the port it came in on, so it goes
 * nowhere; what it shows is that the interface is up and the kernel accepts our frames (permissions, MTU, link).
 */
export class Canary {
  readonly frame: Uint8Array;
  private readonly nonce: string;
  seen = false;

  constructor(ownMac: Uint8Array) {
    this.nonce = Math.random().toString(36).slice(2, 12);
    const payload = new TextEncoder().encode(MAGIC + this.nonce);
    this.frame = new Uint8Array(Math.max(60, 14 + payload.length));
    this.frame.set(ownMac, 0);
    this.frame.set(ownMac, 6);
    this.frame[12] = CANARY_ETHERTYPE >>> 8;
    this.frame[13] = CANARY_ETHERTYPE & 0xff;
    this.frame.set(payload, 14);
  }

  send(injector: FrameInjector): CanaryResult {
    try {
      const sent = injector.send(this.frame, this.frame.length);
      return { sent, error: sent ? null : 'the kernel refused the frame', seenOnMirror: false };
    } catch (err) {
      return { sent: false, error: (err as Error).message, seenOnMirror: false };
    }
  }

  /** Checks a captured Ethernet frame; true (and remembered) when it is our canary. */
  matches(data: Uint8Array, offset: number, length: number): boolean {
    if (length < this.frame.length || data[offset + 12] !== this.frame[12] || data[offset + 13] !== this.frame[13]) return false;
    for (let i = 14; i < 14 + MAGIC.length + this.nonce.length; i++) if (data[offset + i] !== this.frame[i]) return false;
    this.seen = true;
    return true;
  }
}
