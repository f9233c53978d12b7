/**
 * Synthetic capture for the engine benchmark: a classic pcap (Ethernet, microseconds) of millions of packets
 * over a million or more flows, deterministic from a seed.
 *
 * Flows start as a Poisson process; each gets a script of packets (flow-script.ts) and an event heap releases
 * packets in global time order, so tens of thousands of flows are active at once and timestamps never go back.
 * See traffic-mix.ts for the mix and payload.ts for what the bytes look like.
 *
 * Library use: `generateSyntheticPcap(path, options)` writes a file; `ensureSyntheticPcap(options)` returns a
 * cached file under the temp directory, generating it only when no file for those parameters exists yet.
 * Script use: `node dist/test/bench/synthetic-pcap.js [--out FILE] [--packets N] [--flows N] [--seed N]`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AddressPlan, ephemeralPort, type Address } from './synthetic/address-plan.js';
import { EventHeap } from './synthetic/event-heap.js';
import {
  buildDns,
  buildIcmpEcho,
  buildRtp,
  buildTcpEstablished,
  buildTcpFailed,
  buildUdpBulk,
  drawPathTiming,
  PayloadKind,
  ScriptBuilder,
  TCP_MIN_FIN_FLOW,
  TCP_MIN_RST_FLOW,
} from './synthetic/flow-script.js';
import { FlowKind, FlowTable } from './synthetic/flow-table.js';
import { PacketEmitter } from './synthetic/packet-emitter.js';
import {
  DNS_RCODE_NXDOMAIN,
  DNS_TYPE_A,
  DNS_TYPE_AAAA,
  dnsQueryLength,
  dnsResponseLength,
  HTTP_PATHS,
  httpGetLength,
  PayloadPattern,
  RTP_PAYLOAD_BYTES,
  TLS_CLIENT_HELLO_BYTES,
} from './synthetic/payload.js';
import { PcapWriter } from './synthetic/pcap-writer.js';
import { Prng } from './synthetic/prng.js';
import { chooseFlowType, FlowSizer, FlowType, MIX } from './synthetic/traffic-mix.js';

/** Bump when the output for the same options changes, so cached files from older generators are not reused. */
export const GENERATOR_VERSION = 2;

export interface SyntheticOptions {
  /** Minimum number of packets (the total lands on or just above it). Default 5,000,000. */
  packets?: number;
  /** Exact number of flows. Default 1,000,000. */
  flows?: number;
  seed?: number;
  /** Simulated packet rate: sets how fast flows arrive, hence how many overlap. Default 300,000 packets/s. */
  packetsPerSecond?: number;
}

export interface SyntheticResult {
  path: string;
  generatorVersion: number;
  packets: number;
  flows: number;
  bytes: number;
  fileBytes: number;
  seed: number;
  /** Capture time span (last minus first timestamp). */
  simulatedSeconds: number;
  /** Most flows active at the same time. */
  peakConcurrentFlows: number;
  share: { tcp: number; udp: number; icmp: number; ipv6: number; vlan: number };
  /** Frame sizes in IMIX classes (< 128, 128..1023, >= 1024 bytes): IMIX is 7:4:1. */
  sizeClasses: { small: number; medium: number; large: number };
  flowsByType: Record<string, number>;
  /** Wall time of the generation (0 when served from the cache). */
  generationSeconds: number;
  cached: boolean;
}

export const SYNTHETIC_DEFAULTS = { packets: 5_000_000, flows: 1_000_000, seed: 1, packetsPerSecond: 300_000 } as const;

const VLAN_IDS = [10, 20, 100, 200];
// Ports whose dissectors take opaque bytes calmly (TLS, HTTP): SSH, say, would call random bytes malformed.
const OTHER_TCP_PORTS = [853, 993, 8080, 8443];
const FLOW_TYPE_NAMES = ['dns', 'icmp', 'rtp', 'udpBulk', 'tcpFailed', 'tcpEstablished'];

