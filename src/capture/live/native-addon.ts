/**
 * Loads the native capture/injection addon (native-bindings/, built by node-gyp during `npm install`) and
 * describes its raw interface. Everything else in offpath goes through the typed wrappers (native-capture.ts,
 * native-inject.ts, native-interface.ts), never through these handles directly.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LiveCaptureError, classifyCaptureMessage, type LiveCaptureProblem } from './capture-errors.js';

/** Bumped (in addon.cc too) whenever the handles below change shape, so a stale build is refused clearly. */
export const NATIVE_ABI_VERSION = 5;

export interface RawCaptureOptions {
  mode: 'pcap' | 'tpacket';
  iface: string;
  filter: string;
  netns?: string;
  snapLength: number;
  bufferBytes: number;
  promiscuous: boolean;
  ignoreOutgoing: boolean;
  batchPackets: number;
  batchBytes?: number;
  tpacketVersion?: 2 | 3;
  blockBytes?: number;
  blockTimeoutMs?: number;
  fanoutGroup?: number;
}

/** One batch: `count` packets described by `meta` (5 words each: offset, capturedLength, wireLength, tsSec, tsNsec). */
export type RawBatchCallback = (buffer: Uint8Array, meta: Uint32Array, count: number) => void;
export type RawErrorCallback = (message: string, problem: string, fatal: boolean) => void;

export interface RawCaptureHandle {
  readonly backend: 'native-pcap' | 'native-tpacket';
  readonly linkType: number;
  readonly zeroCopy: boolean;
  /** The ring (tpacket) or the copy buffer (pcap); detached (length 0) after close in tpacket mode. */
  readonly buffer: Uint8Array;
  readonly meta: Uint32Array;
  start(onBatch: RawBatchCallback, onError?: RawErrorCallback): void;
  /** Fills [received, kernelDropped, interfaceDropped]. */
  stats(out: Float64Array): void;
  close(): void;
}

export interface RawFrameInjectorOptions {
  iface: string;
  netns?: string;
  qdiscBypass?: boolean;
  sendBufferBytes?: number;
}

export interface RawFrameInjectorHandle {
  send(bytes: Uint8Array, offset: number, length: number): boolean;
  sendBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** Fills [sent, refused]. */
  counters(out: Float64Array): void;
  readonly lastError: string | null;
  close(): void;
}

export interface RawIpInjectorOptions {
  netns?: string;
  device?: string;
}

export interface RawIpInjectorHandle {
  sendIp(bytes: Uint8Array, offset: number, length: number): boolean;
  counters(out: Float64Array): void;
  readonly lastError: string | null;
  close(): void;
}

export interface RawInterfaceInfo {
  name: string;
  ifindex: number;
  mac: string | null;
  mtu: number;
  up: boolean;
  running: boolean;
  promiscuous: boolean;
  arpType: number;
  linkType: number;
}

export interface NativeAddon {
  CaptureHandle: new (options: RawCaptureOptions) => RawCaptureHandle;
  FrameInjectorHandle: new (options: RawFrameInjectorOptions) => RawFrameInjectorHandle;
  RawIpInjectorHandle: new (options: RawIpInjectorOptions) => RawIpInjectorHandle;
  interfaceInfo(name: string, netns?: string): RawInterfaceInfo;
  realtimeNs(): bigint;
  /** Scheduling policy of the calling thread; returns "" or the errno text. */
  setThreadScheduling(policy: 'fifo' | 'other', priority: number): string;
  /** The session table's native per-packet path: src/session/native-track.ts describes the options and the result. */
  createSessionTracker(options: object): { track(): void; setAhead(buffer: Uint8Array | null): void; setIntel(tables: object | null): void };
  readonly libpcapVersion: string;
  readonly abiVersion: number;
}

const ADDON_RELATIVE = join('native-bindings', 'build', 'Release', 'offpath_native.node');

/**
 * Where the addon is: $OFFPATH_NATIVE_ADDON if set, else native-bindings/build/Release under the first ancestor
 * of this module that has a native-bindings folder (src/ when run from sources, dist/src/ when compiled).
 */
export function nativeAddonPath(): string {
  const override = process.env.OFFPATH_NATIVE_ADDON;
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'native-bindings', 'binding.gyp'))) return join(dir, ADDON_RELATIVE);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(process.cwd(), ADDON_RELATIVE);
}

let cached: NativeAddon | undefined;

/** The addon for this thread (each worker thread loads its own instance). Throws backend_unavailable. */
export function loadNativeAddon(): NativeAddon {
  cached ??= loadNativeAddonFrom(nativeAddonPath());
  return cached;
}

/** Loads the addon at `path` (uncached). Throws LiveCaptureError('backend_unavailable') naming the path and cause. */
export function loadNativeAddonFrom(path: string): NativeAddon {
  if (!existsSync(path)) {
    throw new LiveCaptureError('backend_unavailable', 'native addon', `${path} does not exist (the addon was not built)`);
  }
  let loaded: NativeAddon;
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    throw new LiveCaptureError('backend_unavailable', 'native addon', `cannot load ${path}: ${cause}`);
  }
  if (loaded.abiVersion !== NATIVE_ABI_VERSION) {
    throw new LiveCaptureError(
      'backend_unavailable',
      'native addon',
      `${path} is version ${String(loaded.abiVersion)}, this offpath needs ${NATIVE_ABI_VERSION} (a stale build)`,
    );
  }
  return loaded;
}

/** True when the addon can be loaded here (for choosing a backend; never throws). */
export function nativeAddonAvailable(): boolean {
  try {
    loadNativeAddon();
    return true;
  } catch {
    return false;
  }
}

const PROBLEMS: ReadonlySet<string> = new Set<LiveCaptureProblem>([
  'no_such_interface',
  'permission',
  'bad_filter',
  'interface_down',
  'backend_unavailable',
  'failed',
]);

/** Turns an error thrown by the addon into a LiveCaptureError (TypeError/RangeError from bad arguments pass through). */
export function toLiveCaptureError(err: unknown, iface: string): Error {
  if (err instanceof LiveCaptureError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const tagged = (err as { problem?: unknown } | null)?.problem;
  const problem = typeof tagged === 'string' && PROBLEMS.has(tagged) && tagged !== 'failed'
    ? (tagged as LiveCaptureProblem)
    : classifyCaptureMessage(message);
  return new LiveCaptureError(problem, iface, message);
}

/** A problem string reported by the addon at run time, as a LiveCaptureProblem. */
export function asProblem(problem: string, message: string): LiveCaptureProblem {
  return PROBLEMS.has(problem) && problem !== 'failed' ? (problem as LiveCaptureProblem) : classifyCaptureMessage(message);
}
