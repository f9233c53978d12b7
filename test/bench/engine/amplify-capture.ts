/**
 * Makes a tiny capture big enough to time: the file is concatenated with time-shifted copies of itself until it
 * holds at least `minPackets` packets, like `tcpreplay --loop` but as one file.
 *
 * Why one big file rather than many runs of the small one: a run of a few hundred packets is over in
 * microseconds, so process start-up (tens of milliseconds for node) and JIT warm-up would be all that is
 * measured. One file of a million packets gives a run of about a second, where both are noise.
 *
 * Copies are made by doubling (editcap -t shifts a copy by the current length, mergecap -a appends it), so even
 * a 10-packet file needs only ~17 steps. Timestamps stay monotonic and the format (pcap or pcapng, and thus
 * the reader that offpath uses) is kept. The same flows repeat in each copy, one after another in time, as in a
 * replay loop.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runChecked } from '../harness/exec.js';

/** Bump when the amplified output for the same input changes. */
const AMPLIFY_VERSION = 1;
/** Gap between the end of one copy and the start of the next. */
const GAP_SECONDS = 0.001;
const MAX_COPIES = 1 << 24;

export interface CaptureInfo {
  /** As capinfos names it, e.g. "pcap", "pcapng", "nsecpcap". */
  fileType: string;
  packets: number;
  firstTime: number;
  lastTime: number;
}

export interface AmplifiedCapture {
  path: string;
  packets: number;
  copies: number;
  sourcePackets: number;
  fileType: string;
}

export function captureInfo(path: string): CaptureInfo {
  // -T -r: one tab-separated row without header; -M: plain numbers; -S: epoch seconds.
  const row = runChecked('capinfos', ['-T', '-r', '-M', '-S', '-t', '-c', '-a', '-e', path]).trim().split('\n').pop()!;
  const cells = row.split('\t');
  const [fileType, packets, first, last] = cells.slice(-4);
  const info = { fileType: fileType ?? '', packets: Number(packets), firstTime: Number(first), lastTime: Number(last) };
  if (!Number.isFinite(info.packets)) throw new Error(`capinfos: unexpected output for ${path}: ${row}`);
  if (!Number.isFinite(info.firstTime)) info.firstTime = 0; // no packets, or no time stamps
  if (!Number.isFinite(info.lastTime)) info.lastTime = info.firstTime;
  return info;
}

/** mergecap/editcap -F name for the same kind of file as the source. */
function outputFormat(fileType: string): string {
  const t = fileType.toLowerCase();
  if (t.includes('pcapng')) return 'pcapng';
  if (t.includes('nsec') || t.includes('nanosecond')) return 'nsecpcap';
  return 'pcap';
}

export function amplifyCapture(source: string, minPackets: number, cacheDir: string): AmplifiedCapture {
  const info = captureInfo(source);
  const format = outputFormat(info.fileType);
  if (info.packets === 0) throw new Error(`${source}: no packets`);
  if (info.packets >= minPackets) {
    return { path: source, packets: info.packets, copies: 1, sourcePackets: info.packets, fileType: format };
  }
  let copies = 1;
  while (info.packets * copies < minPackets && copies < MAX_COPIES) copies *= 2;

  const digest = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const ext = format === 'pcapng' ? 'pcapng' : 'pcap';
  const name = `${basename(source).replace(/[^A-Za-z0-9._-]/g, '_')}-${digest}-x${copies}-v${AMPLIFY_VERSION}.${ext}`;
  mkdirSync(cacheDir, { recursive: true });
  const target = join(cacheDir, name);
  const meta = `${target}.json`;
  if (existsSync(target) && existsSync(meta)) {
    return JSON.parse(readFileSync(meta, 'utf8')) as AmplifiedCapture;
  }

  const work = join(cacheDir, `tmp-${process.pid}-${digest}`);
  mkdirSync(work, { recursive: true });
  try {
    const step = info.lastTime - info.firstTime + GAP_SECONDS;
    const digits = format === 'nsecpcap' || format === 'pcapng' ? 9 : 6;
    let current = join(work, `block-1.${ext}`);
    runChecked('editcap', ['-F', format, source, current]);
    for (let n = 1; n < copies; n *= 2) {
      const shifted = join(work, `shifted-${n}.${ext}`);
      const merged = join(work, `block-${n * 2}.${ext}`);
      runChecked('editcap', ['-F', format, '-t', (step * n).toFixed(digits), current, shifted]);
      runChecked('mergecap', ['-a', '-F', format, '-w', merged, current, shifted]);
      rmSync(current);
      rmSync(shifted);
      current = merged;
    }
    renameSync(current, target);
    const result: AmplifiedCapture = {
      path: target,
      packets: info.packets * copies,
      copies,
      sourcePackets: info.packets,
      fileType: format,
    };
    writeFileSync(meta, JSON.stringify(result, null, 2));
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
