import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared corpus of captures written by other projects (present in CI; optional on a laptop). */
export const corpusDir = resolve(repoRoot, '../shared/pcaps-corpus');
export const ownPcapsDir = join(repoRoot, 'pcaps');

export interface CorpusEntry {
  file: string;
  path: string;
  packets: number;
  features: string[];
  fileReadError: string;
}

export function corpusEntries(): CorpusEntry[] {
  const manifest = join(corpusDir, 'MANIFEST.tsv');
  if (!existsSync(manifest)) return [];
  const [header, ...rows] = readFileSync(manifest, 'utf8').split('\n').filter(Boolean);
  const columns = header!.split('\t');
  const col = (name: string) => columns.indexOf(name);
  return rows.map((row) => {
    const cells = row.split('\t');
    const file = cells[col('file')]!;
    return {
      file,
      path: join(corpusDir, file),
      packets: Number(cells[col('packets')]),
      features: (cells[col('features')] ?? '').split(',').filter(Boolean),
      fileReadError: cells[col('file_read_error')] ?? '',
    };
  });
}