/** Writes a synthetic capture to `path` and returns what it contains. */
export async function generateSyntheticPcap(path: string, options: SyntheticOptions = {}): Promise<SyntheticResult> {
  const targetPackets = options.packets ?? SYNTHETIC_DEFAULTS.packets;
  const targetFlows = options.flows ?? SYNTHETIC_DEFAULTS.flows;
  const seed = options.seed ?? SYNTHETIC_DEFAULTS.seed;
  const pps = options.packetsPerSecond ?? SYNTHETIC_DEFAULTS.packetsPerSecond;
  if (!(targetFlows >= 1 && targetPackets >= targetFlows)) {
    throw new RangeError(`need 1 <= flows <= packets (got ${targetFlows} flows, ${targetPackets} packets)`);
  }
  const started = process.hrtime.bigint();

  const rng = new Prng(seed);
  const plan = new AddressPlan(seed);
  const pattern = new PayloadPattern(seed);
  const table = new FlowTable();
  const heap = new EventHeap();
  const writer = new PcapWriter(path);
  const emitter = new PacketEmitter(writer, table, plan, pattern);
  const sizer = new FlowSizer(targetPackets, targetFlows);
  const script = new ScriptBuilder();
  const flowsByType = new Array<number>(FLOW_TYPE_NAMES.length).fill(0);
  const client: Address = { hi: 0, mid: 0, lo: 0 };
  const server: Address = { hi: 0, mid: 0, lo: 0 };

  /** Picks a flow, fills its slot and plans its packets. */
  const openFlow = (): number => {
    let type = chooseFlowType(rng);
    // The last flow takes the rest of the packet budget, so the total never falls short of the target.
    const fillRest = sizer.isLastFlow && sizer.remainingPackets >= TCP_MIN_FIN_FLOW;
    if (fillRest) type = FlowType.TcpEstablished;
    flowsByType[type]!++;
    const slot = table.alloc();
    const v6 = rng.chance(MIX.ipv6Flows);
    table.v6[slot] = v6 ? 1 : 0;
    table.vlan[slot] = rng.chance(MIX.vlanFlows) ? VLAN_IDS[rng.int(VLAN_IDS.length)]! : 0;
    plan.client(rng.int(plan.clientCount), v6, client);
    const serverIdx = rng.zipf(plan.serverCount);
    table.nameIdx[slot] = serverIdx;
    if (type === FlowType.Dns) plan.resolver(rng.int(2), v6, server);
    else plan.server(serverIdx, v6, server);
    table.cHi[slot] = client.hi;
    table.cMid[slot] = client.mid;
    table.cLo[slot] = client.lo;
    table.sHi[slot] = server.hi;
    table.sMid[slot] = server.mid;
    table.sLo[slot] = server.lo;
    table.cPort[slot] = ephemeralPort(rng);
    table.cNxt[slot] = 0;
    table.sNxt[slot] = 0;
    table.cIpId[slot] = rng.int(65536);
    table.sIpId[slot] = rng.int(65536);
    table.cTtl[slot] = rng.chance(0.3) ? 128 : 64;
    table.sTtl[slot] = rng.range(48, 60);
    table.flowLabel[slot] = rng.int(1 << 20);
    table.aux[slot] = 0;
    table.aux2[slot] = 0;

    script.reset();
    const timing = drawPathTiming(rng);
    switch (type) {
      case FlowType.Dns: {
        table.kind[slot] = FlowKind.Udp;
        table.sPort[slot] = 53;
        const qtype = rng.chance(0.6) ? DNS_TYPE_A : DNS_TYPE_AAAA;
        const nx = rng.chance(MIX.dnsNxdomain);
        const answers = nx ? 0 : rng.range(1, 3);
        table.aux[slot] = rng.int(65536) | (qtype << 16);
        table.aux2[slot] = answers | ((nx ? DNS_RCODE_NXDOMAIN : 0) << 8);
        const wire = plan.wireNames[serverIdx]!;
        buildDns(
          script,
          rng,
          dnsQueryLength(wire),
          dnsResponseLength(wire, qtype, answers, plan.cnameWireNames[serverIdx]!),
          !rng.chance(MIX.dnsUnanswered),
        );
        break;
      }
      case FlowType.Icmp:
        table.kind[slot] = FlowKind.Icmp;
        table.aux[slot] = rng.int(65536); // echo identifier
        table.cNxt[slot] = rng.int(1000); // echo sequence base
        buildIcmpEcho(script, rng.range(1, 4), timing);
        break;
      case FlowType.Rtp:
        table.kind[slot] = FlowKind.Udp;
        // RTP uses even ports; 28000..29998 has no port-registered dissector in Wireshark, so it stays opaque
        // there (RTP over UDP is only decoded on request) instead of being misread as some game protocol.
        table.cPort[slot] = 2 * rng.range(14000, 14999);
        table.sPort[slot] = 2 * rng.range(14000, 14999);
        table.aux[slot] = rng.u32(); // SSRC
        table.aux2[slot] = rng.int(65536); // first sequence number
        buildRtp(script, rng, Math.max(2, 12 + sizer.extraPackets(rng)), RTP_PAYLOAD_BYTES);
        break;
      case FlowType.UdpBulk:
        table.kind[slot] = FlowKind.Udp;
        table.sPort[slot] = rng.range(40000, 40999);
        buildUdpBulk(script, rng, Math.max(2, 12 + sizer.extraPackets(rng)), timing);
        break;
      case FlowType.TcpFailed: {
        table.kind[slot] = FlowKind.Tcp;
        chooseTcpService(slot);
        table.cNxt[slot] = rng.u32();
        const refused = rng.chance(MIX.tcpRefusedShareOfFailed);
        buildTcpFailed(script, rng, refused, timing); // the RST of a refused SYN carries seq 0: sNxt stays 0
        break;
      }
      case FlowType.TcpEstablished: {
        table.kind[slot] = FlowKind.Tcp;
        const [firstKind, firstLength] = chooseTcpService(slot);
        table.cNxt[slot] = rng.u32(); // initial sequence numbers
        table.sNxt[slot] = rng.u32();
        const packets = fillRest
          ? sizer.remainingPackets
          : (rng.chance(0.8) ? TCP_MIN_FIN_FLOW : TCP_MIN_RST_FLOW) + sizer.extraPackets(rng);
        buildTcpEstablished(script, rng, {
          packets,
          mss: v6 ? 1440 : 1460,
          firstRequestKind: firstKind,
          firstRequestLength: firstLength,
          timing,
        });
        break;
      }
    }
    sizer.record(script.packets);
    table.scripts[slot] = script.finish();
    table.pos[slot] = 0;
    return slot;
  };

  /** Server port and what the client says first: TLS on 443, HTTP on 80, opaque bytes on the rest. */
  const chooseTcpService = (slot: number): [PayloadKind, number] => {
    const r = rng.float();
    if (r < 0.75) {
      table.sPort[slot] = 443;
      return [PayloadKind.TlsClientHello, TLS_CLIENT_HELLO_BYTES];
    }
    if (r < 0.9) {
      table.sPort[slot] = 80;
      const pathIdx = rng.int(HTTP_PATHS.length);
      table.aux[slot] = pathIdx;
      return [PayloadKind.HttpGet, httpGetLength(plan.names[table.nameIdx[slot]!]!, HTTP_PATHS[pathIdx]!)];
    }
    table.sPort[slot] = OTHER_TCP_PORTS[rng.int(OTHER_TCP_PORTS.length)]!;
    return [PayloadKind.Pattern, rng.range(40, 400)];
  };

  // Flows arrive at the rate that, at the planned mean packets per flow, gives `pps` packets per second.
  const meanArrivalGapUs = (1e6 * targetPackets) / (targetFlows * pps);
  let nextArrival = 0;
  let opened = 0;
  let lastTime = 0;
  while (opened < targetFlows || heap.size > 0) {
    if (opened < targetFlows && (heap.size === 0 || nextArrival <= heap.peekTime())) {
      heap.push(nextArrival, openFlow());
      opened++;
      nextArrival += rng.exp(meanArrivalGapUs);
      continue;
    }
    if (writer.needsRotate) await writer.rotate();
    const time = heap.peekTime();
    const slot = heap.peekSlot();
    const flowScript = table.scripts[slot]!;
    const i = table.pos[slot]!;
    emitter.emit(slot, flowScript[i]!, time);
    lastTime = time;
    if (i + 2 < flowScript.length) {
      table.pos[slot] = i + 2;
      heap.replaceTop(time + flowScript[i + 1]!, slot);
    } else {
      heap.pop();
      table.free(slot);
    }
  }
  await writer.close();

  const s = emitter.stats;
  const byType: Record<string, number> = {};
  FLOW_TYPE_NAMES.forEach((name, i) => (byType[name] = flowsByType[i]!));
  return {
    path,
    generatorVersion: GENERATOR_VERSION,
    packets: s.packets,
    flows: opened,
    bytes: s.bytes,
    fileBytes: writer.bytesWritten,
    seed,
    simulatedSeconds: lastTime / 1e6,
    peakConcurrentFlows: table.peakActive,
    share: {
      tcp: s.tcpPackets / s.packets,
      udp: s.udpPackets / s.packets,
      icmp: s.icmpPackets / s.packets,
      ipv6: s.ipv6Packets / s.packets,
      vlan: s.vlanPackets / s.packets,
    },
    sizeClasses: { small: s.small, medium: s.medium, large: s.large },
    flowsByType: byType,
    generationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    cached: false,
  };
}

