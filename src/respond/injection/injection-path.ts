import type { FrameInjector, IpPacketInjector } from '../../capture/live/live-capture.js';
import type { FrameSink } from '../responder.js';
import { NeighborCache } from './neighbor-cache.js';

/**
 * How a crafted frame reaches one side of a session:
 * - `observed`: the endpoints' own MACs as seen on the mirror (a lab or a dedicated injection segment only:
 *   a switch that sees those source MACs on another port moves them there — flapping, port-security shutdowns);
 * - `own`: the sensor's own MAC as source, and as destination the configured next-hop MAC, else the MAC seen
 *   leading to that endpoint;
 * - `l3`: no Ethernet at all: the IP packet goes out through the routing table (a raw socket).
 */
export type InjectionMode = 'observed' | 'own' | 'l3';

export interface SideAddressing {
  readonly mode: InjectionMode;
  /** Destination MAC for `own` (the router towards that side); null = the MAC observed for the endpoint. */
  readonly nextHopMac: Uint8Array | null;
  /** VLAN tags: 'observed' copies what was seen on that side's frames; a number is one 802.1Q VID; 'none' strips them. */
  readonly vlan: 'observed' | 'none' | number;
}

export interface InjectionPathOptions {
  readonly toClient: SideAddressing;
  readonly toServer: SideAddressing;
  /** The injection interface's MAC (source for `own`). */
  readonly ownMac: Uint8Array | null;
}

export const DEFAULT_SIDE: SideAddressing = { mode: 'own', nextHopMac: null, vlan: 'observed' };

const MAX_BATCH = 64;
const SLOT = 128; // bytes per queued frame: the largest crafted frame is 14 + 8 + 40 + 20

/**
 * The live sensor's FrameSink: rewrites the link layer of each crafted frame for the side it is meant for, then
 * queues it for the injector. `flush()` puts the queue on the wire in one batch where the injector can (sendmmsg),
 * and is called at the end of every round of resets. Mechanism only: what to send was decided before.
 */
export class InjectionPath implements FrameSink {
  readonly neighbors = new NeighborCache();
  sent = 0;
  failed = 0;
  /** Frames not sent because no MAC is known for the endpoint (no frame of it seen since start). */
  noNeighbor = 0;
  private readonly queue = new Uint8Array(MAX_BATCH * SLOT);
  private readonly offsets = new Uint32Array(MAX_BATCH);
  private readonly lengths = new Uint32Array(MAX_BATCH);
  private queued = 0;
  private readonly mac = new Uint8Array(12);

  constructor(
    readonly options: InjectionPathOptions,
    private readonly l2: FrameInjector | null,
    private readonly l3: IpPacketInjector | null,
  ) {
    for (let i = 0; i < MAX_BATCH; i++) this.offsets[i] = i * SLOT;
    for (const side of [options.toClient, options.toServer]) {
      if (side.mode === 'l3' && !l3) throw new Error('layer-3 injection needs an IP packet injector');
      if (side.mode !== 'l3' && !l2) throw new Error('layer-2 injection needs a frame injector');
      if (side.mode === 'own' && !options.ownMac) throw new Error('own-MAC injection needs the injection interface MAC');
    }
  }

  send(frame: Uint8Array, length: number, _tsSec: number, _tsNsec: number, toSide: number): void {
    const side = toSide === 0 ? this.options.toClient : this.options.toServer;
    let o = 12;
    let type = (frame[o]! << 8) | frame[o + 1]!;
    while ((type === 0x8100 || type === 0x88a8) && o + 6 <= length) {
      o += 4;
      type = (frame[o]! << 8) | frame[o + 1]!;
    }
    const ip = o + 2;
    if (side.mode === 'l3') {
      if (this.l3!.sendIp(frame, ip, length - ip)) this.sent++;
      else this.failed++;
      return;
    }
    const mac = this.mac;
    if (!this.resolveMacs(side, frame, ip, type === 0x0800)) {
      this.noNeighbor++;
      return;
    }
    if (this.queued === MAX_BATCH) this.flush();
    const base = this.queued * SLOT;
    const out = this.queue;
    out.set(mac, base);
    let w = base + 12;
    if (side.vlan === 'observed') {
      out.set(frame.subarray(12, o), w);
      w += o - 12;
    } else if (side.vlan !== 'none') {
      out[w] = 0x81;
      out[w + 1] = 0x00;
      out[w + 2] = (side.vlan >>> 8) & 0x0f;
      out[w + 3] = side.vlan & 0xff;
      w += 4;
    }
    out.set(frame.subarray(o, length), w);
    w += length - o;
    this.lengths[this.queued] = w - base;
    this.queued++;
    if (!this.l2!.sendBatch) this.flush();
  }

  /** Sends what is queued. */
  flush(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    const l2 = this.l2!;
    if (l2.sendBatch && n > 1) {
      const took = l2.sendBatch(this.queue, this.offsets, this.lengths, n);
      this.sent += took;
      this.failed += n - took;
      return;
    }
    for (let i = 0; i < n; i++) {
      if (l2.send(this.queue.subarray(i * SLOT), this.lengths[i]!)) this.sent++;
      else this.failed++;
    }
  }

  /** Fills this.mac with destination then source MAC for the frame; false when one is unknown. */
  private resolveMacs(side: SideAddressing, frame: Uint8Array, ip: number, v4: boolean): boolean {
    const mac = this.mac;
    const srcAt = v4 ? ip + 12 : ip + 8;
    const dstAt = v4 ? ip + 16 : ip + 24;
    if (side.nextHopMac) mac.set(side.nextHopMac, 0);
    else if (!isZero(frame, 0)) mac.set(frame.subarray(0, 6), 0);
    else if (!this.lookup(frame, dstAt, v4, 0)) return false;
    if (side.mode === 'own') mac.set(this.options.ownMac!, 6);
    else if (!isZero(frame, 6)) mac.set(frame.subarray(6, 12), 6);
    else if (!this.lookup(frame, srcAt, v4, 6)) return false;
    return true;
  }

  private lookup(frame: Uint8Array, at: number, v4: boolean, outOffset: number): boolean {
    if (v4) return this.neighbors.lookup(0, 0, 0xffff, word(frame, at), this.mac, outOffset);
    return this.neighbors.lookup(word(frame, at), word(frame, at + 4), word(frame, at + 8), word(frame, at + 12), this.mac, outOffset);
  }
}

function word(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function isZero(b: Uint8Array, at: number): boolean {
  return (b[at]! | b[at + 1]! | b[at + 2]! | b[at + 3]! | b[at + 4]! | b[at + 5]!) === 0;
}
