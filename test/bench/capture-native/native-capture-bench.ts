/**
 * Native capture figures (not part of `npm run bench`; the lead integrates the full capture benchmark):
 *
 * - throughput: packets/s delivered to a no-op JavaScript handler, per mode, while tcpreplay --topspeed pushes a
 *   synthetic capture through a veth pair between two namespaces;
 * - latency: kernel receive timestamp → handler call (CLOCK_REALTIME on both sides), at a low rate
 *   (tcpreplay --pps), per mode.
 *
 * Run as root after `npx tsc -p tsconfig.json`:
 *   node dist/test/bench/capture-native/native-capture-bench.js [--packets N] [--latency-packets N] [--pps N]
 *        [--only throughput|latency] [--sender tcpreplay|blast|both]
 * Senders: tcpreplay --topspeed (one frame per system call), or native-bindings/bench/blast.mjs (the addon's
 * sendmmsg injector, 1024 frames per call), which pushes frames faster on this kind of machine.
 * Prints readable tables on stderr and one JSON object on stdout.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NativeCapture, type NativeCaptureOptions } from '../../../src/capture/live/native-capture.js';
import { loadNativeAddon, nativeAddonPath } from '../../../src/capture/live/native-addon.js';
import { createVethPair, type VethPair } from '../../support/veth-pair.js';

interface Mode {
  readonly name: string;
  readonly options: Partial<NativeCaptureOptions> & Pick<NativeCaptureOptions, 'mode'>;
}

const THROUGHPUT_MODES: Mode[] = [
  { name: 'pcap', options: { mode: 'pcap' } },
  { name: 'tpacket-v2', options: { mode: 'tpacket', tpacketVersion: 2 } },
  { name: 'tpacket-v3 (256K blocks, 1ms)', options: { mode: 'tpacket', tpacketVersion: 3, blockBytes: 256 << 10, blockTimeoutMs: 1 } },
  { name: 'tpacket-v3 (1M blocks, 8ms)', options: { mode: 'tpacket', tpacketVersion: 3, blockBytes: 1 << 20, blockTimeoutMs: 8 } },
];

const LATENCY_MODES: Mode[] = [
  { name: 'pcap', options: { mode: 'pcap' } },
  { name: 'tpacket-v2', options: { mode: 'tpacket', tpacketVersion: 2 } },
  { name: 'tpacket-v3 1ms', options: { mode: 'tpacket', tpacketVersion: 3, blockTimeoutMs: 1 } },
  { name: 'tpacket-v3 4ms', options: { mode: 'tpacket', tpacketVersion: 3, blockTimeoutMs: 4 } },
  { name: 'tpacket-v3 kernel default', options: { mode: 'tpacket', tpacketVersion: 3, blockTimeoutMs: 0 } },
];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;

/** A classic pcap of `count` Ethernet/IPv4/UDP frames of `size` bytes over `flows` flows (198.18.0.0/15). */
function writeCapture(path: string, count: number, size: number, flows: number): void {
  const record = 16 + size;
  const out = Buffer.alloc(24 + count * record);
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  for (let i = 0; i < count; i++) {
    const o = 24 + i * record;
    out.writeUInt32LE(1_700_000_000 + Math.floor(i / 1_000_000), o);
    out.writeUInt32LE(i % 1_000_000, o + 4);
    out.writeUInt32LE(size, o + 8);
    out.writeUInt32LE(size, o + 12);
    const f = o + 16;
    out.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], f);
    const flow = i % flows;
    const ip = f + 14;
    out.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, flow >> 8, flow & 0xff, 198, 19, 0, 1], ip);
    out.writeUInt16BE(size - 14, ip + 2);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += out.readUInt16BE(ip + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    out.writeUInt16BE(~sum & 0xffff, ip + 10);
    const udp = ip + 20;
    out.writeUInt16BE(10000 + flow, udp);
    out.writeUInt16BE(53, udp + 2);
    out.writeUInt16BE(size - 34, udp + 4);
  }
  writeFileSync(path, out);
}

const senderIndex = process.argv.indexOf('--sender');
const senderChoice = senderIndex >= 0 ? process.argv[senderIndex + 1]! : 'both';

/** Runs native-bindings/bench/blast.mjs in its own process; resolves with its "pps" as text. */
function blast(pair: VethPair, count: number, size: number): Promise<string> {
  const script = join(dirname(dirname(dirname(dirname(nativeAddonPath())))), 'native-bindings', 'bench', 'blast.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, pair.a.netns, pair.a.iface, String(count), String(size), '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`blast exited ${code}: ${out}`));
      resolve(String((JSON.parse(out) as { packetsPerSecond: number }).packetsPerSecond));
    });
  });
}

function tcpreplay(pair: VethPair, file: string, rate: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', pair.a.ns, 'tcpreplay', ...rate, '-i', pair.a.iface, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`tcpreplay exited ${code}: ${out}`))));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function open(pair: VethPair, mode: Mode): NativeCapture {
  return new NativeCapture({
    iface: pair.b.iface,
    netns: pair.b.netns,
    filter: '',
    snapLength: 2048,
    bufferBytes: 32 << 20,
    promiscuous: true,
    ...mode.options,
  });
}

