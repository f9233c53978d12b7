import type { PacketSource } from '../packet-source.js';
import { CaptureFileError } from '../../util/errors.js';
import type { ChunkedFile } from './chunked-file.js';
import { MAX_RECORD_BYTES } from './limits.js';

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_OPB = 0x00000002; // obsolete Packet Block, still written by old tools
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** A block may hold a packet plus options; anything far beyond the packet limit is corruption. */
const MAX_BLOCK_BYTES = MAX_RECORD_BYTES + (1 << 20);
const MIN_BLOCK = 12;

interface InterfaceDescription {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second (10^6 by default). */
  unitsPerSecond: number;
  /** Nanoseconds per unit when that is a whole number (power-of-ten resolutions up to 10^-9), else 0. */
  nsPerUnit: number;
  offsetSeconds: number;
}

/**
 * pcapng: SHB (several sections, each with its own byte order), IDB (per-interface link type, snap length and
 * timestamp resolution), EPB, SPB and the obsolete PB. Other blocks are skipped by length.
 */
export class PcapngReader implements PacketSource {
  /** No look-ahead: blocks of other types may sit between packets (see PacketSource.aheadOffset). */
  readonly aheadLength = 0;
  aheadOffset(): number {
    return -1;
  }

  data: Uint8Array;
  offset = 0;
  capturedLength = 0;
  wireLength = 0;
  tsSec = 0;
  tsNsec = 0;
  linkType = 0;
  interfaceId = 0;
  recordOffset = 0;
  /** Link types of every interface seen so far, in order (for reporting). */
  readonly interfaces: InterfaceDescription[] = [];
  private sectionInterfaces: InterfaceDescription[] = [];
  private little = true;
  private readonly file: ChunkedFile;

  constructor(file: ChunkedFile) {
    this.file = file;
    this.data = file.buf;
    if (!file.ensure(MIN_BLOCK)) {
      throw new CaptureFileError(file.path, file.offset + file.available, `truncated pcapng section header (${file.available} bytes)`);
    }
    if (file.buf.readUInt32LE(file.pos) !== BLOCK_SHB) {
      throw new CaptureFileError(file.path, file.offset, 'not a pcapng file (first block is not a section header)');
    }
  }

  private u32(p: number): number {
    return this.file.view.getUint32(p, this.little);
  }

  private u16(p: number): number {
    return this.file.view.getUint16(p, this.little);
  }

  next(): boolean {
    const file = this.file;
    for (;;) {
      if (!file.holds(MIN_BLOCK) && !file.ensure(MIN_BLOCK)) {
        if (file.available === 0) return false;
        throw new CaptureFileError(file.path, file.offset, `truncated block header (${file.available} bytes left)`);
      }
      const start = file.pos;
      const blockOffset = file.base + start;
      const rawType = file.view.getUint32(start, true);
      if (rawType === BLOCK_SHB) {
        this.readSectionHeader();
        continue;
      }
      const type = this.u32(start);
      const length = this.u32(start + 4);
      if (length < MIN_BLOCK || length % 4 !== 0 || length > MAX_BLOCK_BYTES) {
        throw new CaptureFileError(file.path, blockOffset + 4, `invalid block length ${length} for block type 0x${type.toString(16)}`);
      }
      if (!file.holds(length) && !file.ensure(length)) {
        throw new CaptureFileError(file.path, blockOffset, `truncated block: type 0x${type.toString(16)} says ${length} bytes, only ${file.available} remain`);
      }
      const p = file.pos; // ensure() may have moved the data
      if (this.u32(p + length - 4) !== length) {
        throw new CaptureFileError(file.path, blockOffset + length - 4, 'block trailer length does not match its header', 'the file is corrupt from here on');
      }
      file.pos += length;
      if (type === BLOCK_EPB) {
        if (this.readEnhancedPacket(p, length, blockOffset)) return true;
      } else if (type === BLOCK_SPB) {
        if (this.readSimplePacket(p, length, blockOffset)) return true;
      } else if (type === BLOCK_OPB) {
        if (this.readObsoletePacket(p, length, blockOffset)) return true;
      } else if (type === BLOCK_IDB) {
        this.readInterface(p, length, blockOffset);
      }
      // Every other block (name resolution, statistics, secrets, custom) carries no packet: skipped by length.
    }
  }

