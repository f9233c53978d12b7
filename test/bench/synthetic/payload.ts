/**
 * Payload bytes of the synthetic capture.
 *
 * Bulk data comes from one fixed 64 KiB pattern, indexed by the TCP sequence number, so each stream is a
 * consistent byte sequence (a retransmission or reassembly would see the same bytes) and copying it is a
 * memcpy. Prefix sums over the pattern give the checksum of any slice in O(1): that is what makes valid
 * TCP/UDP checksums affordable at gigabytes per run.
 *
 * Pattern bytes are printable ASCII (0x21..0x7e). That keeps dissectors quiet: no byte can start a TLS record
 * (content types 0x14..0x18), so tshark shows server data on port 443 as opaque rather than malformed.
 *
 * The first request of a connection is a real application message (TLS ClientHello with SNI on 443, HTTP GET
 * with Host on 80) and DNS messages are real DNS, because that is what an engine that matches names parses.
 */
import { Prng } from './prng.js';

export const PATTERN_PERIOD = 65536;
/** Longest single payload taken from the pattern (must cover the largest MSS). */
export const MAX_PATTERN_SLICE = 4096;

export class PayloadPattern {
  readonly bytes: Buffer;
  /** prefix[j + 2] = prefix[j] + word(j): sums of big-endian words at positions of the same parity as j. */
  private readonly prefix: Float64Array;

  constructor(seed: number) {
    const rng = new Prng(seed ^ 0x0ddba11);
    const total = PATTERN_PERIOD + MAX_PATTERN_SLICE + 2;
    this.bytes = Buffer.allocUnsafe(total);
    for (let i = 0; i < PATTERN_PERIOD; i++) this.bytes[i] = 0x21 + rng.int(94);
    // The tail repeats the head, so a slice starting near the end of the period continues the stream seamlessly.
    for (let i = PATTERN_PERIOD; i < total; i++) this.bytes[i] = this.bytes[i - PATTERN_PERIOD]!;
    this.prefix = new Float64Array(total + 2);
    for (let j = 0; j + 1 < total; j++) this.prefix[j + 2] = this.prefix[j]! + ((this.bytes[j]! << 8) | this.bytes[j + 1]!);
  }

  /** Copies `len` pattern bytes from stream offset `off` (0 <= off < PATTERN_PERIOD) to `dst` at `at`. */
  copy(dst: Buffer, at: number, off: number, len: number): void {
    this.bytes.copy(dst, at, off, off + len);
  }