/** Benchmark scratch space: a temp directory, never the repository. */
export function benchCacheDir(): string {
  return join(tmpdir(), 'offpath-bench');
}

/** Where cached synthetic captures live. */
export function syntheticCacheDir(): string {
  return join(benchCacheDir(), 'synthetic');
}

/**
 * Returns a capture for these options, generating it only if the cache has none. The file is written under a
 * temporary name and renamed when complete, so an interrupted run never leaves a truncated file to be reused.
 */
export async function ensureSyntheticPcap(
  options: SyntheticOptions = {},
  cacheDir = syntheticCacheDir(),
): Promise<SyntheticResult> {
  const o = { ...SYNTHETIC_DEFAULTS, ...options };
  const key = `synthetic-v${GENERATOR_VERSION}-p${o.packets}-f${o.flows}-s${o.seed}-r${o.packetsPerSecond}`;
  const path = join(cacheDir, `${key}.pcap`);
  const metaPath = join(cacheDir, `${key}.json`);
  if (existsSync(path) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as SyntheticResult;
      return { ...meta, path, cached: true, generationSeconds: 0 };
    } catch {
      // unreadable metadata: regenerate below
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  try {
    const result = await generateSyntheticPcap(partial, o);
    renameSync(partial, path);
    const final = { ...result, path };
    writeFileSync(metaPath, JSON.stringify(final, null, 2));
    return final;
  } finally {
    rmSync(partial, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<void> {
  const options: SyntheticOptions = {};
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const count = (): number => {
      const v = value();
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${arg}: not a positive integer: ${v}`);
      return n;
    };
    if (arg === '--out') out = value();
    else if (arg === '--packets') options.packets = count();
    else if (arg === '--flows') options.flows = count();
    else if (arg === '--seed') options.seed = count();
    else if (arg === '--pps') options.packetsPerSecond = count();
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'usage: synthetic-pcap.js [--out FILE] [--packets N] [--flows N] [--seed N] [--pps N]\n' +
          'Without --out the capture goes to the benchmark cache in the temp directory (reused if present).\n',
      );
      return;
    } else throw new Error(`unknown option ${arg}`);
  }
  const result = out ? await generateSyntheticPcap(out, options) : await ensureSyntheticPcap(options);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`synthetic-pcap: ${(err as Error).message}\n`);
    process.exitCode = 2;
  });
}
