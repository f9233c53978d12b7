/** Reads a whole capture file through openCaptureFile, copying every packet, and catching the first error. */
import { openCaptureFile, type CaptureFileFormat } from '../../src/capture/file/open-capture-file.js';
import type { PacketSource } from '../../src/capture/packet-source.js';

export interface ReadPacket {
  data: Uint8Array;
  capturedLength: number;
  wireLength: number;
  tsSec: number;
  tsNsec: number;
  linkType: number;
  interfaceId: number;
  recordOffset: number;
}

export interface ReadResult {
  format?: CaptureFileFormat;
  size?: number;
  packets: ReadPacket[];
  error?: unknown;
  source?: PacketSource;
}

export function readAll(path: string, limit = 1_000_000): ReadResult {
  const out: ReadResult = { packets: [] };
  let source: PacketSource | undefined;
  try {
    const opened = openCaptureFile(path);
    out.format = opened.format;
    out.size = opened.size;
    source = opened.source;
    out.source = source;
    while (out.packets.length < limit && source.next()) {
      out.packets.push({
        // A copy, as a plain Uint8Array: the source's buffer is reused (and may be a Buffer, whose slice() is a view).
        data: Uint8Array.from(source.data.subarray(source.offset, source.offset + source.capturedLength)),
        capturedLength: source.capturedLength,
        wireLength: source.wireLength,
        tsSec: source.tsSec,
        tsNsec: source.tsNsec,
        linkType: source.linkType,
        interfaceId: source.interfaceId,
        recordOffset: source.recordOffset,
      });
    }
  } catch (err) {
    out.error = err;
  } finally {
    source?.close();
  }
  return out;
}

/** Byte-array equality with a readable failure (first differing index), fast on large arrays. */
export function sameBytes(actual: Uint8Array, expected: ArrayLike<number>): string {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < actual.length; i++) if (actual[i] !== expected[i]) return `byte ${i}: ${actual[i]} != ${expected[i]}`;
  return 'same';
}
