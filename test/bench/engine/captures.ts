/**
 * The captures the engine benchmark measures: the synthetic one (generated once and cached), then every
 * *.pcap / *.pcapng under the repository's pcaps/ folder, concatenated up to a timeable size.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { BenchContext } from '../harness/part.js';
import { ensureSyntheticPcap, type SyntheticResult } from '../synthetic-pcap.js';
import { amplifyCapture } from './amplify-capture.js';

export interface BenchCapture {
  /** Short label for tables: "synthetic" or the path under pcaps/. */
  name: string;
  path: string;
  packets: number;
  fileBytes: number;
  origin: 'synthetic' | 'repository';
  /** Repository captures: the original file and how many copies were concatenated. */
  source?: string;
  copies?: number;
  synthetic?: SyntheticResult;
  /** More arguments for `offpath replay` (the synthetic capture is measured once more on the TypeScript path). */
  replayArgs?: string[];
}

export interface CaptureSet {
  captures: BenchCapture[];
  /** The synthetic capture could not be made: the benchmark is incomplete. */
  problems: string[];
  /**
   * Repository files that editcap cannot read (pcaps/ may hold deliberately broken files for the reader's
   * tests): left out with a note, since they say nothing about throughput.
   */
  skipped: string[];
}

export async function collectCaptures(ctx: BenchContext): Promise<CaptureSet> {
  const captures: BenchCapture[] = [];
  const problems: string[] = [];
  const skipped: string[] = [];
  const o = ctx.options;

  ctx.log(`synthetic capture: ${o.packets} packets, ${o.flows} flows, seed ${o.seed} (cached under ${ctx.cacheDir})`);
  try {
    const s = await ensureSyntheticPcap(
      { packets: o.packets, flows: o.flows, seed: o.seed },
      join(ctx.cacheDir, 'synthetic'),
    );
    ctx.log(
      s.cached
        ? `  reused ${s.path}`
        : `  generated ${s.path} in ${s.generationSeconds.toFixed(1)} s ` +
            `(${((s.packets / s.generationSeconds) / 1e6).toFixed(2)} M packets/s)`,
    );
    captures.push({ name: 'synthetic', path: s.path, packets: s.packets, fileBytes: s.fileBytes, origin: 'synthetic', synthetic: s });
    // The session table's TypeScript path too (the default is the addon's when it is built), so that every run
    // records what the native path buys on the capture where the table's time matters most.
    captures.push({
      name: 'synthetic, --session-track js', path: s.path, packets: s.packets, fileBytes: s.fileBytes, origin: 'synthetic',
      replayArgs: ['--session-track', 'js'],
    });
  } catch (err) {
    problems.push(`synthetic capture: ${(err as Error).message}`);
  }

  const pcapDir = o.pcapsDir ? resolve(o.pcapsDir) : join(ctx.repoRoot, 'pcaps');
  const files = existsSync(pcapDir) ? listCaptures(pcapDir) : [];
  if (files.length === 0) ctx.log(`no *.pcap / *.pcapng files in ${pcapDir}`);
  for (const file of files) {
    const name = relative(pcapDir, file);
    try {
      const a = amplifyCapture(file, o.minReplayPackets, join(ctx.cacheDir, 'replay'));
      ctx.log(`${name}: ${a.sourcePackets} packets x ${a.copies} copies = ${a.packets} packets (${a.path})`);
      captures.push({
        name,
        path: a.path,
        packets: a.packets,
        fileBytes: statSync(a.path).size,
        origin: 'repository',
        source: file,
        copies: a.copies,
      });
    } catch (err) {
      skipped.push(`${name}: left out, cannot be read as a capture: ${(err as Error).message}`);
    }
  }
  return { captures, problems, skipped };
}

function listCaptures(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listCaptures(full));
    else if (entry.isFile() && /\.(pcap|pcapng)$/i.test(entry.name)) found.push(full);
  }
  return found.sort();
}
