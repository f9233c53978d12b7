/**
 * What every capture source (file readers now, live backends later) exposes to the pipeline.
 *
 * Pull-based and allocation-free: `next()` advances to the next packet and the fields below describe it.
 * `data` is a view into the source's own buffer and stays valid only until the next call to `next()`.
 */
export interface PacketSource {
  /** Advances to the next packet. Returns false at the clean end; throws CaptureFileError on a corrupt source. */
  next(): boolean;
  data: Uint8Array;
  /** Offset of the first captured byte in `data`. */
  offset: number;
  /** Bytes captured (may be less than `wireLength` when the snap length cut the packet). */
  capturedLength: number;
  /** Length of the packet on the wire. */
  wireLength: number;
  /** Timestamp: whole seconds since the epoch and the nanoseconds within that second. */
  tsSec: number;
  tsNsec: number;
  linkType: number;
  /** Interface the packet was captured on (pcapng IDB index; 0 for classic pcap). */
  interfaceId: number;
  /** Byte offset of the current record in the source (for error messages and progress). */
  recordOffset: number;
  /**
   * Where the packet after the next one lies in `data`, when the source already holds it: its offset (its captured
   * length in `aheadLength`), or -1. A hint for prefetching (the session table's native path), never read as a
   * packet: it may be cut short or not be what next() will give.
   */
  aheadOffset(): number;
  aheadLength: number;
  close(): void;
}