  private readSectionHeader(): void {
    const file = this.file;
    const blockOffset = file.offset;
    if (!file.ensure(28)) {
      throw new CaptureFileError(file.path, blockOffset, 'truncated section header block');
    }
    const magic = file.buf.readUInt32LE(file.pos + 8);
    if (magic === BYTE_ORDER_MAGIC) this.little = true;
    else if (magic === 0x4d3c2b1a) this.little = false;
    else throw new CaptureFileError(file.path, blockOffset + 8, `bad byte-order magic 0x${magic.toString(16)} in section header`);
    const length = this.u32(file.pos + 4);
    const major = this.u16(file.pos + 12);
    if (major !== 1) throw new CaptureFileError(file.path, blockOffset + 12, `unsupported pcapng major version ${major}`);
    if (length < 28 || length % 4 !== 0 || length > MAX_BLOCK_BYTES) {
      throw new CaptureFileError(file.path, blockOffset + 4, `invalid section header length ${length}`);
    }
    if (!file.ensure(length)) throw new CaptureFileError(file.path, blockOffset, 'truncated section header block');
    if (this.u32(file.pos + length - 4) !== length) {
      throw new CaptureFileError(file.path, blockOffset + length - 4, 'section header trailer length does not match its header');
    }
    file.pos += length;
    // Interface ids are numbered per section.
    this.sectionInterfaces = [];
  }

  private readInterface(p: number, length: number, blockOffset: number): void {
    if (length < 20) throw new CaptureFileError(this.file.path, blockOffset, `interface description block too short (${length} bytes)`);
    const desc: InterfaceDescription = {
      linkType: this.u16(p + 8),
      snapLength: this.u32(p + 12),
      unitsPerSecond: 1e6,
      nsPerUnit: 1000,
      offsetSeconds: 0,
    };
    // Options: code(2) length(2) value padded to 4.
    let o = p + 16;
    const end = p + length - 4;
    while (o + 4 <= end) {
      const code = this.u16(o);
      const len = this.u16(o + 2);
      if (code === OPT_END) break;
      if (o + 4 + len > end) break; // a bad option list: keep the defaults rather than drop the interface
      const b = this.file.buf;
      if (code === OPT_IF_TSRESOL && len >= 1) {
        const r = b[o + 4]!;
        const exp = r & 0x7f;
        desc.unitsPerSecond = r & 0x80 ? 2 ** exp : 10 ** exp;
        desc.nsPerUnit = !(r & 0x80) && exp <= 9 ? 10 ** (9 - exp) : 0;
      } else if (code === OPT_IF_TSOFFSET && len >= 8) {
        const hi = this.little ? b.readInt32LE(o + 8) : b.readInt32BE(o + 4);
        const lo = this.little ? b.readUInt32LE(o + 4) : b.readUInt32BE(o + 8);
        desc.offsetSeconds = hi * 4294967296 + lo;
      }
      o += 4 + ((len + 3) & ~3);
    }
    this.sectionInterfaces.push(desc);
    this.interfaces.push(desc);
  }

  private iface(id: number, blockOffset: number): InterfaceDescription {
    const desc = this.sectionInterfaces[id];
    if (!desc) {
      throw new CaptureFileError(this.file.path, blockOffset, `packet refers to interface ${id}, but only ${this.sectionInterfaces.length} are described`);
    }
    return desc;
  }

  private readEnhancedPacket(p: number, length: number, blockOffset: number): boolean {
    return this.readTimestampedPacket(p, length, blockOffset, this.u32(p + 8), 'enhanced packet block');
  }

  /** The obsolete Packet Block: like an EPB but with a 16-bit interface id followed by a drop count. */
  private readObsoletePacket(p: number, length: number, blockOffset: number): boolean {
    return this.readTimestampedPacket(p, length, blockOffset, this.u16(p + 8), 'packet block');
  }

