/**
 * The audit trail: every change made through the API (blocks, allowlist, bulk imports, the enforcement switch,
 * tokens) and every change refused for lack of scope, with who (token name and id), when, what (action, route,
 * target) and from which address. Readable at GET /v1/audit (admin). Ids are ordered `<ms>-<seq>` stream ids.
 */
import { BoundedLog } from '../../fleet/bounded-log.js';

export type AuditValue = string | number | boolean | null;

export interface AuditInput {
  /** Token name (the actor's identity). */
  readonly actor: string;
  readonly tokenId: string | null;
  /** Client address as the server saw it (or as --trust-proxy resolved it). */
  readonly address: string;
  readonly method: string;
  /** Route pattern, e.g. /v1/blocks/:id. */
  readonly route: string;
  /** What was done: block.upsert, block.delete, allow.upsert, allow.delete, bulk.import, enforcement.set, token.create, token.revoke. */
  readonly action: string;
  /** What it was done to, and the outcome's figures (indicator, source, id, created, counts...). */
  readonly target: Readonly<Record<string, AuditValue>>;
  readonly outcome: 'ok' | 'denied';
  readonly status: number;
}

export interface AuditRecord extends AuditInput {
  readonly id: string;
  /** ISO-8601. */
  readonly time: string;
}

export interface AuditPage {
  readonly records: AuditRecord[];
  readonly nextCursor: string | null;
  readonly more: boolean;
}

export interface AuditQuery {
  readonly afterId?: string;
  readonly sinceMs?: number;
  readonly limit: number;
}

export interface AuditLog {
  append(input: AuditInput): Promise<AuditRecord>;
  read(query: AuditQuery): Promise<AuditPage>;
  close(): Promise<void>;
}

/** Single-box audit: a bounded ring, optionally appended to a JSON-lines file (which keeps everything). */
export class MemoryAuditLog implements AuditLog {
  private readonly log: BoundedLog<AuditRecord>;

  constructor(options: { capacity?: number; file?: string; onFileError?: (err: Error) => void; clock?: () => number } = {}) {
    const clock = options.clock ?? Date.now;
    this.log = new BoundedLog<AuditRecord>({ capacity: options.capacity ?? 100_000, file: options.file, onFileError: options.onFileError, clock });
  }

  async append(input: AuditInput): Promise<AuditRecord> {
    return this.log.append((id) => ({ id, time: new Date(Number(id.split('-')[0])).toISOString(), ...input }));
  }

  async read(query: AuditQuery): Promise<AuditPage> {
    return this.log.read(query);
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
