import type { Logger } from 'pino';
import { prepareEntry, type PreparedEntry } from '../intel/entry.js';
import { loadIntelFile, type IntelLoadOptions, type IntelLoadStats } from '../intel/intel-file.js';
import { IntelSet } from '../intel/intel-set.js';
import { reconcile, type ReconcileResult } from '../intel/reconcile.js';

/**
 * Intel files as a source of the sensor's set: loaded at start by the command, reloaded on SIGHUP. A reload reads
 * every file into a staging set first (a file that fails leaves the live set untouched), then makes the part of
 * the live set that came from files equal to it in one synchronous step: packets are processed either before or
 * after, never in between, so there is no moment without enforcement. Entries from other sources (Redis, the
 * API) are left alone.
 */
export class IntelFileSource {
  private readonly sources = new Set<string>();
  private reloading = false;

  constructor(
    private readonly live: IntelSet,
    private readonly files: readonly string[],
    private readonly loadOptions: IntelLoadOptions,
    private readonly log: Logger,
  ) {
    for (const e of live.entries()) this.sources.add(e.source);
  }

  /** Whether entries of this source came from the files (the Redis sync leaves those alone). */
  ownsSource(source: string): boolean {
    return this.sources.has(source);
  }

  async reload(): Promise<ReconcileResult | null> {
    if (this.files.length === 0) return null;
    if (this.reloading) return null;
    this.reloading = true;
    try {
      const staging = new IntelSet();
      const loads: IntelLoadStats[] = [];
      for (const file of this.files) loads.push(await loadIntelFile(file, staging, this.loadOptions));
      reportLoads(this.log, loads);
      const now = Math.floor(Date.now() / 1000);
      const entries: PreparedEntry[] = [];
      const newSources = new Set<string>();
      for (const e of staging.entries()) {
        newSources.add(e.source);
        entries.push(prepareEntry({ indicator: e.indicator, id: e.id === e.indicator ? null : e.id, action: e.action, expires: e.expiresAt, source: e.source, reason: e.reason, tags: e.tags }, { nowSeconds: now }));
      }
      const scope = new Set([...this.sources, ...newSources]);
      const result = reconcile(this.live, entries, (source: string) => scope.has(source));
      this.sources.clear();
      for (const s of newSources) this.sources.add(s);
      this.log.info({ event: 'reload', ...result, entries: this.live.size, version: this.live.version },
        `intel reloaded: ${result.added} added, ${result.updated} updated, ${result.removed} removed`);
      return result;
    } catch (err) {
      this.log.error({ event: 'reload', error: (err as Error).message }, 'intel reload failed; the current set stays in force');
      return null;
    } finally {
      this.reloading = false;
    }
  }
}

export function reportLoads(log: Logger, loads: IntelLoadStats[]): void {
  for (const load of loads) {
    for (const e of load.errors) log.warn({ event: 'intel_line', file: load.name, line: e.line, error: e.message }, `${load.name}:${e.line}: ${e.message}`);
    if (load.errorsNotKept > 0) log.warn({ event: 'intel_line', file: load.name, more: load.errorsNotKept }, `${load.name}: ${load.errorsNotKept} more bad lines`);
    log.info({ event: 'intel_load', file: load.name, format: load.format, loaded: load.loaded, skipped: load.skipped, expired: load.expired }, `${load.name}: ${load.loaded} entries loaded`);
  }
}
