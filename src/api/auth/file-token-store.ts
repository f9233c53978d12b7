/**
 * Tokens in a JSON-lines file (single-box mode): one record per line, hashes only, mode 0600. The file is
 * rewritten whole (temporary file + rename, so a reader never sees half a file) on create and revoke, and
 * re-read when it changes on disk (polled every second), so `offpath token revoke --tokens FILE` reaches a
 * running API without a restart.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unwatchFile, watchFile, writeSync } from 'node:fs';
import { ConfigError } from '../../util/errors.js';
import {
  findActive, newTokenRecord, parseTokenRecord, TokenNameTakenError, type CreateTokenInput, type TokenRecord, type TokenStore,
} from './token-store.js';

export interface FileTokenStoreOptions {
  /** Create the file when it does not exist (token create); the API itself requires it to exist. */
  readonly create?: boolean;
  /** Follow changes made by other processes (default true). */
  readonly watch?: boolean;
  readonly onMalformed?: (line: number) => void;
}

export class FileTokenStore implements TokenStore {
  private records = new Map<string, TokenRecord>();
  private watching = false;
  private readonly onChange = (): void => this.reload();

  constructor(private readonly path: string, private readonly options: FileTokenStoreOptions = {}) {
    if (!existsSync(path)) {
      if (!options.create) throw new ConfigError(`tokens file ${path} does not exist`, `create a token first: offpath token create --tokens ${path} --name NAME --scope admin`);
      this.write();
    }
    this.reload();
    if (options.watch !== false) {
      watchFile(path, { interval: 1000, persistent: false }, this.onChange);
      this.watching = true;
    }
  }

  /** Re-reads the file; a file that cannot be read keeps the current tokens (and the reason is thrown at start). */
  reload(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if (this.records.size === 0 && !this.watching) throw new ConfigError(`cannot read tokens file ${this.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return;
    }
    const next = new Map<string, TokenRecord>();
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const record = parseTokenRecord(line);
      if (record === null) this.options.onMalformed?.(i + 1);
      else next.set(record.id, record);
    });
    this.records = next;
  }

  lookup(id: string): TokenRecord | undefined {
    return this.records.get(id);
  }

  private lastCheckMs = 0;
  private lastMtimeMs = 0;

  async lookupMissing(id: string): Promise<TokenRecord | undefined> {
    // Re-read only when the file changed, and stat it at most every 100 ms whatever the request rate.
    const now = Date.now();
    if (now - this.lastCheckMs >= 100) {
      this.lastCheckMs = now;
      try {
        const mtime = statSync(this.path).mtimeMs;
        if (mtime !== this.lastMtimeMs) {
          this.lastMtimeMs = mtime;
          this.reload();
        }
      } catch {
        // unreadable now: keep the tokens loaded
      }
    }
    return this.records.get(id);
  }

  async list(): Promise<TokenRecord[]> {
    return [...this.records.values()];
  }

  async create(input: CreateTokenInput): Promise<{ record: TokenRecord; token: string }> {
    this.reload();
    if (findActive(this.records.values(), input.name)?.name === input.name) throw new TokenNameTakenError(input.name);
    const created = newTokenRecord(input);
    this.records.set(created.record.id, created.record);
    this.write();
    return created;
  }

  async revoke(idOrName: string, by: string): Promise<TokenRecord | null> {
    this.reload();
    const found = findActive(this.records.values(), idOrName);
    if (!found) return null;
    const revoked: TokenRecord = { ...found, revokedAt: new Date().toISOString(), revokedBy: by };
    this.records.set(found.id, revoked);
    this.write();
    return revoked;
  }

  private write(): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const text = [...this.records.values()].map((r) => JSON.stringify(r) + '\n').join('');
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  async close(): Promise<void> {
    if (this.watching) unwatchFile(this.path, this.onChange);
    this.watching = false;
  }
}
