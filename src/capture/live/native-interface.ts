/** What the kernel says about a network interface, asked through the native addon (ioctls, any namespace). */
import { loadNativeAddon, toLiveCaptureError } from './native-addon.js';
import { parseMac } from './interface-counters.js';

export interface InterfaceInfo {
  readonly name: string;
  readonly ifindex: number;
  /** "aa:bb:cc:dd:ee:ff" for Ethernet-like interfaces (loopback: all zero), null otherwise. */
  readonly mac: string | null;
  readonly mtu: number;
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** Operationally up (IFF_RUNNING: carrier present). */
  readonly running: boolean;
  readonly promiscuous: boolean;
  /** ARPHRD_* (1 = Ethernet, 772 = loopback). */
  readonly arpType: number;
  /** Link type the tpacket backend delivers: 1 (Ethernet) for Ethernet-like interfaces, 113 (Linux cooked) otherwise. */
  readonly linkType: number;
}

/** Throws LiveCaptureError (no_such_interface, permission) when the interface cannot be looked up. */
export function interfaceInfo(name: string, options: { netns?: string } = {}): InterfaceInfo {
  const addon = loadNativeAddon();
  try {
    return addon.interfaceInfo(name, options.netns);
  } catch (err) {
    throw toLiveCaptureError(err, name);
  }
}

/** Parses "aa:bb:cc:dd:ee:ff" into 6 bytes (for building frames with an interface's own address). */
export function macBytes(mac: string): Uint8Array {
  const bytes = parseMac(mac);
  if (!bytes) throw new RangeError(`not a MAC address: ${mac}`);
  return bytes;
}
