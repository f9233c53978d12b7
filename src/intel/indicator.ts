/**
 * Indicator grammar: turns one indicator string into a normalised, typed value, or throws IndicatorError.
 *
 * Accepted forms (surrounding ASCII whitespace is trimmed, anything else must be exact):
 *
 *   ipv4      198.18.0.5                 strict dotted quad (no leading zeros, see net/address.ts)
 *   ipv6      2001:db8::1, [2001:db8::1] any RFC 4291 text form; stored as four words, printed RFC 5952
 *   cidr4     198.18.0.0/15              prefix length 0..32
 *   cidr6     2001:db8::/32              prefix length 0..128
 *   ip-port   198.18.0.5:443             port 1..65535; optional /tcp or /udp (any case) restricts the protocol
 *             [2001:db8::1]:53/udp       IPv6 with a port must be bracketed, as in URLs
 *   domain    example.com, Example.COM.  RFC 1123 host name: labels of letters, digits and inner hyphens,
 *                                        1..63 characters each, at most 253 in all, at least two labels, the
 *                                        last one not all-numeric; lower-cased; one trailing dot dropped.
 *
 * Choices (documented because they change what a feed means):
 * - CIDR with host bits set ("198.18.0.5/24") is REJECTED by default: it is ambiguous (host or network?) and a
 *   typo in an allow or block range is expensive either way. `{ hostBits: 'mask' }` accepts it and keeps the
 *   network (198.18.0.0/24), for feeds known to be sloppy.
 * - A full-length prefix is the address itself: "198.18.0.5/32" is the ipv4 indicator 198.18.0.5 and
 *   "2001:db8::1/128" the ipv6 indicator 2001:db8::1. One key, one meaning, whatever the spelling.
 * - IPv4-mapped IPv6 (::ffff:198.18.0.5) stays IPv6: the sensor matches the family it sees on the wire.
 * - Port 0 is rejected: it never identifies a real session and almost always means a broken feed column.
 * - Internationalised domain names must be given in their ASCII (xn--) form; Unicode is rejected, which also
 *   keeps look-alike (homograph) names out of the set.
 * - Wildcards and URLs are not indicators: "*.example.com" and "http://example.com/x" are rejected.
 */
import { formatIPv4, formatIPv6, IPV6_CANONICAL, IPV6_INVALID, parseIPv4, parseIPv6Form } from '../net/address.js';
import { IndicatorError } from './errors.js';

export type IndicatorKind = 'ipv4' | 'ipv6' | 'cidr4' | 'cidr6' | 'ip-port' | 'domain';
export const INDICATOR_KINDS: readonly IndicatorKind[] = ['ipv4', 'ipv6', 'cidr4', 'cidr6', 'ip-port', 'domain'];

/** Transport restriction of an ip-port indicator. */
export type PortProtocol = 'any' | 'tcp' | 'udp';

/** IP protocol numbers, as the sensor passes them to the matcher. */
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;

export interface ParsedIndicator {
  readonly kind: IndicatorKind;
  /** 4 or 6 for address kinds, 0 for domains. */
  readonly family: 0 | 4 | 6;
  /** IPv4 address (network address for cidr4), unsigned; 0 for other families. */
  readonly v4: number;
  /** IPv6 address words (network address for cidr6), most significant first; null for other families. */
  readonly v6: Uint32Array | null;
  /** 32 or 128 for single addresses and ip-port, the prefix for CIDRs, 0 for domains. */
  readonly prefixLength: number;
  /** 1..65535 for ip-port, 0 otherwise. */
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Lower-cased name for domains, '' otherwise. */
  readonly domain: string;
  /** Canonical text: equal indicators have equal text (used as the default entry id). */
  readonly text: string;
}

export interface ParseIndicatorOptions {
  /** What to do with a CIDR whose host bits are set: 'reject' (default) or 'mask' them off. */
  readonly hostBits?: 'reject' | 'mask';
}

/** Longest input considered at all: the longest valid indicator (a 253-character domain) plus slack. */
export const MAX_INDICATOR_LENGTH = 300;

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ALL_DIGITS = /^[0-9]+$/;

