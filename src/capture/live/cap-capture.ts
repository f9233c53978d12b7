import { createRequire } from 'node:module';
import { readInterfaceCounter } from './interface-counters.js';
import { classifyCaptureMessage, LiveCaptureError } from './capture-errors.js';
import type { FrameInjector, LiveCapture, LiveCaptureOptions, LiveCaptureStats, LivePacketHandler } from './live-capture.js';

/** The parts of the `cap` binding we use (it ships no types). */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
  send(buffer: Buffer, nbytes?: number): void;
  close(): void;
}

/** Link-type names the binding returns, as DLT numbers. */
const LINK_TYPES: Record<string, number> = { NULL: 0, ETHERNET: 1, IPV4: 228, IPV6: 229, LINKTYPE_LINUX_SLL: 113, RAW: 101 };

let capModule: { Cap: new () => CapHandle } | null = null;

function loadCap(iface: string): { Cap: new () => CapHandle } {
  if (capModule) return capModule;
  try {
    capModule = createRequire(import.meta.url)('cap') as { Cap: new () => CapHandle };
    return capModule;
  } catch (err) {
    throw new LiveCaptureError('backend_unavailable', iface, `the cap binding did not load: ${(err as Error).message}`);
  }
}

/** Wall clock as whole seconds and nanoseconds (the binding gives no capture timestamp). */
const origin = performance.timeOrigin;
function wallNow(out: Float64Array): void {
  const ms = origin + performance.now();
  const sec = Math.floor(ms / 1000);
  out[0] = sec;
  out[1] = Math.round((ms - sec * 1000) * 1e6);
}

/**
 * The portable backend: libpcap through the `cap` binding, immediate mode on (the binding sets it), one JS event
 * per packet. The binding reports neither capture timestamps nor libpcap's statistics, so packets are stamped with
 * the wall clock when JavaScript sees them and kernel drops are not known (interface drops come from sysfs).
 */
export class CapCapture implements LiveCapture {
  readonly backend = 'cap';
  readonly linkType: number;
  private readonly handle: CapHandle;
  private readonly buffer: Buffer;
  private readonly clock = new Float64Array(2);
  private received = 0;
  private closed = false;
  private readonly ifDropBase: number;

  constructor(private readonly options: LiveCaptureOptions) {
    const { Cap } = loadCap(options.iface);
    this.handle = new Cap();
    this.buffer = Buffer.alloc(Math.max(64, Math.min(options.snapLength, 262144)));
    let link: string;
    try {
      link = this.handle.open(options.iface, options.filter, options.bufferBytes, this.buffer);
    } catch (err) {
      const message = (err as Error).message;
      throw new LiveCaptureError(classifyCaptureMessage(message), options.iface, `cannot capture: ${message}`);
    }
    const dlt = LINK_TYPES[link];
    if (dlt === undefined) {
      this.handle.close();
      throw new LiveCaptureError('failed', options.iface, `unsupported link type ${link}`);
    }
    this.linkType = dlt;
    this.ifDropBase = readInterfaceCounter(options.iface, 'rx_dropped');
  }

  start(handler: LivePacketHandler): void {
    const buffer = this.buffer;
    const clock = this.clock;
    this.handle.on('packet', (nbytes: number, truncated: boolean) => {
      this.received++;
      wallNow(clock);
      // A truncated packet's wire length is unknown to the binding: at least what was kept.
      handler(buffer, 0, Math.min(nbytes, buffer.length), truncated ? Math.max(nbytes, buffer.length) : nbytes, clock[0]!, clock[1]!);
    });
  }

  stats(): LiveCaptureStats {
    return {
      received: this.received,
      kernelDropped: null,
      interfaceDropped: Math.max(0, readInterfaceCounter(this.options.iface, 'rx_dropped') - this.ifDropBase),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.removeAllListeners('packet');
    this.handle.close();
  }
}

/**
 * Injection through a libpcap handle (pcap_sendpacket). On an interface that is not captured as well, the handle is
 * opened with a filter that matches nothing, so it costs no receive work.
 */
export class CapInjector implements FrameInjector {
  readonly name = 'cap';
  private readonly handle: CapHandle;
  private readonly out = Buffer.alloc(2048);
  private closed = false;

  constructor(readonly iface: string) {
    const { Cap } = loadCap(iface);
    this.handle = new Cap();
    try {
      this.handle.open(iface, 'ether proto 0xfffe and less 1', 1 << 20, Buffer.alloc(64));
    } catch (err) {
      const message = (err as Error).message;
      throw new LiveCaptureError(classifyCaptureMessage(message), iface, `cannot inject: ${message}`);
    }
  }

  send(frame: Uint8Array, length: number): boolean {
    this.out.set(frame.subarray(0, length), 0);
    try {
      this.handle.send(this.out, length);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}
