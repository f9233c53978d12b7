import { readFileSync } from 'node:fs';

/** A counter from /sys/class/net/IF/statistics (rx_dropped, rx_packets...), or 0 when the kernel does not expose it. */
export function readInterfaceCounter(iface: string, name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${iface}/statistics/${name}`, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** The interface's MAC address as 6 bytes, or null when it has none or does not exist. */
export function readInterfaceMac(iface: string): Uint8Array | null {
  try {
    const text = readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim();
    const mac = parseMac(text);
    return mac && mac.some((b) => b !== 0) ? mac : null;
  } catch {
    return null;
  }
}

/** Whether /sys knows the interface. */
export function interfaceExists(iface: string): boolean {
  try {
    readFileSync(`/sys/class/net/${iface}/ifindex`);
    return true;
  } catch {
    return false;
  }
}

/** "aa:bb:cc:dd:ee:ff" (or with '-') → 6 bytes; null when malformed. */
export function parseMac(text: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text.trim());
  if (!m) return null;
  return Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(mac[offset + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}
