import { closeSync, openSync, writeSync } from 'node:fs';
import { OffpathError } from '../../util/errors.js';

/**
 * Writes a classic pcap file with nanosecond timestamps (so crafted packets can be stamped just after the
 * packet that triggered them) through a bounded buffer.
 */
export class PcapWriter {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  packets = 0;

  constructor(readonly path: string, linkType: number, snapLength = 262144) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new OffpathError('output', `cannot write ${path} (${e.code ?? e.message})`, 'check the directory exists and is writable');
    }
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b23c4d, 0); // nanosecond magic
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(snapLength, 16);
    header.writeUInt32LE(linkType, 20);
    writeSync(this.fd, header);
  }

  write(data: Uint8Array, offset: number, length: number, tsSec: number, tsNsec: number): void {
    if (this.used + 16 + length > this.buf.length) this.flush();
    const b = this.buf;
    b.writeUInt32LE(tsSec >>> 0, this.used);
    b.writeUInt32LE(tsNsec >>> 0, this.used + 4);
    b.writeUInt32LE(length, this.used + 8);
    b.writeUInt32LE(length, this.used + 12);
    b.set(data.subarray(offset, offset + length), this.used + 16);
    this.used += 16 + length;
    this.packets++;
  }

  /** FrameSink: a whole frame from offset 0. */
  send(frame: Uint8Array, length: number, tsSec: number, tsNsec: number): void {
    this.write(frame, 0, length, tsSec, tsNsec);
  }

  flush(): void {
    for (let off = 0; off < this.used; ) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
