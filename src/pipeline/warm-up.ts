import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { FrameInjector, LiveCapture, LivePacketHandler } from '../capture/live/live-capture.js';
import { IntelSet } from '../intel/intel-set.js';
import { SensorMetrics } from '../metrics/sensor-metrics.js';
import { put16, put32 } from '../respond/frame-header.js';
import type { Sensor, SensorOptions } from './sensor.js';

const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const RST = 0x04;
/** MSS 1460, SACK permitted, timestamps, window scale 7: what a Linux SYN carries. */
const SYN_OPTIONS = [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const TS_OPTIONS = [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1];

/**
 * Runs the blocking path — decode, session, match, decide, plan, craft, inject, verify, report — a few thousand
 * times, before the first real packet, through a throwaway sensor built by the same code as the real one (same
 * classes, same object shapes), fed realistic made-up connections (Linux SYN options, 32-bit sequence numbers,
 * payload, IPv4 and IPv6, frames in both kinds of buffer the backends hand over) and injecting into a discard.
 *
 * Why: V8 compiles a function only after it has run often enough, and throws the compiled code away when it meets
 * an object shape or a number range it has not seen. A sensor that blocks a few connections a second would run
 * them through interpreted code (measured: 100–800 µs of CPU per packet instead of a few µs) and lose the race
 * against the first byte. Shares no state with the real sensor, sends nothing.
 */
export async function warmUpSensor(makeSensor: (options: SensorOptions) => Sensor, template: SensorOptions, connections = 3000): Promise<{ frames: number; seconds: number }> {
  const started = performance.now();
  const intel = new IntelSet();
  intel.upsert({ indicator: '192.0.2.0/24', source: 'warm-up' });
  intel.upsert({ indicator: '2001:db8::/32', source: 'warm-up' });
  intel.upsert({ indicator: '192.0.2.9', source: 'warm-up' });
  intel.upsert({ indicator: '2001:db8::9', source: 'warm-up', action: 'monitor' });
  intel.upsert({ indicator: '198.51.100.7', source: 'warm-up', action: 'allow' });
  let handler: LivePacketHandler | null = null;
  const capture: LiveCapture = {
    backend: 'warm-up', linkType: 1,
    start: (h) => { handler = h; },
    stats: () => ({ received: 0, kernelDropped: 0, interfaceDropped: 0 }),
    close: () => {},
  };
  const discard: FrameInjector = { name: 'discard', send: () => true, sendBatch: (_b, _o, _l, n) => n, close: () => {} };
  const unlimited = 1e12;
  const sensor = makeSensor({
    ...template,
    intel,
    guards: { ...template.guards, monitor: false, circuitBreaker: null, globalRate: unlimited, globalBurst: unlimited, targetRate: unlimited, targetBurst: unlimited },
    table: { ...template.table, capacity: 16384 },
    log: pino({ level: 'silent' }),
    metrics: new SensorMetrics(new Registry(), { processMetrics: false }),
    devices: { capture, l2: discard, l3: null, ownMac: Uint8Array.of(2, 0, 0, 0, 0, 1) },
    busyPoll: false,
    realtimePriority: undefined,
  });
  await sensor.start();
  const onHeap = new Uint8Array(256);
  const offHeap = new Uint8Array(new ArrayBuffer(1 << 16), 4096, 256);
  const buffer = Buffer.alloc(256);
  let frames = 0;
  let seed = 0x9e3779b9;
  const random32 = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  for (let i = 0; i < connections; i++) {
    const v6 = (i & 3) === 3;
    // Mostly blocked servers (the race to win), some that match nothing (most real traffic), some exact entries.
    const server = i % 5 === 4 ? 0xc6336407 : i % 7 === 6 ? 0xc0000209 : 0xc0000201;
    const out = i % 3 === 0 ? onHeap : i % 3 === 1 ? offHeap : buffer;
    const client = (0x64400000 + i) >>> 0; // 100.64.0.0/10, each new: no hold-down shortcut
    const port = 20000 + (i % 40000);
    const c = random32();
    const s = random32();
    const now = Date.now() / 1000 + i * 1e-6;
    const feed = (fromClient: boolean, flags: number, seq: number, ack: number, options: number[], payload: number): void => {
      const length = writeFrame(out, v6, client, server, port, fromClient, flags, seq, ack, options, payload);
      const sec = Math.floor(now);
      handler!(out, 0, length, length, sec, Math.round((now - sec) * 1e9));
      frames++;
    };
    feed(true, SYN, c, 0, SYN_OPTIONS, 0);
    feed(false, SYN | ACK, s, c + 1, SYN_OPTIONS, 0);
    feed(true, ACK, c + 1, s + 1, TS_OPTIONS, 0);
    feed(false, PSH | ACK, s + 1, c + 1, TS_OPTIONS, 37);
    feed(true, PSH | ACK, c + 1, s + 38, TS_OPTIONS, 100);
    feed(true, RST, c + 101, 0, [], 0);
  }
  sensor.stop();
  return { frames, seconds: (performance.now() - started) / 1000 };
}

/** An Ethernet frame with IPv4 or IPv6 and TCP (options, zero payload bytes), between a client and a blocked server. */
function writeFrame(out: Uint8Array, v6: boolean, client: number, server: number, port: number, fromClient: boolean, flags: number, seq: number, ack: number, options: number[], payload: number): number {
  out.fill(0, 0, 14);
  out[fromClient ? 5 : 11] = 2; // server MAC 00..02, client MAC 00..03
  out[fromClient ? 11 : 5] = 3;
  out[12] = v6 ? 0x86 : 0x08;
  out[13] = v6 ? 0xdd : 0x00;
  const tcpLength = 20 + options.length;
  let o = 14;
  if (v6) {
    out.fill(0, o, o + 40);
    out[o] = 0x60;
    put16(out, o + 4, tcpLength + payload);
    out[o + 6] = 6;
    out[o + 7] = 64;
    const srcAt = fromClient ? o + 8 : o + 24;
    const dstAt = fromClient ? o + 24 : o + 8;
    put32(out, srcAt, 0x20010002);
    put32(out, srcAt + 12, client);
    put32(out, dstAt, 0x20010db8);
    put32(out, dstAt + 12, server & 0xff);
    o += 40;
  } else {
    out.fill(0, o, o + 20);
    out[o] = 0x45;
    put16(out, o + 2, 20 + tcpLength + payload);
    out[o + 6] = 0x40;
    out[o + 8] = 64;
    out[o + 9] = 6;
    put32(out, fromClient ? o + 12 : o + 16, client);
    put32(out, fromClient ? o + 16 : o + 12, server);
    o += 20;
  }
  put16(out, o, fromClient ? port : 443);
  put16(out, o + 2, fromClient ? 443 : port);
  put32(out, o + 4, seq >>> 0);
  put32(out, o + 8, ack >>> 0);
  out[o + 12] = (tcpLength / 4) << 4;
  out[o + 13] = flags;
  put16(out, o + 14, 502);
  put32(out, o + 16, 0);
  for (let k = 0; k < options.length; k++) out[o + 20 + k] = options[k]!;
  o += tcpLength;
  out.fill(0x41, o, o + payload);
  return o + payload;
}