  /** EPB and PB share their layout after the interface id: timestamp, captured and original length, data. */
  private readTimestampedPacket(p: number, length: number, blockOffset: number, id: number, what: string): boolean {
    if (length < 32) throw new CaptureFileError(this.file.path, blockOffset, `${what} too short (${length} bytes)`);
    const desc = this.iface(id, blockOffset);
    const captured = this.u32(p + 20);
    if (captured > MAX_RECORD_BYTES || 28 + captured + 4 > length) {
      throw new CaptureFileError(this.file.path, blockOffset + 20, `impossible captured length ${captured} in a ${length}-byte block`);
    }
    this.setTimestamp(desc, this.u32(p + 12), this.u32(p + 16));
    return this.setPacket(p + 28, captured, this.u32(p + 24), desc, id, blockOffset);
  }

  private readSimplePacket(p: number, length: number, blockOffset: number): boolean {
    if (length < 16) throw new CaptureFileError(this.file.path, blockOffset, `simple packet block too short (${length} bytes)`);
    const desc = this.iface(0, blockOffset);
    const wire = this.u32(p + 8);
    let captured = Math.min(wire, length - 16);
    if (desc.snapLength > 0) captured = Math.min(captured, desc.snapLength);
    // A simple packet has no timestamp: keep the previous one so that time never runs backwards.
    return this.setPacket(p + 12, captured, wire, desc, 0, blockOffset);
  }

  private setPacket(dataOffset: number, captured: number, wire: number, desc: InterfaceDescription, id: number, blockOffset: number): boolean {
    this.data = this.file.buf;
    this.offset = dataOffset;
    this.capturedLength = captured;
    this.wireLength = wire < captured ? captured : wire;
    this.linkType = desc.linkType;
    this.interfaceId = id;
    this.recordOffset = blockOffset;
    return true;
  }

  /**
   * Splits a 64-bit tick count into seconds and nanoseconds without losing precision to doubles:
   * ticks = hi·2^32 + lo, divided by the resolution in 16-bit steps so every intermediate stays below 2^53.
   */
  private setTimestamp(desc: InterfaceDescription, hi: number, lo: number): void {
    const div = desc.unitsPerSecond;
    let sec: number;
    let rem: number;
    if (hi < 0x200000 && div <= 4294967296) {
      // Below 2^53 ticks (microseconds until the year 2255): one exact double and one division, then a correction
      // for the quotient's rounding, since every product here stays exact. The same result as the steps below.
      const ticks = hi * 4294967296 + lo;
      sec = Math.floor(ticks / div);
      rem = ticks - sec * div;
      if (rem < 0) {
        sec--;
        rem += div;
      } else if (rem >= div) {
        sec++;
        rem -= div;
      }
    } else if (div <= 4294967296) {
      const hiq = Math.floor(hi / div);
      const hir = hi - hiq * div;
      const x = hir * 65536 + (lo >>> 16);
      const q2 = Math.floor(x / div);
      const y = (x - q2 * div) * 65536 + (lo & 0xffff);
      const q3 = Math.floor(y / div);
      rem = y - q3 * div;
      sec = hiq * 4294967296 + q2 * 65536 + q3;
    } else {
      // Finer than 2^-32 s: rare enough that exact BigInt arithmetic is worth its allocation.
      const ticks = (BigInt(hi) << 32n) | BigInt(lo);
      const divisor = BigInt(div);
      sec = Number(ticks / divisor);
      rem = Number(((ticks % divisor) * 1_000_000_000n) / divisor);
      this.tsSec = sec + desc.offsetSeconds;
      this.tsNsec = rem;
      return;
    }
    this.tsSec = sec + desc.offsetSeconds;
    this.tsNsec = desc.nsPerUnit > 0 ? rem * desc.nsPerUnit : Math.floor((rem * 1e9) / div);
  }

  close(): void {
    this.file.close();
  }
}
