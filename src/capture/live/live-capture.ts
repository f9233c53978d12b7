/**
 * What every live capture backend (cap, the native addon) exposes to the sensor, and what every injection path
 * offers to the responder. Backends differ in how packets cross into JavaScript (one call per packet for `cap`,
 * one call per batch for the native addon); the pipeline sees the same per-packet callback either way.
 */

/**
 * Called once per captured packet, synchronously, from the backend's delivery loop. `data` is valid only during the
 * call (it may be a view into a kernel ring or a reused buffer). Whole seconds and nanoseconds are passed apart so
 * that no double is boxed per packet.
 */
export type LivePacketHandler = (
  data: Uint8Array,
  offset: number,
  capturedLength: number,
  wireLength: number,
  tsSec: number,
  tsNsec: number,
) => void;

export interface LiveCaptureOptions {
  /** Interface to capture on (the mirror / SPAN port). */
  readonly iface: string;
  /** BPF filter expression in tcpdump syntax; empty = everything. */
  readonly filter: string;
  /** Bytes kept per packet. */
  readonly snapLength: number;
  /** Kernel buffer / ring size in bytes. */
  readonly bufferBytes: number;
  /** Put the interface in promiscuous mode (a mirror port delivers frames addressed to others). */
  readonly promiscuous: boolean;
}

/** Cumulative capture statistics, as the kernel / libpcap report them. */
export interface LiveCaptureStats {
  /** Packets handed to the handler. */
  readonly received: number;
  /**
   * Packets the kernel dropped because the buffer or ring was full (pcap_stats ps_drop / tp_drops); null when the
   * backend cannot know (the `cap` binding exposes no statistics): unknown is never reported as none.
   */
  readonly kernelDropped: number | null;
  /** Packets the interface or driver dropped (pcap_stats ps_ifdrop; 0 where not reported). */
  readonly interfaceDropped: number;
}

export interface LiveCapture {
  /** Backend name, for logs and metrics ("cap", "native-pcap", "native-tpacket"). */
  readonly backend: string;
  /** Link type of the frames delivered (DLT_*; 1 = Ethernet). */
  readonly linkType: number;
  /** Starts delivering packets to `handler` from the event loop. */
  start(handler: LivePacketHandler): void;
  stats(): LiveCaptureStats;
  /** Stops capture and releases the kernel resources. Idempotent. */
  close(): void;
}

/** A way to put crafted frames on a wire. Layer 2 injectors take whole Ethernet frames. */
export interface FrameInjector {
  readonly name: string;
  /** Sends one frame (bytes [0, length) of `frame`). Returns false if the kernel refused it (counted by the caller). */
  send(frame: Uint8Array, length: number): boolean;
  /**
   * Optional: sends `count` frames in one system call (frame i is bytes [offsets[i], offsets[i] + lengths[i]) of
   * `buffer`). Returns how many the kernel took.
   */
  sendBatch?(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  close(): void;
}

/** Layer-3 injection: a complete IPv4 or IPv6 packet sent through the routing table (raw socket). */
export interface IpPacketInjector {
  readonly name: string;
  /** Sends the IP packet at bytes [offset, offset + length) of `packet`; false if the kernel refused it. */
  sendIp(packet: Uint8Array, offset: number, length: number): boolean;
  close(): void;
}
