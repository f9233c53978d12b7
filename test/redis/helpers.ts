/** Helpers for the Redis intel tests. */
import type { IntelSet } from '../../src/intel/intel-set.js';

/**
 * Polls `condition` until it holds; fails after `timeoutMs` (a safety net for a broken feature, not a timing
 * assertion: nothing here checks how fast anything is).
 */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The set's content as sorted lines (identity and every field), for exact comparisons. */
export function contentOf(set: IntelSet): string[] {
  const lines: string[] = [];
  for (const e of set.entries()) lines.push([e.source, e.id, e.indicator, e.action, e.expiresAt ?? 0, e.reason, e.tags.join(';')].join('|'));
  return lines.sort();
}

/** A silent logger that keeps what it was told (tests look at events). */
export function memoryLog(): { lines: { level: string; obj: Record<string, unknown>; msg: string }[]; info: Logger; warn: Logger; error: Logger; debug: Logger } {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string): Logger => (obj, msg) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

type Logger = (obj: object, msg?: string) => void;

/** Unique-per-process name part, for keys and files of parallel test files. */
export function uniqueName(label: string): string {
  return `${label}-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}
