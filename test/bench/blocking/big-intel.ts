/**
 * A large intel file for the capture benchmark: the sensor must hold it (about a million entries, the size the
 * issue names) while it keeps up with the mirror. Deterministic, cached by size.
 *
 * Most entries are `addr:port/tcp` on high ports across 198.18.0.0/15, so lookups hit populated tables but rarely
 * match; a few hundred exact addresses block synthetic-capture servers (198.19.0.x, see
 * test/bench/synthetic/address-plan.ts), so the sensor also makes decisions and injects, as it would in service.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';

/** Synthetic-capture servers (198.19.0.1 and up) put on the block list. */
export const BLOCKED_SYNTHETIC_SERVERS = 200;

const FORMAT_VERSION = 1;

export interface BigIntel {
  path: string;
  entries: number;
}

export async function ensureBigIntel(entries: number, cacheDir: string): Promise<BigIntel> {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `big-intel-v${FORMAT_VERSION}-${entries}.csv`);
  if (existsSync(path)) return { path, entries };
  const tmp = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('indicator,action,expires,source,reason,tags\n');
  for (let i = 0; i < BLOCKED_SYNTHETIC_SERVERS && i < entries; i++) {
    await write(`198.19.0.${1 + i},block,,bench,synthetic server,bench\n`);
  }
  let chunk = '';
  for (let i = BLOCKED_SYNTHETIC_SERVERS; i < entries; i++) {
    // Spread over the whole /15 (131,072 addresses), ports 20000 and up: distinct keys, no collision.
    const addr = 0xc6120000 + (i % 131072);
    const port = 20000 + Math.floor(i / 131072);
    chunk += `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}:${port}/tcp,block,,bench,bulk,bench\n`;
    if (chunk.length > 1 << 16) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  out.end();
  await once(out, 'finish');
  renameSync(tmp, path);
  return { path, entries };
}
