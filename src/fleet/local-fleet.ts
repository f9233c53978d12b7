/**
 * The fleet of one (single-box mode): the sensor and the API share this object in one process, so heartbeats,
 * block events and the enforcement switch live in memory. Events are kept in a bounded ring (optionally appended
 * to a JSON-lines file). Implements both sides: the sensor's FleetLink and the API's FleetView.
 */
import { BoundedLog } from './bounded-log.js';
import { boundedEvent, boundedHeartbeat, checkSensorName } from './event-shape.js';
import {
  DEFAULT_ENFORCEMENT, type BlockEvent, type EnforcementMode, type EnforcementState, type EnforcementWatch, type EventPage,
  type EventQuery, type FleetLink, type FleetView, type HeartbeatInput, type SensorStatus, type StoredEvent,
} from './types.js';

export interface LocalFleetOptions {
  /** Name stamped on events reported through this link (default 'local'). */
  readonly sensorName?: string;
  /** Events kept in memory (default 10,000). */
  readonly eventCapacity?: number;
  /** Also append every event to this JSON-lines file. */
  readonly eventFile?: string;
  readonly initialMode?: EnforcementMode;
  readonly clock?: () => number;
  readonly onFileError?: (err: Error) => void;
}

const DEFAULT_INTERVAL_MS = 5000;

export class LocalFleet implements FleetLink, FleetView {
  private readonly log: BoundedLog<StoredEvent>;
  private readonly heartbeats = new Map<string, { hb: HeartbeatInput; atMs: number }>();
  private readonly listeners = new Set<(event: StoredEvent) => void>();
  private readonly modeListeners = new Set<(mode: EnforcementMode) => void>();
  private state: EnforcementState;
  private readonly sensorName: string;
  private readonly clock: () => number;
  private written = 0;

  constructor(options: LocalFleetOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.sensorName = checkSensorName(options.sensorName ?? 'local');
    this.log = new BoundedLog<StoredEvent>({
      capacity: options.eventCapacity ?? 10_000,
      file: options.eventFile,
      onFileError: options.onFileError,
      clock: this.clock,
    });
    this.state = options.initialMode ? { ...DEFAULT_ENFORCEMENT, mode: options.initialMode } : DEFAULT_ENFORCEMENT;
  }

  // ------------------------------------------------------------------------------------- sensor side

  async reportHeartbeat(heartbeat: HeartbeatInput): Promise<void> {
    const hb = boundedHeartbeat(heartbeat);
    this.heartbeats.set(hb.name, { hb, atMs: this.clock() });
  }

  reportEvent(event: BlockEvent): void {
    const stored = this.log.append((id) => ({ id, event: boundedEvent(event, this.sensorName, this.clock()) }));
    this.written++;
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch {
        // A failing subscriber (a closed SSE client) must not stop the others or the sensor.
      }
    }
  }

  watchEnforcement(onChange: (mode: EnforcementMode) => void): EnforcementWatch {
    this.modeListeners.add(onChange);
    onChange(this.state.mode);
    return {
      current: () => this.state.mode,
      stop: () => {
        this.modeListeners.delete(onChange);
      },
    };
  }

  eventStats(): { queued: number; written: number; dropped: number } {
    return { queued: 0, written: this.written, dropped: 0 };
  }

  // ------------------------------------------------------------------------------------- API side

  async sensors(): Promise<SensorStatus[]> {
    const now = this.clock();
    return [...this.heartbeats.values()]
      .map(({ hb, atMs }) => ({
        ...hb,
        lastSeen: new Date(atMs).toISOString(),
        status: now - atMs <= 3 * (hb.intervalMs ?? DEFAULT_INTERVAL_MS) ? ('up' as const) : ('down' as const),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async enforcement(): Promise<EnforcementState> {
    return this.state;
  }

  cachedEnforcement(): EnforcementState {
    return this.state;
  }

  async setEnforcement(mode: EnforcementMode, actor: string): Promise<EnforcementState> {
    const changed = mode !== this.state.mode;
    this.state = { mode, changedAt: new Date(this.clock()).toISOString(), changedBy: actor };
    if (changed) {
      for (const listener of this.modeListeners) {
        try {
          listener(mode);
        } catch {
          // the sensor's own handler failing must not undo the switch for the API
        }
      }
    }
    return this.state;
  }

  async events(query: EventQuery): Promise<EventPage> {
    const page = this.log.read(query);
    return { events: page.records, nextCursor: page.nextCursor, more: page.more };
  }

  subscribeEvents(listener: (event: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.modeListeners.clear();
    await this.log.close();
  }
}
