import { performance } from 'node:perf_hooks';
import { openCaptureFile } from '../capture/file/open-capture-file.js';
import { LineWriter } from '../events/line-writer.js';
import { sessionRecordJson } from '../events/session-record.js';
import { PcapWriter } from '../capture/file/pcap-writer.js';
import { LinkType } from '../capture/link-type.js';
import { verdictRecordJson } from '../events/verdict-record.js';
import type { IntelSet } from '../intel/intel-set.js';
import type { GuardOptions } from '../respond/guards/guard-policy.js';
import type { ResponderOptions } from '../respond/responder.js';
import { SessionTable } from '../session/session-table.js';
import { SessionTimeouts } from '../session/timeouts.js';
import { CaptureFileError } from '../util/errors.js';
import { Engine } from './engine.js';
import type { SessionTrackPath } from './session-track-path.js';

export interface ReplayOptions {
  files: string[];
  capacity?: number;
  timeouts?: SessionTimeouts;
  vlanTracking?: boolean;
  /** Which path tracks packets in the session table (default 'auto'). */
  sessionTrack?: SessionTrackPath;
  /** Path for one JSON line per ended session. */
  sessionsOut?: string;
  /** Intel to match against; with it, sessions get verdicts and blocked ones get resets. */
  intel?: IntelSet;
  guards?: GuardOptions;
  responder?: ResponderOptions;
  /** Path for one JSON line per matched session (when it ends). */
  verdictsOut?: string;
  /** Path of a pcap file for every crafted packet, stamped just after its trigger. */
  rstOut?: string;
  /** Called about every half second with progress, for a human watching. */
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  file: string;
  fileIndex: number;
  fileCount: number;
  /** Bytes read of this file, and its size (-1 for a pipe). */
  offset: number;
  size: number;
  packets: number;
  seconds: number;
}

export interface FileResult {
  path: string;
  format: string | null;
  packets: number;
  bytes: number;
  error: { message: string; offset: number } | null;
}

export interface ReplaySummary {
  files: FileResult[];
  packets: number;
  bytes: number;
  wireBytes: number;
  decodeErrors: Record<string, number>;
  decodeAnomalies: Record<string, number>;
  noFlow: Record<string, number>;
  fragments: number;
  tunnelled: number;
  sessions: { tcp: number; udp: number; other: number };
  sessionStates: Record<string, Record<string, number>>;
  sessionTable: {
    capacity: number;
    peakActive: number;
    evicted: number;
    expired: number;
    reused: number;
    bytesPerSession: number;
    /** Which path tracked the packets: 'native' (the addon) or 'js'. */
    track: 'native' | 'js';
  };
  /** Matched sessions by the action that decided them (present with intel). */
  matches?: { block: number; monitor: number; allow: number };
  /**
   * Sessions matched against the intel (present with intel): all of them, and those the native path's intel screen
   * settled as clean (NativeScreen), so that SessionMatcher never saw them.
   */
  matching?: { sessions: number; screened: number };
  rstPackets?: number;
  icmpPackets?: number;
  /** How often each guard stopped an action. */
  guards?: Record<string, number>;
  seconds: number;
  pps: number;
  peakRssBytes: number;
}

const PROGRESS_EVERY_PACKETS = 1 << 16;
const PROGRESS_INTERVAL_MS = 500;

/**
 * Runs capture files through the pipeline, one after another as a single stream (sessions carry across
 * files, as they would if the files were replayed onto a wire). A corrupt file stops at the fault: what was
 * read before it counts, the error is reported with its byte offset, and the next file goes on.
 */
export function runReplay(options: ReplayOptions): ReplaySummary {
  const writer = options.sessionsOut ? new LineWriter(options.sessionsOut) : null;
  const verdicts = options.verdictsOut ? new LineWriter(options.verdictsOut) : null;
  const rst = options.rstOut ? new PcapWriter(options.rstOut, LinkType.ETHERNET) : null;
  const engine = new Engine({
    capacity: options.capacity,
    timeouts: options.timeouts,
    vlanTracking: options.vlanTracking,
    sessionTrack: options.sessionTrack,
    intel: options.intel,
    guards: options.guards,
    responder: options.responder,
    sink: rst ?? undefined,
    onMatchEnd: verdicts ? (table, s, record) => verdicts.write(verdictRecordJson(table, s, record)) : undefined,
    onEnd: writer ? (table, s, reason) => writer.write(sessionRecordJson(table, s, reason)) : undefined,
  });
  const files: FileResult[] = [];
  const started = performance.now();
  let nextProgress = started + PROGRESS_INTERVAL_MS;

  options.files.forEach((path, fileIndex) => {
    const result: FileResult = { path, format: null, packets: 0, bytes: 0, error: null };
    files.push(result);
    const packetsBefore = engine.counters.packets;
    const bytesBefore = engine.counters.bytes;
    let source;
    try {
      const opened = openCaptureFile(path);
      source = opened.source;
      result.format = opened.format;
      const size = opened.size;
      let sinceCheck = 0;
      // Read once: a property read first reached at packet 65,536 would deoptimise the whole inlined packet loop.
      const onProgress = options.onProgress;
      while (source.next()) {
        engine.handleSource(source);
        if (onProgress !== undefined && ++sinceCheck === PROGRESS_EVERY_PACKETS) {
          sinceCheck = 0;
          const now = performance.now();
          if (now >= nextProgress) {
            nextProgress = now + PROGRESS_INTERVAL_MS;
            onProgress({ file: path, fileIndex, fileCount: options.files.length, offset: source.recordOffset, size, packets: engine.counters.packets, seconds: (now - started) / 1000 });
          }
        }
      }
    } catch (err) {
      if (!(err instanceof CaptureFileError)) throw err;
      result.error = { message: err.message, offset: err.offset };
    } finally {
      source?.close();
      result.packets = engine.counters.packets - packetsBefore;
      result.bytes = engine.counters.bytes - bytesBefore;
    }
  });

  engine.finish();
  writer?.close();
  verdicts?.close();
  rst?.close();
  const seconds = (performance.now() - started) / 1000;
  const c = engine.counters;
  const table = engine.table;
  return {
    files,
    packets: c.packets,
    bytes: c.bytes,
    wireBytes: c.wireBytes,
    decodeErrors: c.decodeErrorsObject(),
    decodeAnomalies: c.anomaliesObject(),
    noFlow: c.noFlowObject(),
    fragments: c.fragments,
    tunnelled: c.tunnelled,
    sessions: engine.sessionsCreated(),
    sessionStates: engine.sessionStates(),
    sessionTable: {
      capacity: table.capacity,
      peakActive: table.peakActive,
      evicted: table.evicted,
      expired: table.expired,
      reused: table.reused,
      bytesPerSession: Math.round(SessionTable.bytesPerSession(table.capacity) * 10) / 10,
      track: table.trackPath,
    },
    ...(engine.responder
      ? {
          matches: { ...engine.responder.matches },
          matching: { sessions: engine.sessionsMatched, screened: engine.screen?.screened ?? 0 },
          rstPackets: engine.responder.resetPackets,
          icmpPackets: engine.responder.icmpPackets,
          guards: Object.fromEntries(engine.responder.guards.stopped),
        }
      : {}),
    seconds: Math.round(seconds * 1e6) / 1e6,
    pps: seconds > 0 ? Math.round(c.packets / seconds) : 0,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}
