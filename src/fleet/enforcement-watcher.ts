/**
 * Follows the fleet-wide enforcement switch in Redis: a pub/sub subscription for speed (a change reaches every
 * watcher in milliseconds) and a periodic re-read as the fallback (a missed message, a reconnect, a switch written
 * by hand with redis-cli), so a change is seen within `pollMs` at worst. While Redis is unreachable the last known
 * state stays in force.
 */
import type { Cluster, Redis } from 'ioredis';
import type { FleetKeys } from './keys.js';
import { DEFAULT_ENFORCEMENT, type EnforcementState } from './types.js';

export interface FleetLogger {
  warn(obj: object, msg?: string): void;
}

export function parseEnforcementState(text: string | null): EnforcementState | null {
  if (text === null) return DEFAULT_ENFORCEMENT;
  try {
    const v = JSON.parse(text) as Partial<EnforcementState>;
    if (v.mode !== 'enforce' && v.mode !== 'monitor') return null;
    return {
      mode: v.mode,
      changedAt: typeof v.changedAt === 'string' ? v.changedAt : null,
      changedBy: typeof v.changedBy === 'string' ? v.changedBy : null,
    };
  } catch {
    return null;
  }
}

export class EnforcementWatcher {
  private subscriber: Redis | Cluster | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private stopped = false;
  private last: EnforcementState | null = null;
  private malformedLogged = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: FleetKeys,
    private readonly pollMs: number,
    private readonly onState: (state: EnforcementState) => void,
    private readonly log?: FleetLogger,
  ) {}

  /** Last state read, or null before the first successful read. */
  get state(): EnforcementState | null {
    return this.last;
  }

  start(): void {
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', () => {
      // reconnects by itself; the poll keeps the last known state meanwhile
    });
    sub.on('message', (_channel: string, message: string) => this.accept(message));
    // Re-subscribe and re-read after every (re)connection: messages sent while disconnected are lost.
    sub.on('ready', () => {
      sub.subscribe(this.keys.enforcementChannel).catch(() => undefined);
      void this.read();
    });
    this.timer = setInterval(() => void this.read(), this.pollMs);
    this.timer.unref();
    void this.read();
  }

  /** Reads the switch now (also called by the poll timer); only one read is in flight at a time. */
  async read(): Promise<void> {
    if (this.reading || this.stopped) return;
    this.reading = true;
    try {
      this.accept(await this.redis.get(this.keys.enforcement));
    } catch {
      // Redis unreachable: keep the last known state
    } finally {
      this.reading = false;
    }
  }

  private accept(text: string | null): void {
    if (this.stopped) return;
    const state = parseEnforcementState(text);
    if (state === null) {
      if (!this.malformedLogged) this.log?.warn({ key: this.keys.enforcement }, 'malformed enforcement switch in Redis ignored; the last known mode stays in force');
      this.malformedLogged = true;
      return;
    }
    const previous = this.last;
    this.last = state;
    if (previous === null || previous.mode !== state.mode || previous.changedAt !== state.changedAt) this.onState(state);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const sub = this.subscriber;
    this.subscriber = null;
    if (sub) sub.disconnect();
  }
}
