import type { PacketSource } from '../packet-source.js';
import { CaptureFileError } from '../../util/errors.js';
import { ChunkedFile } from './chunked-file.js';
import { PcapReader } from './pcap-reader.js';
import { PcapngReader } from './pcapng-reader.js';

export type CaptureFileFormat = 'pcap' | 'pcapng';

export interface OpenedCaptureFile {
  source: PacketSource;
  format: CaptureFileFormat;
  /** File size in bytes, or -1 for a pipe. */
  size: number;
}

/** Opens a classic pcap or pcapng file (or `-` for standard input), chosen by its magic number. */
export function openCaptureFile(path: string): OpenedCaptureFile {
  const file = new ChunkedFile(path);
  try {
    if (!file.ensure(4)) {
      throw new CaptureFileError(path, 0, file.available === 0 ? 'empty file (no capture file header)' : 'truncated capture file header');
    }
    const magic = file.buf.readUInt32LE(file.pos);
    if (magic === 0x0a0d0d0a) return { source: new PcapngReader(file), format: 'pcapng', size: file.size };
    if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d || magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
      return { source: new PcapReader(file), format: 'pcap', size: file.size };
    }
    throw new CaptureFileError(path, 0, `unknown capture file format (magic 0x${magic.toString(16).padStart(8, '0')})`, 'offpath reads pcap and pcapng; convert others with editcap');
  } catch (err) {
    file.close();
    throw err;
  }
}
