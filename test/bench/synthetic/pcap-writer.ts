/**
 * Classic libpcap file writer (microsecond timestamps, little-endian, LINKTYPE_ETHERNET) that hands out space
 * in a large buffer and writes it out in big chunks: one write() per few thousand packets.
 *
 * Two buffers alternate: while the generator fills one, the other is being written by libuv's thread pool, so
 * disk time (about as long as generation for a 1.3 GB file) overlaps with generation instead of adding to it.
 * The caller checks `needsRotate` between packets and awaits `rotate()`; `beginRecord` never blocks.
 */
import { closeSync, openSync, write, writeSync } from 'node:fs';

const GLOBAL_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
const LINKTYPE_ETHERNET = 1;
const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Room always left for one more record: larger than any frame the generator builds. */
export const MAX_RECORD_BYTES = RECORD_HEADER_BYTES + 8192;

export class PcapWriter {
  /** Frames are written straight into this buffer by the caller, at the offset `beginRecord` returns. */
  buf: Buffer;
  /** The other buffer: being written to the file while `buf` fills (then `pending` is set). */
  private spare: Buffer;
  private pending: Promise<void> | null = null;
  private pos = 0;
  private readonly fd: number;
  bytesWritten = 0;

  constructor(path: string, snapLength = 65535, chunkBytes = DEFAULT_CHUNK_BYTES) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.allocUnsafe(chunkBytes);
    this.spare = Buffer.allocUnsafe(chunkBytes);
    const b = this.buf;
    b.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond resolution
    b.writeUInt16LE(2, 4); // version 2.4
    b.writeUInt16LE(4, 6);
    b.writeInt32LE(0, 8); // thiszone
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(snapLength, 16);
    b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    this.pos = GLOBAL_HEADER_BYTES;
  }

  /** True when the buffer may not have room for the next record: call `rotate()` before `beginRecord`. */
  get needsRotate(): boolean {
    return this.pos + MAX_RECORD_BYTES > this.buf.length;
  }

  /**
   * Writes a record header for a frame of `frameLength` bytes (captured = on the wire) and returns the offset in
   * `buf` where the caller must write exactly that many bytes before the next call.
   */
  beginRecord(tsSec: number, tsUsec: number, frameLength: number): number {
    const b = this.buf;
    let p = this.pos;
    // Little-endian by hand: Buffer.writeUInt32LE checks its arguments on every call, which shows at 5 M packets.
    p = putU32LE(b, p, tsSec);
    p = putU32LE(b, p, tsUsec);
    p = putU32LE(b, p, frameLength);
    p = putU32LE(b, p, frameLength);
    this.pos = p + frameLength;
    return p;
  }

  /** Starts writing the filled buffer in the background and switches to the other one. */
  async rotate(): Promise<void> {
    if (this.pending) await this.pending; // the spare buffer is free again once its write is done
    const full = this.buf;
    const length = this.pos;
    this.buf = this.spare;
    this.spare = full;
    this.pos = 0;
    this.bytesWritten += length;
    this.pending = writeAll(this.fd, full, length);
  }

  async close(): Promise<void> {
    if (this.pending) await this.pending;
    this.pending = null;
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off);
    this.bytesWritten += this.pos;
    this.pos = 0;
    closeSync(this.fd);
  }
}

function writeAll(fd: number, buf: Buffer, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      write(fd, buf, offset, length - offset, null, (err, written) => {
        if (err) reject(err);
        else if (offset + written < length) step(offset + written);
        else resolve();
      });
    };
    step(0);
  });
}

function putU32LE(b: Uint8Array, p: number, v: number): number {
  b[p] = v & 255;
  b[p + 1] = (v >>> 8) & 255;
  b[p + 2] = (v >>> 16) & 255;
  b[p + 3] = (v >>> 24) & 255;
  return p + 4;
}