/** Parses one indicator; throws IndicatorError saying what is wrong and what is accepted. */
export function parseIndicator(input: string, options: ParseIndicatorOptions = {}): ParsedIndicator {
  if (typeof input !== 'string') throw new IndicatorError(String(input), 'not a string');
  if (input.length > MAX_INDICATOR_LENGTH) {
    throw new IndicatorError(input, `too long (${input.length} characters, at most ${MAX_INDICATOR_LENGTH})`);
  }
  const text = input.trim();
  if (text.length === 0) throw new IndicatorError(input, 'empty');
  // The usual indicator first: a strict dotted quad is one pass, and already canonical.
  const quad = parseIPv4(text);
  if (quad >= 0) return makeV4('ipv4', quad, 32, 0, 'any', text);
  // One pass over the characters decides the form (this runs for every line of million-line feeds).
  let colons = 0;
  let slash = -1;
  let dottedNumeric = true;
  let bad = 0; // 1 = whitespace or control character inside, 2 = non-ASCII
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) bad |= 1;
    else if (c > 0x7e) bad |= 2;
    if (c === 58 /* : */) colons++;
    else if (c === 47 /* / */) slash = i;
    if (c !== 46 && (c < 48 || c > 57)) dottedNumeric = false;
  }
  if (bad !== 0) {
    if ((bad & 2) !== 0) {
      throw new IndicatorError(input, 'contains non-ASCII characters', 'write internationalised domain names in their ASCII xn-- (punycode) form');
    }
    throw new IndicatorError(input, 'contains whitespace or control characters inside the indicator');
  }
  // Digits and dots that are not a strict dotted quad: say what is wrong with it.
  if (dottedNumeric) return makeV4('ipv4', requireIPv4(input, text), 32, 0, 'any', text);
  if (colons > 0 && slash >= 0 && text.includes('://')) {
    throw new IndicatorError(input, 'looks like a URL; give the host (domain or address) alone');
  }
  if (text.charCodeAt(0) === 91 /* [ */) return parseBracketed(input, text);
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    const lower = suffix.toLowerCase();
    if (lower === 'tcp' || lower === 'udp') return parsePortForm(input, text.slice(0, slash), lower);
    return parseCidr(input, text.slice(0, slash), suffix, options);
  }
  if (colons >= 2) return ipv6Indicator(input, text);
  if (colons === 1) return parsePortForm(input, text, 'any');
  return parseDomain(input, text);
}

/** Like parseIndicator, but returns the error instead of throwing it (for callers that collect errors). */
export function tryParseIndicator(input: string, options?: ParseIndicatorOptions): ParsedIndicator | IndicatorError {
  try {
    return parseIndicator(input, options);
  } catch (err) {
    if (err instanceof IndicatorError) return err;
    throw err;
  }
}

function countChar(text: string, code: number): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === code) n++;
  return n;
}

function ipv6Indicator(input: string, text: string): ParsedIndicator {
  const v6 = new Uint32Array(4);
  const form = parseIPv6Form(text, v6);
  if (form === IPV6_INVALID) throw badIPv6(input, text);
  // Feeds mostly write the canonical text already: keep it rather than format it again.
  return makeV6('ipv6', v6, 128, 0, 'any', form === IPV6_CANONICAL ? text : formatIPv6(v6[0]!, v6[1]!, v6[2]!, v6[3]!));
}

function requireIPv4(input: string, text: string): number {
  const v4 = parseIPv4(text);
  if (v4 < 0) {
    throw new IndicatorError(
      input,
      `${JSON.stringify(text)} is not a valid IPv4 address`,
      'IPv4 is four decimal numbers 0-255 separated by dots, without leading zeros, e.g. 198.18.0.5',
    );
  }
  return v4;
}

function requireIPv6(input: string, text: string): Uint32Array {
  const words = new Uint32Array(4);
  if (parseIPv6Form(text, words) === IPV6_INVALID) throw badIPv6(input, text);
  return words;
}

