/**
 * Which path tracks each packet in the session table: the addon's (native-bindings/src/session_track.cc) or the
 * TypeScript one in session-table.ts. Both give the same sessions (the tests replay every capture through both); the
 * native one is faster on large tables. 'auto' takes the native path when the addon loads and falls back quietly
 * otherwise, so that a machine without a C++ toolchain still replays; the summary says which path ran.
 */
import { loadNativeAddon } from '../capture/live/native-addon.js';
import type { NativeTrackerFactory } from '../session/native-track.js';
import { UsageError } from '../util/errors.js';

export const SESSION_TRACK_PATHS = ['auto', 'native', 'js'] as const;
export type SessionTrackPath = (typeof SESSION_TRACK_PATHS)[number];

/**
 * The factory SessionTable takes for `path`, or null for the TypeScript path. For 'native' without a loadable addon,
 * the loader's error (backend_unavailable: the path and the cause; exit code 4) goes to the caller.
 */
export function nativeTrackerFor(path: SessionTrackPath = 'auto'): NativeTrackerFactory | null {
  if (path === 'js') return null;
  let addon;
  try {
    addon = loadNativeAddon();
  } catch (err) {
    if (path === 'auto') return null;
    throw err;
  }
  return (options) => addon.createSessionTracker(options);
}

/** Parses a --session-track value. */
export function parseSessionTrackPath(value: string | undefined): SessionTrackPath {
  if (value === undefined) return 'auto';
  if ((SESSION_TRACK_PATHS as readonly string[]).includes(value)) return value as SessionTrackPath;
  throw new UsageError(`--session-track must be one of ${SESSION_TRACK_PATHS.join(', ')}, got "${value}"`);
}
