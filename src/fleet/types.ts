/**
 * What sensors and the API exchange about the fleet: heartbeats, block events and the fleet-wide enforcement
 * switch. Two sides share these types:
 * - a sensor reports through a `FleetLink` (FleetClient over Redis, or LocalFleet in single-box mode);
 * - the API reads through a `FleetView` (RedisFleetView, or the same LocalFleet).
 */

/** Fleet-wide switch: `enforce` lets sensors reset blocked sessions, `monitor` makes every sensor alert only. */
export type EnforcementMode = 'enforce' | 'monitor';
export const ENFORCEMENT_MODES: readonly EnforcementMode[] = ['enforce', 'monitor'];

export interface EnforcementState {
  readonly mode: EnforcementMode;
  /** ISO-8601 time of the last change, null when the switch was never set (the default is `enforce`). */
  readonly changedAt: string | null;
  /** Token name (or CLI user) that changed it last. */
  readonly changedBy: string | null;
}

export const DEFAULT_ENFORCEMENT: EnforcementState = Object.freeze({ mode: 'enforce', changedAt: null, changedBy: null });

/** What a sensor says about itself every few seconds. */
export interface HeartbeatInput {
  /** Unique sensor name within the fleet (host name by default). */
  readonly name: string;
  readonly interfaces: readonly string[];
  /** offpath version the sensor runs. */
  readonly version: string;
  /** Intel version applied (the Redis intel version, or the local set's version in single-box mode). */
  readonly intelVersion: number;
  /** Packets per second over the last interval. */
  readonly pps: number;
  /** Packets dropped (kernel + interface) since the sensor started; the interface's only when kernelDropsUnknown. */
  readonly drops: number;
  /**
   * True when the capture backend cannot count the kernel's drops (cap): `drops` then leaves them out, so a 0
   * there does not mean nothing was lost. Absent otherwise.
   */
  readonly kernelDropsUnknown?: boolean;
  /** Enforcement mode the sensor is actually applying (its own --monitor flag may keep it in monitor). */
  readonly mode?: EnforcementMode;
  /** Heartbeat period in milliseconds: lets readers tell a late sensor from a dead one. */
  readonly intervalMs?: number;
}

export interface SensorStatus extends HeartbeatInput {
  /** ISO-8601 time of the last heartbeat. */
  readonly lastSeen: string;
  /** `up` while heartbeats arrive, `down` once a heartbeat is missing for three periods. */
  readonly status: 'up' | 'down';
}

/**
 * One block decision reported by a sensor (typically built from the sensor's verdict record). Only `action` and
 * `indicator` are required; the rest is carried as given (strings and numbers, bounded in size by the link).
 */
export interface BlockEvent {
  /** Epoch seconds (fractional) of the decision; filled in by the link when absent. */
  readonly ts?: number;
  /** Filled in by the link with its sensor name. */
  readonly sensor?: string;
  readonly action: 'block' | 'monitor' | 'allow';
  readonly indicator: string;
  readonly entryId?: string;
  readonly source?: string;
  readonly reason?: string;
  readonly proto?: string;
  readonly src?: string;
  readonly sport?: number;
  readonly dst?: string;
  readonly dport?: number;
  readonly matchedSide?: 'src' | 'dst';
  readonly guard?: string | null;
  readonly resets?: number;
  /** Enforcement mode the sensor applied when it decided. */
  readonly mode?: EnforcementMode;
  readonly [extra: string]: unknown;
}

/** A block event as stored: its stream id (`<ms>-<seq>`, ordered) and the event. */
export interface StoredEvent {
  readonly id: string;
  readonly event: BlockEvent;
}

export interface EventPage {
  readonly events: StoredEvent[];
  /** Pass as `cursor` for the next (newer) page, or to poll for newer events later. */
  readonly nextCursor: string | null;
  /** Whether newer events than this page existed at read time. */
  readonly more: boolean;
}

export interface EventQuery {
  /** Events strictly after this stream id (the cursor of a previous page). */
  readonly afterId?: string;
  /** Events at or after this time (epoch milliseconds). Ignored when afterId is given. */
  readonly sinceMs?: number;
  readonly limit: number;
}

/** Handle on a running enforcement watch. */
export interface EnforcementWatch {
  /** Last mode read (null until the first read succeeded); kept while Redis is unreachable. */
  current(): EnforcementMode | null;
  stop(): void;
}

/** The sensor's side of the fleet. */
export interface FleetLink {
  /** Writes one heartbeat (a TTL'd record; readers see the sensor `down` after three missed periods). */
  reportHeartbeat(heartbeat: HeartbeatInput): Promise<void>;
  /** Queues one block event; never blocks and never throws (a full queue drops and counts). */
  reportEvent(event: BlockEvent): void;
  /** Calls `onChange` with the mode once it is known, then on every change, within a second of it. */
  watchEnforcement(onChange: (mode: EnforcementMode) => void): EnforcementWatch;
  /** Events queued, written and dropped so far. */
  eventStats(): { queued: number; written: number; dropped: number };
  close(): Promise<void>;
}

/** The API's side of the fleet. */
export interface FleetView {
  sensors(): Promise<SensorStatus[]>;
  enforcement(): Promise<EnforcementState>;
  /** Last known state without I/O (kept current by a watch): `check` reports it on every call. */
  cachedEnforcement(): EnforcementState;
  setEnforcement(mode: EnforcementMode, actor: string): Promise<EnforcementState>;
  events(query: EventQuery): Promise<EventPage>;
  /** Live events as they arrive; returns the unsubscribe function. */
  subscribeEvents(listener: (event: StoredEvent) => void): () => void;
  close(): Promise<void>;
}