function badIPv6(input: string, text: string): IndicatorError {
  return new IndicatorError(
    input,
    `${JSON.stringify(text)} is not a valid IPv6 address`,
    'IPv6 is up to eight groups of 1-4 hex digits separated by colons, one "::" at most, no zone id, e.g. 2001:db8::1',
  );
}

function parseBracketed(input: string, text: string): ParsedIndicator {
  const close = text.indexOf(']');
  if (close < 0) throw new IndicatorError(input, 'missing "]" after a bracketed IPv6 address');
  const inner = text.slice(1, close);
  const rest = text.slice(close + 1);
  if (rest === '') return ipv6Indicator(input, inner);
  if (rest.charCodeAt(0) !== 58 /* : */) {
    throw new IndicatorError(input, `unexpected ${JSON.stringify(rest)} after "]"`, 'write [IPv6]:port, e.g. [2001:db8::1]:53/udp');
  }
  let portText = rest.slice(1);
  let protocol: PortProtocol = 'any';
  const slash = portText.indexOf('/');
  if (slash >= 0) {
    protocol = parseProtocol(input, portText.slice(slash + 1));
    portText = portText.slice(0, slash);
  }
  const v6 = requireIPv6(input, inner);
  const port = parsePort(input, portText);
  const addr = formatIPv6(v6[0]!, v6[1]!, v6[2]!, v6[3]!);
  return makeV6('ip-port', v6, 128, port, protocol, `[${addr}]:${port}${protocol === 'any' ? '' : `/${protocol}`}`);
}

/** `a.b.c.d:port`, optionally followed (already split off) by a protocol. */
function parsePortForm(input: string, text: string, protocol: PortProtocol): ParsedIndicator {
  const colons = countChar(text, 58);
  if (colons === 0) {
    throw new IndicatorError(input, 'a /tcp or /udp suffix needs a port', 'write 198.18.0.5:443/tcp or [2001:db8::1]:53/udp');
  }
  if (colons > 1) {
    throw new IndicatorError(input, 'an IPv6 address with a port must be bracketed', 'write [2001:db8::1]:53, as in URLs');
  }
  const colon = text.indexOf(':');
  const v4 = requireIPv4(input, text.slice(0, colon));
  const port = parsePort(input, text.slice(colon + 1));
  return makeV4('ip-port', v4, 32, port, protocol, `${formatIPv4(v4)}:${port}${protocol === 'any' ? '' : `/${protocol}`}`);
}

function parseProtocol(input: string, text: string): PortProtocol {
  const lower = text.toLowerCase();
  if (lower === 'tcp' || lower === 'udp') return lower;
  throw new IndicatorError(input, `unknown protocol ${JSON.stringify(text)}`, 'the protocol suffix is /tcp or /udp');
}

function parsePort(input: string, text: string): number {
  if (text === '') throw new IndicatorError(input, 'missing port after ":"', 'ports are 1-65535');
  if (!DECIMAL.test(text) || text.length > 5) {
    throw new IndicatorError(input, `port ${JSON.stringify(text)} is not a decimal number`, 'ports are 1-65535, without leading zeros');
  }
  const port = Number(text);
  if (port === 0) throw new IndicatorError(input, 'port 0 never identifies a session', 'ports are 1-65535');
  if (port > 65535) throw new IndicatorError(input, `port ${port} is out of range`, 'ports are 1-65535');
  return port;
}