interface ThroughputResult {
  mode: string;
  sender: string;
  frameBytes: number;
  sent: number;
  received: number;
  kernelDropped: number;
  seconds: number;
  packetsPerSecond: number;
  /** CPU time of this process (user + system, all threads) per packet received: the capture's real cost. */
  cpuNsPerPacket: number;
  /** Packets/s the sender reported. */
  senderRate: string;
}

async function throughput(pair: VethPair, file: string, mode: Mode, sent: number, frameBytes: number, sender: string): Promise<ThroughputResult> {
  const capture = open(pair, mode);
  let received = 0;
  let first = 0n;
  let last = 0n;
  capture.start(() => {
    if (received++ === 0) first = process.hrtime.bigint();
  });
  // When the count last moved, to a millisecond (a clock read per packet would cost more than the handler).
  let seen = 0;
  const watcher = setInterval(() => {
    if (received !== seen) {
      seen = received;
      last = process.hrtime.bigint();
    }
  }, 1);
  const cpuBefore = process.cpuUsage();
  try {
    const rate =
      sender === 'blast'
        ? await blast(pair, sent, frameBytes)
        : (/Rated: [^\n]*?([\d.]+) pps/.exec(await tcpreplay(pair, file, ['--topspeed']))?.[1] ?? '?');
    let stable = 0;
    let previous = -1;
    while (stable < 20) {
      await sleep(10);
      stable = received === previous ? stable + 1 : 0;
      previous = received;
    }
    const cpu = process.cpuUsage(cpuBefore);
    const stats = capture.stats();
    const seconds = Number(last - first) / 1e9;
    return {
      mode: mode.name,
      sender,
      frameBytes,
      sent,
      received: stats.received,
      kernelDropped: stats.kernelDropped ?? 0, // native backends always count
      seconds: Number(seconds.toFixed(3)),
      packetsPerSecond: Math.round(stats.received / seconds),
      cpuNsPerPacket: Math.round(((cpu.user + cpu.system) * 1000) / Math.max(1, stats.received)),
      senderRate: rate,
    };
  } finally {
    clearInterval(watcher);
    capture.close();
  }
}

interface LatencyResult {
  mode: string;
  packets: number;
  p50us: number;
  p90us: number;
  p99us: number;
  maxUs: number;
}

async function latency(pair: VethPair, file: string, mode: Mode, pps: number): Promise<LatencyResult> {
  const addon = loadNativeAddon();
  const capture = open(pair, mode);
  const delays: number[] = [];
  capture.start((_d, _o, _c, _w, tsSec, tsNsec) => {
    const now = addon.realtimeNs();
    delays.push(Number(now - (BigInt(tsSec) * 1_000_000_000n + BigInt(tsNsec))) / 1000);
  });
  try {
    await tcpreplay(pair, file, [`--pps=${pps}`]);
    await sleep(300);
    delays.sort((a, b) => a - b);
    const q = (p: number): number => Number(delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]!.toFixed(1));
    return { mode: mode.name, packets: delays.length, p50us: q(0.5), p90us: q(0.9), p99us: q(0.99), maxUs: q(1) };
  } finally {
    capture.close();
  }
}

async function main(): Promise<void> {
  const packets = arg('--packets', 500_000);
  const latencyPackets = arg('--latency-packets', 2000);
  const pps = arg('--pps', 1000);
  const dir = mkdtempSync(join(tmpdir(), 'offpath-native-bench-'));
  const pair = createVethPair();
  const result: { throughput: ThroughputResult[]; latency: LatencyResult[]; libpcap: string } = {
    throughput: [],
    latency: [],
    libpcap: loadNativeAddon().libpcapVersion,
  };
  try {
    if (only === undefined || only === 'throughput') {
      const senders = senderChoice === 'both' ? ['tcpreplay', 'blast'] : [senderChoice];
      for (const size of [64, 512]) {
        const file = join(dir, `udp-${size}.pcap`);
        writeCapture(file, packets, size, 1000);
        for (const sender of senders) {
          for (const mode of THROUGHPUT_MODES) {
            const r = await throughput(pair, file, mode, packets, size, sender);
            result.throughput.push(r);
            process.stderr.write(
              `throughput ${r.mode.padEnd(30)} ${String(size).padStart(4)} B ${sender.padEnd(9)}: ${String(r.packetsPerSecond).padStart(9)} pkt/s delivered, ` +
                `${r.cpuNsPerPacket} ns CPU/pkt, ${r.received}/${r.sent} received, ${r.kernelDropped} kernel drops (sender ${r.senderRate} pps)\n`,
            );
          }
        }
      }
    }
    if (only === undefined || only === 'latency') {
      const file = join(dir, 'udp-latency.pcap');
      writeCapture(file, latencyPackets, 64, 10);
      for (const mode of LATENCY_MODES) {
        const r = await latency(pair, file, mode, pps);
        result.latency.push(r);
        process.stderr.write(
          `latency ${r.mode.padEnd(28)} @${pps} pps: p50 ${r.p50us} us, p90 ${r.p90us} us, p99 ${r.p99us} us, max ${r.maxUs} us (${r.packets} packets)\n`,
        );
      }
    }
  } finally {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
