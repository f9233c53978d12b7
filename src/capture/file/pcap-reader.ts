import type { PacketSource } from '../packet-source.js';
import { CaptureFileError } from '../../util/errors.js';
import type { ChunkedFile } from './chunked-file.js';
import { MAX_RECORD_BYTES } from './limits.js';
import { LinkType } from '../link-type.js';

const FILE_HEADER = 24;
const RECORD_HEADER = 16;

/** Classic libpcap format: microsecond or nanosecond magic, either byte order. */
export class PcapReader implements PacketSource {
  data: Uint8Array;
  offset = 0;
  capturedLength = 0;
  wireLength = 0;
  tsSec = 0;
  tsNsec = 0;
  readonly linkType: number;
  readonly interfaceId = 0;
  recordOffset = 0;
  readonly snapLength: number;
  /** Records whose sub-second field was out of range (kept, clamped). */
  invalidTimestamps = 0;
  readonly nanosecond: boolean;
  private readonly little: boolean;
  /**
   * Before format 2.3 the captured and original lengths were stored the other way round; 2.3 files written by
   * some old tools still have them swapped. libpcap and Wireshark swap them back, and so do we.
   */
  private readonly lengthsSwapped: 'no' | 'yes' | 'maybe';
  private readonly file: ChunkedFile;
  aheadLength = 0;
  /** The only frames the look-ahead's consumer parses (see PacketSource.aheadOffset): no hints for other link types. */
  private readonly aheadEthernet: boolean;

  constructor(file: ChunkedFile) {
    this.file = file;
    if (!file.ensure(FILE_HEADER)) {
      throw new CaptureFileError(file.path, file.offset + file.available, `truncated pcap file header (${file.available} of ${FILE_HEADER} bytes)`);
    }
    const b = file.buf;
    const p = file.pos;
    const magicLE = b.readUInt32LE(p);
    switch (magicLE) {
      case 0xa1b2c3d4:
        this.little = true;
        this.nanosecond = false;
        break;
      case 0xa1b23c4d:
        this.little = true;
        this.nanosecond = true;
        break;
      case 0xd4c3b2a1:
        this.little = false;
        this.nanosecond = false;
        break;
      case 0x4d3cb2a1:
        this.little = false;
        this.nanosecond = true;
        break;
      default:
        throw new CaptureFileError(file.path, file.offset, `not a pcap file (magic 0x${magicLE.toString(16).padStart(8, '0')})`);
    }
    const major = this.little ? b.readUInt16LE(p + 4) : b.readUInt16BE(p + 4);
    if (major !== 2) {
      throw new CaptureFileError(file.path, file.offset + 4, `unsupported pcap version ${major}`, 'only version 2.x exists in practice');
    }
    const minor = this.little ? b.readUInt16LE(p + 6) : b.readUInt16BE(p + 6);
    this.lengthsSwapped = minor < 3 ? 'yes' : minor === 3 ? 'maybe' : 'no';
    this.snapLength = this.little ? b.readUInt32LE(p + 16) : b.readUInt32BE(p + 16);
    // The upper bits of the link-type field carry FCS information, not the link type.
    this.linkType = (this.little ? b.readUInt32LE(p + 20) : b.readUInt32BE(p + 20)) & 0xffff;
    file.pos += FILE_HEADER;
    this.data = file.buf;
    this.aheadEthernet = this.linkType === LinkType.ETHERNET;
  }

  next(): boolean {
    const file = this.file;
    if (!file.holds(RECORD_HEADER) && !file.ensure(RECORD_HEADER)) {
      if (file.available === 0) return false;
      throw new CaptureFileError(file.path, file.offset, `truncated record header (${file.available} of ${RECORD_HEADER} bytes)`);
    }
    const p = file.pos;
    const v = file.view;
    const little = this.little;
    const sec = v.getUint32(p, little);
    const frac = v.getUint32(p + 4, little);
    let incl = v.getUint32(p + 8, little);
    let orig = v.getUint32(p + 12, little);
    let inclField = 8;
    if (this.lengthsSwapped === 'yes' || (this.lengthsSwapped === 'maybe' && incl > orig)) {
      const t = incl;
      incl = orig;
      orig = t;
      inclField = 12;
    }
    if (incl > MAX_RECORD_BYTES) {
      throw new CaptureFileError(file.path, file.offset + inclField, `impossible record length ${incl} (limit ${MAX_RECORD_BYTES})`, 'the file is corrupt from here on');
    }
    this.recordOffset = file.base + p;
    if (!file.holds(RECORD_HEADER + incl) && !file.ensure(RECORD_HEADER + incl)) {
      throw new CaptureFileError(file.path, file.offset, `truncated record: header says ${incl} bytes, only ${file.available - RECORD_HEADER} remain`);
    }
    this.data = file.buf;
    this.offset = file.pos + RECORD_HEADER;
    this.capturedLength = incl;
    this.wireLength = orig < incl ? incl : orig;
    this.tsSec = sec;
    this.tsNsec = this.nanosecond ? frac : frac * 1000;
    // A fraction of a second of a second or more is invalid. Folding it into the seconds could throw the clock
    // hours ahead and expire every session, so clamp it to the end of its second instead.
    if (this.tsNsec >= 1e9) {
      this.tsNsec = 999_999_999;
      this.invalidTimestamps++;
    }
    file.pos += RECORD_HEADER + incl;
    return true;
  }

  /** See PacketSource.aheadOffset: the record after the next one, when the chunk holds both headers. */
  aheadOffset(): number {
    if (!this.aheadEthernet) return -1;
    const file = this.file;
    const next = file.pos;
    if (next + RECORD_HEADER > file.end) return -1;
    const after = next + RECORD_HEADER + this.capturedLengthAt(next);
    if (after + RECORD_HEADER > file.end) return -1;
    const offset = after + RECORD_HEADER;
    // Cut to what the chunk holds: a hint needs no more.
    this.aheadLength = Math.min(this.capturedLengthAt(after), file.end - offset);
    return offset;
  }

  /** The captured length in the record header at `p` of the chunk, read as next() reads it (see lengthsSwapped). */
  private capturedLengthAt(p: number): number {
    const v = this.file.view;
    const incl = v.getUint32(p + 8, this.little);
    if (this.lengthsSwapped === 'no') return incl;
    const orig = v.getUint32(p + 12, this.little);
    return this.lengthsSwapped === 'yes' || incl > orig ? orig : incl;
  }

  close(): void {
    this.file.close();
  }
}
