/**
 * Live capture through the native addon: packets cross from C++ into JavaScript one batch per call (never one
 * call per packet), and this wrapper walks the batch and calls the LivePacketHandler per packet (a cheap JS→JS
 * call). Nothing is allocated per packet or per batch.
 *
 * Two modes:
 * - `pcap`: libpcap in immediate mode; each packet is copied into one reused buffer (libpcap reclaims its ring
 *   slot when its per-packet callback returns).
 * - `tpacket`: an AF_PACKET socket with a memory-mapped RX ring read in place (zero copy); TPACKET_V3 blocks
 *   (default) or TPACKET_V2 frames, optional PACKET_FANOUT so that several sockets (one per worker thread) each
 *   take a share of the flows. See native-bindings/README.md for the latency/throughput trade-off.
 */
import { ConfigError } from '../../util/errors.js';
import { LiveCaptureError } from './capture-errors.js';
import type { LiveCapture, LiveCaptureOptions, LiveCaptureStats, LivePacketHandler } from './live-capture.js';
import {
  asProblem,
  loadNativeAddon,
  toLiveCaptureError,
  type RawCaptureHandle,
  type RawCaptureOptions,
} from './native-addon.js';

export type NativeCaptureMode = 'pcap' | 'tpacket';

export interface NativeCaptureOptions extends LiveCaptureOptions {
  readonly mode: NativeCaptureMode;
  /**
   * Network namespace to open the socket in (a path such as /run/netns/NAME). The socket stays there; the
   * process does not move. Default: the calling thread's namespace.
   */
  readonly netns?: string;
  /** Skip frames this host sends on the interface (PACKET_IGNORE_OUTGOING / pcap direction "in"). Default false. */
  readonly ignoreOutgoing?: boolean;
  /** Most packets per JavaScript call. Default 1024. */
  readonly batchPackets?: number;
  /** pcap mode: bytes of the buffer packets are copied into (at least snapLength). Default 4 MiB. */
  readonly batchBytes?: number;
  /** tpacket mode: ring layout. Default 3 (blocks); 2 = one slot per packet, lowest latency. */
  readonly tpacketVersion?: 2 | 3;
  /** tpacket V3: block size in bytes, a power of two >= 4096. Default 256 KiB. */
  readonly blockBytes?: number;
  /**
   * tpacket V3: how long a partly filled block waits before the kernel hands it over (ms; 0 = kernel default,
   * which is derived from the link speed). This bounds the latency at low packet rates. Default 1.
   */
  readonly blockTimeoutMs?: number;
  /** tpacket: join this PACKET_FANOUT group (0..65535, hash by flow with IP defragmentation). Default none. */
  readonly fanoutGroup?: number;
  /**
   * Called when the kernel reports a problem after start: `fatal` false for an interface that went down (capture
   * resumes when it is back up), true when capture has stopped (close() the capture). Without it, the error is
   * emitted as a process warning.
   */
  readonly onError?: (error: LiveCaptureError, fatal: boolean) => void;
}

const META_WORDS = 5;
const MAX_SNAP = 262144;

function checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`capture option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

function validate(o: NativeCaptureOptions): void {
  if (o.mode !== 'pcap' && o.mode !== 'tpacket') throw new ConfigError(`capture mode must be "pcap" or "tpacket", got "${String(o.mode)}"`);
  checkInteger('snapLength', o.snapLength, 16, MAX_SNAP);
  checkInteger('bufferBytes', o.bufferBytes, 64 * 1024, 1 << 30);
  checkInteger('batchPackets', o.batchPackets, 1, 65536);
  checkInteger('batchBytes', o.batchBytes, 64 * 1024, 256 * 1024 * 1024);
  checkInteger('blockBytes', o.blockBytes, 4096, 64 * 1024 * 1024);
  checkInteger('blockTimeoutMs', o.blockTimeoutMs, 0, 60000);
  checkInteger('fanoutGroup', o.fanoutGroup, 0, 65535);
  if (o.blockBytes !== undefined && (o.blockBytes & (o.blockBytes - 1)) !== 0) {
    throw new ConfigError(`capture option blockBytes must be a power of two, got ${o.blockBytes}`);
  }
  if (o.tpacketVersion !== undefined && o.tpacketVersion !== 2 && o.tpacketVersion !== 3) {
    throw new ConfigError(`capture option tpacketVersion must be 2 or 3, got ${String(o.tpacketVersion)}`);
  }
  if (o.mode === 'pcap' && (o.fanoutGroup !== undefined || o.tpacketVersion !== undefined)) {
    throw new ConfigError('fanoutGroup and tpacketVersion need mode "tpacket"');
  }
}

/** A capture on one interface through the native addon. Opens (and can throw LiveCaptureError) in the constructor. */
export class NativeCapture implements LiveCapture {
  readonly backend: string;
  readonly linkType: number;
  readonly iface: string;
  private readonly handle: RawCaptureHandle;
  private readonly onError: ((error: LiveCaptureError, fatal: boolean) => void) | undefined;
  private readonly statsOut = new Float64Array(3);
  private handler: LivePacketHandler | undefined;
  private closed = false;

  constructor(options: NativeCaptureOptions) {
    validate(options);
    const addon = loadNativeAddon();
    this.iface = options.iface;
    this.onError = options.onError;
    const raw: RawCaptureOptions = {
      mode: options.mode,
      iface: options.iface,
      filter: options.filter,
      snapLength: options.snapLength,
      bufferBytes: options.bufferBytes,
      promiscuous: options.promiscuous,
      ignoreOutgoing: options.ignoreOutgoing ?? false,
      batchPackets: options.batchPackets ?? 1024,
    };
    if (options.netns !== undefined) raw.netns = options.netns;
    if (options.batchBytes !== undefined) raw.batchBytes = options.batchBytes;
    if (options.mode === 'tpacket') {
      raw.tpacketVersion = options.tpacketVersion ?? 3;
      if (options.blockBytes !== undefined) raw.blockBytes = options.blockBytes;
      raw.blockTimeoutMs = options.blockTimeoutMs ?? 1;
      if (options.fanoutGroup !== undefined) raw.fanoutGroup = options.fanoutGroup;
    }
    try {
      this.handle = new addon.CaptureHandle(raw);
    } catch (err) {
      throw toLiveCaptureError(err, options.iface);
    }
    this.backend = this.handle.backend;
    this.linkType = this.handle.linkType;
  }

  start(handler: LivePacketHandler): void {
    if (this.closed) throw new LiveCaptureError('failed', this.iface, 'the capture is closed');
    if (this.handler) throw new LiveCaptureError('failed', this.iface, 'the capture is already started');
    this.handler = handler;
    this.handle.start(this.deliver, this.report);
  }

  /**
   * One call per batch. `buffer` and `meta` are the same objects every time; a handler must not keep `data`
   * (in tpacket mode the bytes go back to the kernel when this returns).
   */
  private readonly deliver = (buffer: Uint8Array, meta: Uint32Array, count: number): void => {
    const handler = this.handler!;
    for (let i = 0, m = 0; i < count; i++, m += META_WORDS) {
      handler(buffer, meta[m]!, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, meta[m + 4]!);
      if (this.closed) return;
    }
  };

  private readonly report = (message: string, problem: string, fatal: boolean): void => {
    const error = new LiveCaptureError(asProblem(problem, message), this.iface, message);
    if (this.onError) this.onError(error, fatal);
    else process.emitWarning(error.message, { code: error.code, detail: fatal ? 'capture stopped' : 'capture continues' });
  };

  stats(): LiveCaptureStats {
    this.handle.stats(this.statsOut);
    return { received: this.statsOut[0]!, kernelDropped: this.statsOut[1]!, interfaceDropped: this.statsOut[2]! };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}
