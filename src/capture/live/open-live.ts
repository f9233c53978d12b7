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

/** Picked by measurement (README, "Capture backends"). */
export const DEFAULT_BACKEND: CaptureBackend = 'native-tpacket';

export interface NativeModuleShape {
  NativeCapture: new (options: LiveCaptureOptions & { mode: 'pcap' | 'tpacket'; fanoutGroup?: number }) => LiveCapture;
  NativeFrameInjector: new (iface: string) => FrameInjector;
  NativeRawIpInjector: new () => IpPacketInjector;
}

let nativeModule: Promise<NativeModuleShape> | null = null;

/** Loads the native backends (the addon is optional: cap works without it). */
export function loadNative(iface: string): Promise<NativeModuleShape> {
  nativeModule ??= (async () => {
    const [capture, injector] = await Promise.all([import('./native-capture.js'), import('./native-injector.js')]);
    return { ...capture, ...injector } as unknown as NativeModuleShape;
  })();
  return nativeModule.catch((err: unknown) => {
    nativeModule = null;
    if (err instanceof LiveCaptureError) throw err;
    throw new LiveCaptureError('backend_unavailable', iface, `the native backend did not load: ${(err as Error).message}`);
  });
}

function checkInterface(iface: string): void {
  if (!interfaceExists(iface)) throw new LiveCaptureError('no_such_interface', iface, 'no such network interface');
}

export async function openLiveCapture(backend: CaptureBackend, options: LiveCaptureOptions, fanoutGroup?: number): Promise<LiveCapture> {
  checkInterface(options.iface);
  if (backend === 'cap') return new CapCapture(options);
  const native = await loadNative(options.iface);
  return new native.NativeCapture({ ...options, mode: backend === 'native-pcap' ? 'pcap' : 'tpacket', fanoutGroup });
}

/** A layer-2 injector on `iface`: through the native addon (batched sendmmsg) when it loads, else through cap. */
export async function openFrameInjector(backend: CaptureBackend, iface: string): Promise<FrameInjector> {
  checkInterface(iface);
  if (backend === 'cap') return new CapInjector(iface);
  const native = await loadNative(iface);
  return new native.NativeFrameInjector(iface);
}

/** Layer-3 injection through the routing table: needs the native addon (Node has no raw sockets). */
export async function openIpInjector(): Promise<IpPacketInjector> {
  const native = await loadNative('(routing table)');
  return new native.NativeRawIpInjector();
}
