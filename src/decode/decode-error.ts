/**
 * Why a packet could not be decoded. Every malformed packet is counted under exactly one of these names and
 * the pipeline moves on: decoding never throws.
 *
 * The numeric codes index a counter array on the hot path; the names are what users see (summary, metrics).
 */
const NAMES = [
  'none',
  'link_type_unsupported',
  'ethernet_truncated',
  'vlan_truncated',
  'vlan_too_many_tags',
  'mpls_truncated',
  'mpls_too_many_labels',
  'pppoe_truncated',
  'ppp_truncated',
  'llc_truncated',
  'sll_truncated',
  'null_truncated',
  'null_family_unknown',
  'nflog_truncated',
  'nflog_bad_tlv',
  'ipv4_truncated',
  'ipv4_bad_version',
  'ipv4_bad_header_length',
  'ipv4_bad_total_length',
  'ipv6_truncated',
  'ipv6_bad_version',
  'ipv6_bad_payload_length',
  'ipv6_extension_truncated',
  'ipv6_too_many_extensions',
  'ip_version_unknown',
  'tcp_truncated',
  'tcp_bad_header_length',
  'udp_truncated',
  'udp_bad_length',
  'icmp_truncated',
  'gre_truncated',
  'gre_unsupported',
  'erspan_truncated',
  'vxlan_truncated',
  'geneve_truncated',
  'gtp_truncated',
  'nsh_truncated',
  'tunnel_too_deep',
  'vntag_truncated',
  'fabricpath_truncated',
  /** A first fragment too short to hold the L4 header (RFC 1858 tiny-fragment evasion): ports unknown. */
  'fragment_l4_header_split',
  // Anomalies below: counted, but the packet is still decoded and tracked (as Wireshark and real stacks do).
  'udp_length_exceeds_ip',
  'tcp_bad_option',
  'ipv4_total_length_zero',
] as const;

export type DecodeErrorName = (typeof NAMES)[number];

/** Name → code; codes are dense, in the order above. */
export const DecodeError = Object.freeze(Object.fromEntries(NAMES.map((name, code) => [name, code]))) as Readonly<Record<DecodeErrorName, number>>;


export const DECODE_ERROR_COUNT = NAMES.length;

export const decodeErrorNames: readonly DecodeErrorName[] = NAMES;

/** Turns a counter array indexed by DecodeError code into {name: count}, leaving out zeros. */
export function decodeErrorsToObject(counts: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i < DECODE_ERROR_COUNT; i++) if (counts[i]! > 0) out[decodeErrorNames[i]!] = counts[i]!;
  return out;
}
