import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntelSet } from '../../src/intel/intel-set.js';
import { loadIntelFile } from '../../src/intel/intel-file.js';
import { runReplay, ReplaySummary } from '../../src/pipeline/replay.js';
import type { GuardOptions } from '../../src/respond/guards/guard-policy.js';
import type { ResponderOptions } from '../../src/respond/responder.js';
import { repoRoot } from './corpus.js';

export const demoIntel = join(repoRoot, 'deploy/intel/demo.csv');

export interface IntelReplay {
  summary: ReplaySummary;
  verdicts: Record<string, unknown>[];
  rstPcap: string;
}

/** Replays capture files against an intel file, with verdicts and crafted packets written to a temp dir. */
export async function replayWithIntel(files: string[], intelFile = demoIntel, extra: { guards?: GuardOptions; responder?: ResponderOptions } = {}): Promise<IntelReplay> {
  const intel = new IntelSet();
  await loadIntelFile(intelFile, intel);
  const dir = mkdtempSync(join(tmpdir(), 'offpath-rst-'));
  const verdictsOut = join(dir, 'verdicts.jsonl');
  const rstPcap = join(dir, 'rst.pcap');
  const summary = runReplay({ files, intel, verdictsOut, rstOut: rstPcap, ...extra });
  const verdicts = readFileSync(verdictsOut, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { summary, verdicts, rstPcap };
}
