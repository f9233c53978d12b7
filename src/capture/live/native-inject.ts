/**
 * Injection through the native addon.
 *
 * - NativeFrameInjector: whole Ethernet frames on one interface (AF_PACKET SOCK_RAW), one at a time or a batch
 *   per system call (sendmmsg).
 * - NativeRawIpInjector: complete IPv4/IPv6 packets (header included) through the routing table (raw IP sockets
 *   with IPPROTO_RAW); the kernel picks the interface and the link-layer header.
 *
 * Sends never block the event loop: a full queue or a frame the kernel refuses makes `send` return false (and
 * counts it); opening throws LiveCaptureError, and a byte range outside the buffer throws RangeError.
 */
import type { FrameInjector, IpPacketInjector } from './live-capture.js';
import {
  loadNativeAddon,
  toLiveCaptureError,
  type RawFrameInjectorHandle,
  type RawFrameInjectorOptions,
  type RawIpInjectorHandle,
  type RawIpInjectorOptions,
} from './native-addon.js';

export interface InjectorCounters {
  /** Frames/packets the kernel accepted. */
  readonly sent: number;
  /** Frames/packets refused (queue full, too long for the MTU, malformed, interface down). */
  readonly refused: number;
  /** The last refusal, as the kernel (or the validity check) put it; null if none. */
  readonly lastError: string | null;
}

export interface NativeFrameInjectorOptions {
  readonly iface: string;
  /** Network namespace to open the socket in (path such as /run/netns/NAME). */
  readonly netns?: string;
  /** Hand frames straight to the driver, skipping the interface's qdisc (PACKET_QDISC_BYPASS): lower latency. */
  readonly qdiscBypass?: boolean;
  readonly sendBufferBytes?: number;
}

export class NativeFrameInjector implements FrameInjector {
  readonly name: string;
  readonly iface: string;
  private readonly handle: RawFrameInjectorHandle;
  private readonly countersOut = new Float64Array(2);

  constructor(options: NativeFrameInjectorOptions) {
    const addon = loadNativeAddon();
    this.iface = options.iface;
    this.name = `af_packet:${options.iface}`;
    const raw: RawFrameInjectorOptions = { iface: options.iface };
    if (options.netns !== undefined) raw.netns = options.netns;
    if (options.qdiscBypass !== undefined) raw.qdiscBypass = options.qdiscBypass;
    if (options.sendBufferBytes !== undefined) raw.sendBufferBytes = options.sendBufferBytes;
    try {
      this.handle = new addon.FrameInjectorHandle(raw);
    } catch (err) {
      throw toLiveCaptureError(err, options.iface);
    }
  }

  /** Sends bytes [0, length) of `frame` (a whole Ethernet frame). */
  send(frame: Uint8Array, length: number): boolean {
    return this.handle.send(frame, 0, length);
  }

  /** Sends bytes [offset, offset + length) of `buffer`. */
  sendAt(buffer: Uint8Array, offset: number, length: number): boolean {
    return this.handle.send(buffer, offset, length);
  }

  /**
   * Sends `count` frames, frame i being buffer[offsets[i], offsets[i] + lengths[i]), with one sendmmsg per 1024
   * frames. Returns how many the kernel accepted; the rest are counted as refused (a full queue stops the batch
   * rather than blocking). Throws RangeError if a frame lies outside the buffer.
   */
  sendBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    return this.handle.sendBatch(buffer, offsets, lengths, count);
  }

  counters(): InjectorCounters {
    this.handle.counters(this.countersOut);
    return { sent: this.countersOut[0]!, refused: this.countersOut[1]!, lastError: this.handle.lastError };
  }

  close(): void {
    this.handle.close();
  }
}

export interface NativeRawIpInjectorOptions {
  /** Network namespace whose routing table is used (path such as /run/netns/NAME). */
  readonly netns?: string;
  /** Send only through this interface (SO_BINDTODEVICE); also the scope of link-local IPv6 destinations. */
  readonly device?: string;
}

/** Complete IP packets through the routing table. `sendIp` picks IPv4 or IPv6 from the version nibble. */
export class NativeRawIpInjector implements IpPacketInjector {
  readonly name: string;
  private readonly handle: RawIpInjectorHandle;
  private readonly countersOut = new Float64Array(2);
  private malformed = 0;
  private lastMalformed: string | null = null;

  constructor(options: NativeRawIpInjectorOptions = {}) {
    const addon = loadNativeAddon();
    this.name = options.device ? `raw_ip:${options.device}` : 'raw_ip';
    const raw: RawIpInjectorOptions = {};
    if (options.netns !== undefined) raw.netns = options.netns;
    if (options.device !== undefined) raw.device = options.device;
    try {
      this.handle = new addon.RawIpInjectorHandle(raw);
    } catch (err) {
      throw toLiveCaptureError(err, options.device ?? 'raw IP socket');
    }
  }

  /**
   * Sends bytes [offset, offset + length) of `bytes`, a complete IP packet. Returns false (and counts it) when
   * the bytes are not a plausible IP packet or the kernel refuses it (no route, larger than the MTU).
   */
  sendIp(bytes: Uint8Array, offset: number, length: number): boolean {
    const problem = ipPacketProblem(bytes, offset, length);
    if (problem !== null) {
      this.malformed++;
      this.lastMalformed = problem;
      return false;
    }
    return this.handle.sendIp(bytes, offset, length);
  }

  counters(): InjectorCounters {
    this.handle.counters(this.countersOut);
    return {
      sent: this.countersOut[0]!,
      refused: this.countersOut[1]! + this.malformed,
      lastError: this.handle.lastError ?? this.lastMalformed,
    };
  }

  close(): void {
    this.handle.close();
  }
}

/** Why bytes [offset, offset + length) are not an IP packet the raw sockets can send, or null if they are. */
export function ipPacketProblem(bytes: Uint8Array, offset: number, length: number): string | null {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
    return 'offset/length outside the buffer';
  }
  if (length < 1) return 'empty packet';
  const version = bytes[offset]! >> 4;
  if (version === 4) {
    const ihl = (bytes[offset]! & 0x0f) * 4;
    if (length < 20 || ihl < 20 || ihl > length) return 'malformed IPv4 header';
    const total = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    if (total !== length) return `IPv4 total length ${total} does not match the ${length} bytes given`;
    return null;
  }
  if (version === 6) {
    if (length < 40) return 'malformed IPv6 header';
    const payload = (bytes[offset + 4]! << 8) | bytes[offset + 5]!;
    if (payload + 40 !== length) return `IPv6 payload length ${payload} does not match the ${length - 40} bytes given`;
    return null;
  }
  return `not an IP packet (version ${version})`;
}
