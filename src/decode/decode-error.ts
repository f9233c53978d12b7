/**
 * Why a packet could not be decoded. Every malformed packet is counted under exactly one of these names and
 * the pipeline moves on: decoding never throws.
 *
 * The numeric codes index a counter array on the hot path; the names are what users see (summary, metrics).
 */
export const DecodeError = {
  none: 0,
  link_type_unsupported: 1,
  ethernet_truncated: 2,
  vlan_truncated: 3,
  vlan_too_many_tags: 4,
  mpls_truncated: 5,
  mpls_too_many_labels: 6,
  pppoe_truncated: 7,
  ppp_truncated: 8,
  llc_truncated: 9,
  sll_truncated: 10,
  null_truncated: 11,
  null_family_unknown: 12,
  nflog_truncated: 13,
  nflog_bad_tlv: 14,
  ipv4_truncated: 15,
  ipv4_bad_version: 16,
  ipv4_bad_header_length: 17,
  ipv4_bad_total_length: 18,
  ipv6_truncated: 19,
  ipv6_bad_version: 20,
  ipv6_bad_payload_length: 21,
  ipv6_extension_truncated: 22,
  ipv6_too_many_extensions: 23,
  ip_version_unknown: 24,
  tcp_truncated: 25,
  tcp_bad_header_length: 26,
  udp_truncated: 27,
  udp_bad_length: 28,
  icmp_truncated: 29,
  gre_truncated: 30,
  gre_unsupported: 31,
  erspan_truncated: 32,
  vxlan_truncated: 33,
  geneve_truncated: 34,
  gtp_truncated: 35,
  nsh_truncated: 36,
  teredo_truncated: 37,
  tunnel_too_deep: 38,
  vntag_truncated: 39,
  fabricpath_truncated: 40,
  /** A first fragment too short to hold the L4 header (RFC 1858 tiny-fragment evasion): ports unknown. */
  fragment_l4_header_split: 44,
  // Anomalies below: counted, but the packet is still decoded and tracked (as Wireshark and real stacks do).
  udp_length_exceeds_ip: 41,
  tcp_bad_option: 42,
  ipv4_total_length_zero: 43,
} as const;

export type DecodeErrorName = keyof typeof DecodeError;

export const DECODE_ERROR_COUNT = Object.keys(DecodeError).length;

export const decodeErrorNames: readonly DecodeErrorName[] = (() => {
  const names = new Array<DecodeErrorName>(DECODE_ERROR_COUNT);
  for (const [name, code] of Object.entries(DecodeError)) names[code] = name as DecodeErrorName;
  return names;
})();

/** Turns a counter array indexed by DecodeError code into {name: count}, leaving out zeros. */
export function decodeErrorsToObject(counts: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i < DECODE_ERROR_COUNT; i++) if (counts[i]! > 0) out[decodeErrorNames[i]!] = counts[i]!;
  return out;
}