function parseCidr(input: string, addrText: string, lengthText: string, options: ParseIndicatorOptions): ParsedIndicator {
  const isV6 = addrText.includes(':');
  const max = isV6 ? 128 : 32;
  if (!DECIMAL.test(lengthText) || lengthText.length > 3) {
    throw new IndicatorError(
      input,
      `prefix length ${JSON.stringify(lengthText)} is not a decimal number`,
      `write address/length with length 0-${max}, e.g. ${isV6 ? '2001:db8::/32' : '198.18.0.0/15'}`,
    );
  }
  const length = Number(lengthText);
  if (length > max) {
    throw new IndicatorError(input, `prefix length /${length} is out of range for IPv${isV6 ? 6 : 4}`, `IPv${isV6 ? 6 : 4} prefix lengths are 0-${max}`);
  }
  const mask = options.hostBits === 'mask';
  if (!isV6) {
    let v4 = requireIPv4(input, addrText);
    if (length === 32) return makeV4('ipv4', v4, 32, 0, 'any', formatIPv4(v4));
    const network = (v4 & maskV4(length)) >>> 0;
    if (network !== v4) {
      if (!mask) throw hostBitsError(input, `${formatIPv4(network)}/${length}`);
      v4 = network;
    }
    return makeV4('cidr4', v4, length, 0, 'any', `${formatIPv4(v4)}/${length}`);
  }
  const v6 = requireIPv6(input, addrText);
  const text6 = (w: Uint32Array) => formatIPv6(w[0]!, w[1]!, w[2]!, w[3]!);
  if (length === 128) return makeV6('ipv6', v6, 128, 0, 'any', text6(v6));
  let hostBits = false;
  for (let i = 0; i < 4; i++) {
    const network = (v6[i]! & maskV6Word(length, i)) >>> 0;
    if (network !== v6[i]) hostBits = true;
    if (mask) v6[i] = network;
  }
  if (hostBits && !mask) {
    const network = new Uint32Array(4);
    for (let i = 0; i < 4; i++) network[i] = (v6[i]! & maskV6Word(length, i)) >>> 0;
    throw hostBitsError(input, `${text6(network)}/${length}`);
  }
  return makeV6('cidr6', v6, length, 0, 'any', `${text6(v6)}/${length}`);
}

function hostBitsError(input: string, network: string): IndicatorError {
  return new IndicatorError(
    input,
    `host bits are set (the network is ${network})`,
    `write the network address ${network}, or load with host bits masked`,
  );
}

function parseDomain(input: string, text: string): ParsedIndicator {
  let name = text.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const hint = 'domains are host names per RFC 1123: labels of letters, digits and inner hyphens, e.g. mail.example.com';
  if (name.length === 0) throw new IndicatorError(input, 'empty domain name', hint);
  if (name.length > 253) throw new IndicatorError(input, `domain name is ${name.length} characters long (at most 253)`, hint);
  const labels = name.split('.');
  if (labels.length < 2) throw new IndicatorError(input, 'a domain needs at least two labels (single names are not accepted)', hint);
  for (const label of labels) {
    if (label.length === 0) throw new IndicatorError(input, 'empty label (two dots in a row, or a leading dot)', hint);
    if (label.length > 63) throw new IndicatorError(input, `label of ${label.length} characters (at most 63)`, hint);
    if (!LABEL.test(label)) {
      const why = label.startsWith('-') || label.endsWith('-')
        ? `label ${JSON.stringify(label)} starts or ends with a hyphen`
        : `label ${JSON.stringify(label)} has characters other than letters, digits and hyphens`;
      throw new IndicatorError(input, why, hint);
    }
  }
  if (ALL_DIGITS.test(labels[labels.length - 1]!)) {
    throw new IndicatorError(input, 'the last label is all digits, so this is neither an address nor a domain', hint);
  }
  return {
    kind: 'domain', family: 0, v4: 0, v6: null, prefixLength: 0, port: 0, protocol: 'any', domain: name, text: name,
  };
}

function makeV4(kind: IndicatorKind, v4: number, prefixLength: number, port: number, protocol: PortProtocol, text: string): ParsedIndicator {
  return { kind, family: 4, v4, v6: null, prefixLength, port, protocol, domain: '', text };
}

function makeV6(kind: IndicatorKind, v6: Uint32Array, prefixLength: number, port: number, protocol: PortProtocol, text: string): ParsedIndicator {
  return { kind, family: 6, v4: 0, v6, prefixLength, port, protocol, domain: '', text };
}

/** Network mask of an IPv4 prefix length, unsigned (maskV4(0) = 0, maskV4(32) = 0xffffffff). */
export function maskV4(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Mask of word `word` (0..3, most significant first) of an IPv6 prefix length. */
export function maskV6Word(length: number, word: number): number {
  const bits = length - 32 * word;
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}
