/**
 * Over-broad prefix policy (pure): a block of a huge range is usually a feed error, and on a bank's mirror port a
 * wrongly blocked /8 is an outage. Loading refuses over-broad entries unless forced.
 *
 * Defaults: IPv4 prefixes shorter than /16 and IPv6 prefixes shorter than /32 are over-broad. /16 is the largest
 * block most intel feeds carry (Spamhaus DROP's bigger hijacked ranges then need an explicit force), and /32 is the
 * size of a typical IPv6 allocation to a whole provider.
 * Only `block` is policed by default: `allow` can only reduce resets, and `monitor` only raises alerts.
 */
import type { IntelAction } from './action.js';
import type { ParsedIndicator } from './indicator.js';

export interface BreadthPolicy {
  /** Shortest acceptable IPv4 prefix length (0..32). */
  readonly minPrefixV4: number;
  /** Shortest acceptable IPv6 prefix length (0..128). */
  readonly minPrefixV6: number;
  /** Actions the policy applies to. */
  readonly actions: readonly IntelAction[];
}

export const DEFAULT_BREADTH_POLICY: BreadthPolicy = Object.freeze({
  minPrefixV4: 16,
  minPrefixV6: 32,
  actions: Object.freeze(['block'] as IntelAction[]),
});

/** Whether the indicator, with this action, is broader than the policy allows. */
export function isOverBroad(indicator: ParsedIndicator, action: IntelAction, policy: BreadthPolicy = DEFAULT_BREADTH_POLICY): boolean {
  return overBroadReason(indicator, action, policy) !== null;
}

/** Human explanation when over-broad, else null. */
export function overBroadReason(indicator: ParsedIndicator, action: IntelAction, policy: BreadthPolicy = DEFAULT_BREADTH_POLICY): string | null {
  if (!policy.actions.includes(action)) return null;
  if (indicator.kind === 'cidr4' && indicator.prefixLength < policy.minPrefixV4) {
    return `${action} of ${indicator.text} is over-broad (${addresses(32 - indicator.prefixLength)} addresses; prefixes shorter than /${policy.minPrefixV4} need force)`;
  }
  if (indicator.kind === 'cidr6' && indicator.prefixLength < policy.minPrefixV6) {
    return `${action} of ${indicator.text} is over-broad (prefixes shorter than /${policy.minPrefixV6} need force)`;
  }
  return null;
}

function addresses(hostBits: number): string {
  return (2 ** hostBits).toLocaleString('en-US');
}
