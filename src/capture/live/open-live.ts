import { CapCapture, CapInjector } from './cap-capture.js';
import { LiveCaptureError } from './capture-errors.js';
import { interfaceExists } from './interface-counters.js';
import type { FrameInjector, IpPacketInjector, LiveCapture, LiveCaptureOptions } from './live-capture.js';

/**
 * Capture backends, by name:
 * - `cap`: libpcap through the portable `cap` binding, one JavaScript call per packet;
 * - `native-pcap`: our addon over libpcap, immediate mode, one call per batch of ready packets;
 * - `native-tpacket`: our addon over an AF_PACKET ring (no libpcap on the receive path), one call per batch,
 *   with PACKET_FANOUT so that several workers can share the flows.
 */
export const CAPTURE_BACKENDS = ['cap', 'native-pcap', 'native-tpacket'] as const;
export type CaptureBackend = (typeof CAPTURE_BACKENDS)[number];

/**
 * Picked by measurement: the blocking and capture benchmarks
 * (README, "Benchmarks"; earlier runs: test/bench/HISTORY.md).
 */
export const DEFAULT_BACKEND: CaptureBackend = 'native-tpacket';

type NativeModules = typeof import('./native-capture.js') & typeof import('./native-inject.js');

let nativeModule: Promise<NativeModules> | null = null;

/** Loads the native backends lazily (the addon is optional: cap works without it). */
export function loadNative(iface: string): Promise<NativeModules> {
  nativeModule ??= (async () => {
    const [capture, inject] = await Promise.all([import('./native-capture.js'), import('./native-inject.js')]);
    return { ...capture, ...inject };
  })();
  return nativeModule.catch((err: unknown) => {
    nativeModule = null;
    if (err instanceof LiveCaptureError) throw err;
    throw new LiveCaptureError('backend_unavailable', iface, `the native backend did not load: ${(err as Error).message}`);
  });
}

/** Native-only tuning, passed through from the sensor's options. */
export interface NativeTuning {
  /** AF_PACKET ring layout: 2 = one slot per packet (lowest latency), 3 = blocks (fewer wake-ups under load). */
  tpacketVersion?: 2 | 3;
  blockTimeoutMs?: number;
  /** Join this PACKET_FANOUT group (several workers share the flows). */
  fanoutGroup?: number;
}

function checkInterface(iface: string): void {
  if (!interfaceExists(iface)) throw new LiveCaptureError('no_such_interface', iface, 'no such network interface');
}

export async function openLiveCapture(backend: CaptureBackend, options: LiveCaptureOptions, tuning: NativeTuning = {}): Promise<LiveCapture> {
  checkInterface(options.iface);
  if (backend === 'cap') return new CapCapture(options);
  const native = await loadNative(options.iface);
  if (backend === 'native-pcap') return new native.NativeCapture({ ...options, mode: 'pcap' });
  return new native.NativeCapture({ ...options, mode: 'tpacket', ...tuning });
}

/** A layer-2 injector on `iface`: through the native addon (batched sendmmsg) when it loads, else through cap. */
export async function openFrameInjector(backend: CaptureBackend, iface: string): Promise<FrameInjector> {
  checkInterface(iface);
  if (backend === 'cap') return new CapInjector(iface);
  const native = await loadNative(iface);
  return new native.NativeFrameInjector({ iface, qdiscBypass: true });
}

/** Layer-3 injection through the routing table: needs the native addon (Node has no raw sockets). */
export async function openIpInjector(): Promise<IpPacketInjector> {
  const native = await loadNative('(routing table)');
  return new native.NativeRawIpInjector();
}
