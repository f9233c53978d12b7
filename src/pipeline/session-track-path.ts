/**
 * Which path tracks each packet in the session table: the addon's (native-bindings/src/session_track.cc) or the
 * TypeScript one in session-table.ts. Both give the same sessions (the tests replay every capture through both); the
 * native one is faster on large tables. 'auto' takes the native path when the addon loads and accepts the table, and
 * falls back quietly otherwise, so that a machine without a C++ toolchain still replays and senses; the replay summary,
 * the sensor's status and its start-up log say which path ran.
 */
import { loadNativeAddon, type NativeAddon } from '../capture/live/native-addon.js';
import type { NativeTrackerFactory } from '../session/native-track.js';
import { OffpathError, UsageError } from '../util/errors.js';

export const SESSION_TRACK_PATHS = ['auto', 'native', 'js'] as const;
export type SessionTrackPath = (typeof SESSION_TRACK_PATHS)[number];

/**
 * The factory SessionTable takes for `path`, or null for the TypeScript path. With 'auto', an addon that cannot be
 * loaded, or that refuses the table (a build of another layout), means the TypeScript path. With 'native', the
 * loader's error (backend_unavailable, naming the path and the cause) or an OffpathError 'native_session_path' goes
 * to the caller: exit code 4.
 */
export function nativeTrackerFor(path: SessionTrackPath = 'auto'): NativeTrackerFactory | null {
  if (path === 'js') return null;
  let addon: NativeAddon;
  try {
    addon = loadNativeAddon();
  } catch (err) {
    if (path === 'auto') return null;
    throw err;
  }
  return (options) => {
    try {
      return addon.createSessionTracker(options);
    } catch (err) {
      if (path === 'auto') return null;
      throw new OffpathError('native_session_path', `the addon refused the session table: ${(err as Error).message}`, 'rebuild it with npm run install, or use --session-track js');
    }
  };
}

/** Parses a --session-track value. */
export function parseSessionTrackPath(value: string | undefined): SessionTrackPath {
  if (value === undefined) return 'auto';
  if ((SESSION_TRACK_PATHS as readonly string[]).includes(value)) return value as SessionTrackPath;
  throw new UsageError(`--session-track must be one of ${SESSION_TRACK_PATHS.join(', ')}, got "${value}"`);
}