  /** Checksum contribution of that slice when it starts at an even offset of the checksummed data. */
  sum(off: number, len: number): number {
    const words = len >>> 1;
    let s = this.prefix[off + 2 * words]! - this.prefix[off]!;
    if (len & 1) s += this.bytes[off + len - 1]! << 8;
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// TLS 1.3 ClientHello, padded (as browsers do) to a fixed 517 bytes, so its length does not depend on the name.

export const TLS_CLIENT_HELLO_BYTES = 517;
const CLIENT_HELLO_BODY = 508; // handshake body; 517 = 5 (record) + 4 (handshake header) + 508
const CIPHER_SUITES = [
  0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
  0x0035, 0x000a,
];
const SIGNATURE_ALGORITHMS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];

/** Writes a ClientHello for `sni` at `at`; `random` seeds the random, session id and key share bytes. */
export function writeTlsClientHello(b: Buffer, at: number, sni: string, pattern: PayloadPattern, random: number): number {
  let p = at;
  const u8 = (v: number): void => {
    b[p++] = v & 255;
  };
  const u16 = (v: number): void => {
    b[p++] = (v >>> 8) & 255;
    b[p++] = v & 255;
  };
  const u24 = (v: number): void => {
    b[p++] = (v >>> 16) & 255;
    b[p++] = (v >>> 8) & 255;
    b[p++] = v & 255;
  };
  const opaque = (len: number, salt: number): void => {
    pattern.copy(b, p, (random + salt) & (PATTERN_PERIOD - 1), len);
    p += len;
  };
  u8(0x16); // handshake record
  u16(0x0301);
  u16(CLIENT_HELLO_BODY + 4);
  u8(0x01); // client_hello
  u24(CLIENT_HELLO_BODY);
  u16(0x0303);
  opaque(32, 0); // random
  u8(32);
  opaque(32, 977); // legacy session id
  u16(CIPHER_SUITES.length * 2);
  for (const s of CIPHER_SUITES) u16(s);
  u8(1); // compression methods: null only
  u8(0);
  // Length budget: the fixed body fields take 105 bytes and the extensions other than server_name and padding
  // take 137, server_name 9 + name and padding 4 + its data; all that must add up to CLIENT_HELLO_BODY (508).
  const padding = 253 - sni.length;
  u16(CLIENT_HELLO_BODY - 105);
  // server_name
  u16(0x0000);
  u16(sni.length + 5);
  u16(sni.length + 3);
  u8(0);
  u16(sni.length);
  p += b.write(sni, p, 'latin1');
  u16(0x0017); // extended_master_secret
  u16(0);
  u16(0xff01); // renegotiation_info
  u16(1);
  u8(0);
  u16(0x000a); // supported_groups: x25519, secp256r1, secp384r1
  u16(8);
  u16(6);
  u16(0x001d);
  u16(0x0017);
  u16(0x0018);
  u16(0x000b); // ec_point_formats
  u16(2);
  u8(1);
  u8(0);
  u16(0x0023); // session_ticket
  u16(0);
  u16(0x0010); // ALPN: h2, http/1.1
  u16(14);
  u16(12);
  u8(2);
  p += b.write('h2', p, 'latin1');
  u8(8);
  p += b.write('http/1.1', p, 'latin1');
  u16(0x0005); // status_request
  u16(5);
  u8(1);
  u16(0);
  u16(0);
  u16(0x000d); // signature_algorithms
  u16(2 + SIGNATURE_ALGORITHMS.length * 2);
  u16(SIGNATURE_ALGORITHMS.length * 2);
  for (const s of SIGNATURE_ALGORITHMS) u16(s);
  u16(0x0033); // key_share: one x25519 share
  u16(38);
  u16(36);
  u16(0x001d);
  u16(32);
  opaque(32, 1931);
  u16(0x002d); // psk_key_exchange_modes
  u16(2);
  u8(1);
  u8(1);
  u16(0x002b); // supported_versions: TLS 1.3, 1.2
  u16(5);
  u8(4);
  u16(0x0304);
  u16(0x0303);
  u16(0x0015); // padding
  u16(padding);
  b.fill(0, p, p + padding);
  p += padding;
  return p - at;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP/1.1 GET

export const HTTP_PATHS = ['/', '/index.html', '/api/v1/status', '/static/app.js', '/images/logo.png', '/favicon.ico'];
const HTTP_GET_FIXED =
  'GET  HTTP/1.1\r\nHost: \r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) offpath-bench/1.0\r\n' +
  'Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n';

export function httpGetLength(host: string, path: string): number {
  return HTTP_GET_FIXED.length + host.length + path.length;
}

export function writeHttpGet(b: Buffer, at: number, host: string, path: string): number {
  return b.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) offpath-bench/1.0\r\n` +
      'Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n',
    at,
    'latin1',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// DNS (RFC 1035) with an EDNS(0) OPT record, as modern stub resolvers send.

const DNS_HEADER = 12;
const DNS_QUESTION_TAIL = 4; // qtype, qclass
const DNS_OPT_RR = 11;
export const DNS_TYPE_A = 1;
export const DNS_TYPE_AAAA = 28;
export const DNS_RCODE_NXDOMAIN = 3;

export function dnsQueryLength(wireName: Buffer): number {
  return DNS_HEADER + wireName.length + DNS_QUESTION_TAIL + DNS_OPT_RR;
}

export function dnsResponseLength(wireName: Buffer, qtype: number, answers: number, cname: Buffer | null): number {
  const cnameRecord = cname !== null && answers > 0 ? 12 + cname.length : 0;
  return dnsQueryLength(wireName) + cnameRecord + answers * (12 + (qtype === DNS_TYPE_AAAA ? 16 : 4));
}

/**
 * Writes a DNS query (answers < 0) or a response. A response with answers > 0 carries, when `cname` is given,
 * a CNAME from the question to it first, then `answers` address records (for the CNAME target when there is
 * one) pointing at `answerAddr`: an IPv4 address, or for AAAA four IPv6 words; the last word grows per record.
 */
export function writeDns(
  b: Buffer,
  at: number,
  txid: number,
  wireName: Buffer,
  qtype: number,
  answers: number,
  rcode: number,
  cname: Buffer | null,
  answerAddr: readonly number[],
): number {
  let p = at;
  const u16 = (v: number): void => {
    b[p++] = (v >>> 8) & 255;
    b[p++] = v & 255;
  };
  const u32 = (v: number): void => {
    u16(v >>> 16);
    u16(v & 0xffff);
  };
  const isResponse = answers >= 0;
  const withCname = cname !== null && answers > 0;
  u16(txid);
  u16(isResponse ? 0x8180 | rcode : 0x0100); // response: QR RD RA; query: RD
  u16(1); // qdcount
  u16(isResponse ? answers + (withCname ? 1 : 0) : 0);
  u16(0); // nscount
  u16(1); // arcount: OPT
  wireName.copy(b, p);
  p += wireName.length;
  u16(qtype);
  u16(1); // class IN
  let ownerPointer = 0xc00c; // the question name, at offset 12 of the message
  if (withCname) {
    u16(0xc00c);
    u16(5); // CNAME
    u16(1);
    u32(300);
    u16(cname.length);
    ownerPointer = 0xc000 | (p - at);
    cname.copy(b, p);
    p += cname.length;
  }
  for (let i = 0; i < answers; i++) {
    u16(ownerPointer);
    u16(qtype);
    u16(1);
    u32(60); // TTL
    if (qtype === DNS_TYPE_AAAA) {
      u16(16);
      u32(answerAddr[0]!);
      u32(answerAddr[1]!);
      u32(answerAddr[2]!);
      u32((answerAddr[3]! + i) >>> 0);
    } else {
      u16(4);
      u32((answerAddr[0]! + i) >>> 0);
    }
  }
  b[p++] = 0; // OPT: root name
  u16(41);
  u16(1232); // advertised UDP payload size
  u32(0); // extended rcode, version, flags
  u16(0);
  return p - at;
}

// ---------------------------------------------------------------------------------------------------------------
// RTP (RFC 3550) voice: 12-byte header + 20 ms of G.711 (160 bytes).

export const RTP_PAYLOAD_BYTES = 172;

export function writeRtp(b: Buffer, at: number, seq: number, ssrc: number, pattern: PayloadPattern): number {
  b[at] = 0x80; // version 2, no padding, no extension, no CSRC
  b[at + 1] = 0; // payload type 0 (PCMU)
  b[at + 2] = (seq >>> 8) & 255;
  b[at + 3] = seq & 255;
  const ts = Math.imul(seq, 160) >>> 0;
  b[at + 4] = ts >>> 24;
  b[at + 5] = (ts >>> 16) & 255;
  b[at + 6] = (ts >>> 8) & 255;
  b[at + 7] = ts & 255;
  b[at + 8] = ssrc >>> 24;
  b[at + 9] = (ssrc >>> 16) & 255;
  b[at + 10] = (ssrc >>> 8) & 255;
  b[at + 11] = ssrc & 255;
  pattern.copy(b, at + 12, (seq * 160) & (PATTERN_PERIOD - 1), 160);
  return RTP_PAYLOAD_BYTES;
}
