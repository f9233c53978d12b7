/**
 * Who talks to whom in the synthetic capture: client and server populations, resolvers, host names, MACs.
 *
 * Only test ranges are used: IPv4 198.18.0.0/15 (RFC 2544 benchmarking) and IPv6 2001:2::/48 (RFC 5180), and
 * names under RFC 2606/6761 reserved domains. Clients live in 198.18.0.0/16, servers in 198.19.0.0/16, so a
 * packet's direction is visible at a glance in tcpdump output.
 */
import { Prng } from './prng.js';

export const V6_PREFIX_WORD0 = 0x20010002; // 2001:0002:...
const V6_SERVER_SUBNET = 0x0001; // 2001:2:0:1::/64
const V6_CLIENT_SUBNET_BASE = 0x0100; // 2001:2:0:100::/64 and up
const V6_RESOLVER_SUBNET = 0xffff;

const V4_CLIENT_BASE = 0xc6120100; // 198.18.1.0
const V4_SERVER_BASE = 0xc6130001; // 198.19.0.1
const V4_RESOLVERS = [0xc612ff35, 0xc612ff36]; // 198.18.255.53, 198.18.255.54

/** One endpoint address: IPv4 uses `lo` only; IPv6 is V6_PREFIX_WORD0 : hi : mid : lo. */
export interface Address {
  hi: number;
  mid: number;
  lo: number;
}

const CNAME_SHARE = 0.4;
const TLDS = ['example.com', 'example.net', 'example.org', 'test'];
const WORDS = [
  'api', 'cdn', 'www', 'static', 'img', 'video', 'auth', 'login', 'mail', 'chat', 'push', 'update', 'metrics',
  'files', 'shop', 'news', 'maps', 'media', 'edge', 'assets', 'sync', 'ads', 'track', 'docs', 'store', 'game',
];

export class AddressPlan {
  readonly serverCount: number;
  readonly clientCount: number;
  /** Host name of each server; DNS answers for names[i] point at server i, so lookups and connections agree. */
  readonly names: string[];
  /** The same names in DNS wire format (length-prefixed labels, terminating zero). */
  readonly wireNames: Buffer[];
  /** CDN-hosted names resolve through a CNAME (wire format), as a large share of real lookups do; others null. */
  readonly cnameWireNames: (Buffer | null)[];
  private readonly clientV6Words: Uint32Array;

  constructor(seed: number, serverCount = 20000, clientCount = 30000) {
    if (serverCount > 65000 || clientCount > 60000) throw new RangeError('address plan too large for a /16');
    this.serverCount = serverCount;
    this.clientCount = clientCount;
    const rng = new Prng(seed ^ 0x5eed1e55);
    this.names = [];
    this.wireNames = [];
    this.cnameWireNames = [];
    for (let i = 0; i < serverCount; i++) {
      const name = `${WORDS[rng.int(WORDS.length)]}${rng.int(20)}.${WORDS[rng.int(WORDS.length)]}-${i}.${TLDS[i % TLDS.length]}`;
      this.names.push(name);
      this.wireNames.push(toWireName(name));
      const cname = rng.chance(CNAME_SHARE) ? `e${rng.int(10000)}.a${rng.int(100)}.cdn-edge.example.net` : null;
      this.cnameWireNames.push(cname === null ? null : toWireName(cname));
    }
    // SLAAC-style random interface identifiers for IPv6 clients: two words per client.
    this.clientV6Words = new Uint32Array(clientCount * 2);
    for (let i = 0; i < this.clientV6Words.length; i++) this.clientV6Words[i] = rng.u32();
  }

  server(index: number, v6: boolean, out: Address): void {
    if (v6) {
      out.hi = V6_SERVER_SUBNET;
      out.mid = 0;
      out.lo = index + 1;
    } else {
      out.hi = 0;
      out.mid = 0;
      out.lo = (V4_SERVER_BASE + index) >>> 0;
    }
  }

  client(index: number, v6: boolean, out: Address): void {
    if (v6) {
      out.hi = V6_CLIENT_SUBNET_BASE + (index & 15);
      out.mid = this.clientV6Words[index * 2]!;
      out.lo = this.clientV6Words[index * 2 + 1]!;
    } else {
      out.hi = 0;
      out.mid = 0;
      out.lo = (V4_CLIENT_BASE + index) >>> 0;
    }
  }

  resolver(which: number, v6: boolean, out: Address): void {
    if (v6) {
      out.hi = V6_RESOLVER_SUBNET;
      out.mid = 0;
      out.lo = 0x53 + (which & 1);
    } else {
      out.hi = 0;
      out.mid = 0;
      out.lo = V4_RESOLVERS[which & 1]!;
    }
  }
}

/**
 * Ports in the Linux ephemeral range (32768..60999) that Wireshark 4.0 binds a dissector to. Real clients use
 * them too, but then tshark decodes bulk bytes as, say, EtherCAT and calls them malformed, and the capture is
 * checked with tshark: so clients here skip them.
 */
const DISSECTOR_PORTS = new Set([
  34962, 34980, 37008, 41170, 44321, 44322, 44818, 45564, 47000, 47808, 48049, 48898, 49999, 54328, 56000, 56001,
  56500, 56501, 57000, 57001, 57032, 57033, 57500, 57501, 57532, 57533, 59000, 59001, 59032, 59033, 59500, 59501,
  59532, 59533, 60001,
]);

/** A client source port from the Linux ephemeral range. */
export function ephemeralPort(rng: Prng): number {
  for (;;) {
    const port = rng.range(32768, 60999);
    if (!DISSECTOR_PORTS.has(port)) return port;
  }
}

function toWireName(name: string): Buffer {
  const labels = name.split('.');
  const out = Buffer.alloc(name.length + 2);
  let p = 0;
  for (const label of labels) {
    out[p++] = label.length;
    p += out.write(label, p, 'latin1');
  }
  out[p] = 0;
  return out;
}
