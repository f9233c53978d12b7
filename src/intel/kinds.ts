/**
 * Internal numbering of indicator kinds ("stores"), and entry handles.
 *
 * A handle is (kind << 27) | index: one small non-negative integer that names an entry without any object, so
 * the hot path can return it and callers can read metadata through the set's accessors. A handle stays valid until
 * its entry is removed or replaced (an upsert of the same identity gives a new handle).
 */
import type { IndicatorKind, ParsedIndicator, PortProtocol } from './indicator.js';

export const K_V4 = 0;
export const K_V6 = 1;
export const K_CIDR4 = 2;
export const K_CIDR6 = 3;
export const K_PORT4 = 4;
export const K_PORT6 = 5;
export const K_DOMAIN = 6;
export const KIND_COUNT = 7;

export const INDEX_BITS = 27;
export const INDEX_MASK = (1 << INDEX_BITS) - 1;

/** Public kind name of each store (both ip-port stores report as 'ip-port'). */
export const KIND_NAMES: readonly IndicatorKind[] = ['ipv4', 'ipv6', 'cidr4', 'cidr6', 'ip-port', 'ip-port', 'domain'];

/** Key words per entry in each store's key column. */
export const KEY_WIDTH: readonly number[] = [1, 4, 1, 4, 2, 5, 0];

export function kindIdOf(indicator: ParsedIndicator): number {
  switch (indicator.kind) {
    case 'ipv4': return K_V4;
    case 'ipv6': return K_V6;
    case 'cidr4': return K_CIDR4;
    case 'cidr6': return K_CIDR6;
    case 'ip-port': return indicator.family === 6 ? K_PORT6 : K_PORT4;
    case 'domain': return K_DOMAIN;
  }
}

export function makeHandle(kind: number, index: number): number {
  return (kind << INDEX_BITS) | index;
}

/** Port-key protocol codes: 0 = any protocol, 1 = tcp, 2 = udp. */
export function protocolCode(protocol: PortProtocol): number {
  return protocol === 'tcp' ? 1 : protocol === 'udp' ? 2 : 0;
}

export const PROTOCOL_NAMES: readonly PortProtocol[] = ['any', 'tcp', 'udp'];

/** Packed lookup-table value: entry index, "has an expiry" bit, action code (>= 1, so never 0). */
export const PACK_EXPIRING = 4;
export function pack(index: number, expiring: boolean, action: number): number {
  return (index << 3) | (expiring ? PACK_EXPIRING : 0) | action;
}
