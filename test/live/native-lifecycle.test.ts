import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NativeCapture, type NativeCaptureOptions } from '../../src/capture/live/native-capture.js';
import { NativeFrameInjector, NativeRawIpInjector } from '../../src/capture/live/native-inject.js';
import { LiveCaptureError } from '../../src/capture/live/capture-errors.js';
import { loadNativeAddon, loadNativeAddonFrom, nativeAddonPath } from '../../src/capture/live/native-addon.js';
import { macBytes } from '../../src/capture/live/native-interface.js';
import { ethIpv4Udp, TempDir, u16 } from '../support/packet-builder.js';
import { createVethPair, settle, waitFor, type VethPair } from '../support/veth-pair.js';

/** Opening and closing without leaks, and use from worker threads (the addon is context-aware). */

let pair: VethPair;
let injector: NativeFrameInjector;

beforeAll(() => {
  pair = createVethPair();
  injector = new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns });
});

afterAll(() => {
  injector?.close();
  pair?.destroy();
});

const fdCount = (): number => readdirSync('/proc/self/fd').length;
/** Mappings of packet rings (they show up as socket mappings). */
const socketMappings = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('socket:')).length;

function frame(flow: number, seq: number): Uint8Array {
  const eth = { src: macBytes(pair.a.mac), dst: macBytes(pair.b.mac) };
  return ethIpv4Udp({ src: '198.18.203.1', dst: '198.18.203.2', sport: 30000 + flow, dport: 6100, payload: [...u16(flow), ...u16(seq)], eth });
}

describe('open/close 200 times without leaking descriptors or ring mappings', () => {
  const base: NativeCaptureOptions = {
    mode: 'pcap',
    iface: '',
    filter: 'udp',
    snapLength: 1500,
    bufferBytes: 256 << 10,
    promiscuous: true,
  };
  test.each([
    ['pcap', { mode: 'pcap' }],
    ['tpacket v2', { mode: 'tpacket', tpacketVersion: 2 }],
    ['tpacket v3', { mode: 'tpacket', tpacketVersion: 3, blockBytes: 65536 }],
  ] as const)('%s', (_name, options) => {
    // Warm up once (libpcap and the addon open a few descriptors of their own the first time).
    new NativeCapture({ ...base, ...options, iface: pair.b.iface, netns: pair.b.netns }).close();
    const fds = fdCount();
    const maps = socketMappings();
    for (let i = 0; i < 200; i++) {
      const c = new NativeCapture({ ...base, ...options, iface: pair.b.iface, netns: pair.b.netns });
      if (i % 2 === 0) c.start(() => {});
      c.close();
      c.close();
    }
    expect(fdCount()).toBe(fds);
    expect(socketMappings()).toBe(maps);
  }, 60_000); // closing a packet socket waits for kernel RCU grace periods (synchronize_net): ~40 ms each

  test('injectors', () => {
    const fds = fdCount();
    for (let i = 0; i < 200; i++) {
      new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns }).close();
      new NativeRawIpInjector({ netns: pair.a.netns }).close();
    }
    expect(fdCount()).toBe(fds);
  }, 60_000);

  test('failed opens leak nothing either', () => {
    const fds = fdCount();
    for (let i = 0; i < 50; i++) {
      for (const mode of ['pcap', 'tpacket'] as const) {
        expect(() => new NativeCapture({ ...base, mode, iface: pair.b.iface, netns: pair.b.netns, filter: 'bogus filter' })).toThrow();
        expect(() => new NativeCapture({ ...base, mode, iface: 'offp-missing0', netns: pair.b.netns })).toThrow();
      }
      expect(() => new NativeCapture({ ...base, mode: 'tpacket', iface: pair.b.iface, netns: '/run/netns/offp-no-such-ns' })).toThrow();
    }
    expect(fdCount()).toBe(fds);
  }, 60_000);

  test('the ring view is detached on close, so stale views read nothing', async () => {
    const c = new NativeCapture({ ...base, mode: 'tpacket', tpacketVersion: 2, iface: pair.b.iface, netns: pair.b.netns });
    let kept: Uint8Array | undefined;
    c.start((data) => {
      kept = data;
    });
    const f = frame(1, 1);
    await waitFor(() => {
      injector.send(f, f.length);
      return kept !== undefined;
    }, 'a packet');
    expect(kept!.length).toBeGreaterThan(0);
    c.close();
    expect(kept!.length).toBe(0);
  });
});

/** Worker body (CommonJS, evaluated): loads the addon itself and captures with the raw handle. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addonPath);
const handle = new addon.CaptureHandle(workerData.options);
const seen = [];
handle.start((buffer, meta, count) => {
  for (let i = 0; i < count; i++) {
    const p = meta[i * 5] + 42;
    seen.push((buffer[p] << 8) | buffer[p + 1], (buffer[p + 2] << 8) | buffer[p + 3]);
  }
});
parentPort.on('message', (m) => {
  if (m === 'report') {
    const stats = new Float64Array(3);
    handle.stats(stats);
    handle.close();
    parentPort.postMessage({ seen, received: stats[0], linkType: handle.linkType });
    parentPort.close();
  }
});
parentPort.postMessage('ready');
`;

function startWorker(options: Record<string, unknown>): { worker: Worker; ready: Promise<void> } {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { addonPath: nativeAddonPath(), options } });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    worker.once('error', reject);
  });
  return { worker, ready };
}

function report<T = { seen: number[]; received: number; linkType: number }>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.postMessage('report');
  });
}

describe('worker threads', () => {
  test('two workers in one fanout group capture every packet once, each on its own event loop', async () => {
    loadNativeAddon(); // the main thread has the addon loaded too
    const options = {
      mode: 'tpacket',
      iface: pair.b.iface,
      netns: pair.b.netns,
      filter: 'udp dst port 6100',
      snapLength: 256,
      bufferBytes: 2 << 20,
      promiscuous: true,
      ignoreOutgoing: false,
      batchPackets: 64,
      tpacketVersion: 3,
      blockBytes: 65536,
      fanoutGroup: (process.pid * 5 + 1) & 0xffff,
    };
    const workers = [startWorker(options), startWorker(options)];
    try {
      await Promise.all(workers.map((w) => w.ready));
      const flows = 32;
      for (let seq = 0; seq < 4; seq++) {
        for (let flow = 0; flow < flows; flow++) {
          const f = frame(flow, seq);
          expect(injector.send(f, f.length)).toBe(true);
        }
        await settle(10);
      }
      await settle(300);
      const results = await Promise.all(workers.map((w) => report(w.worker)));
      const all = new Set<string>();
      const owner = new Map<number, number>();
      results.forEach((r, i) => {
        expect(r.linkType).toBe(1);
        expect(r.received).toBe(r.seen.length / 2);
        for (let k = 0; k < r.seen.length; k += 2) {
          const key = `${r.seen[k]}/${r.seen[k + 1]}`;
          expect(all.has(key)).toBe(false);
          all.add(key);
          expect(owner.get(r.seen[k]!) ?? i).toBe(i);
          owner.set(r.seen[k]!, i);
        }
      });
      expect(all.size).toBe(flows * 4);
      expect(results.every((r) => r.received > 0)).toBe(true);
    } finally {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    }
  });

  test('a worker terminated with its capture still open releases the socket and the ring', async () => {
    const fds = fdCount();
    const maps = socketMappings();
    for (let i = 0; i < 5; i++) {
      const { worker, ready } = startWorker({
        mode: i % 2 === 0 ? 'tpacket' : 'pcap',
        iface: pair.b.iface,
        netns: pair.b.netns,
        filter: '',
        snapLength: 256,
        bufferBytes: 1 << 20,
        promiscuous: true,
        ignoreOutgoing: false,
        batchPackets: 64,
      });
      await ready;
      const f = frame(99, i);
      injector.send(f, f.length);
      await settle(20);
      expect(await worker.terminate()).toBe(1);
    }
    await waitFor(() => fdCount() === fds && socketMappings() === maps, 'descriptors and mappings to be released');
  });
});

const THROWING_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addonPath);
let thrown = 0;
let seen = 0;
process.on('uncaughtException', (err) => {
  if (err && err.message === 'handler bug') thrown++;
  else throw err;
});
const handle = new addon.CaptureHandle(workerData.options);
handle.start((buffer, meta, count) => {
  seen += count;
  if (thrown === 0) throw new Error('handler bug');
});
parentPort.on('message', () => {
  handle.close();
  parentPort.postMessage({ thrown, seen });
  parentPort.close();
});
parentPort.postMessage('ready');
`;

test('an exception in the batch callback reaches uncaughtException, and capture goes on', async () => {
  const worker = new Worker(THROWING_WORKER_SOURCE, {
    eval: true,
    workerData: {
      addonPath: nativeAddonPath(),
      options: { mode: 'tpacket', tpacketVersion: 2, iface: pair.b.iface, netns: pair.b.netns, filter: 'udp dst port 6100', snapLength: 256, bufferBytes: 64 << 10, promiscuous: true, ignoreOutgoing: false, batchPackets: 4 },
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    // More frames than the ring has slots: they only all arrive if the frames of the failed batch went back.
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 20; i++) {
        const f = frame(7, burst * 20 + i);
        injector.send(f, f.length);
      }
      await settle(20);
    }
    await settle(200);
    const result = await report<{ thrown: number; seen: number }>(worker);
    expect(result).toEqual({ thrown: 1, seen: 400 });
  } finally {
    await worker.terminate();
  }
});

describe('loader', () => {
  test('a missing or broken addon is backend_unavailable, naming the path and the cause', () => {
    const problemOf = (path: string): [string, string] => {
      try {
        loadNativeAddonFrom(path);
      } catch (err) {
        expect(err).toBeInstanceOf(LiveCaptureError);
        return [(err as LiveCaptureError).problem, (err as Error).message];
      }
      return ['loaded', ''];
    };
    const missing = '/nonexistent/offpath_native.node';
    const [p1, m1] = problemOf(missing);
    expect(p1).toBe('backend_unavailable');
    expect(m1).toContain(missing);
    expect(m1).toMatch(/npm rebuild|--backend cap/);
    const dir = new TempDir();
    try {
      const broken = dir.write(Buffer.from('not a shared object'), 'offpath_native.node');
      const [p2, m2] = problemOf(broken);
      expect(p2).toBe('backend_unavailable');
      expect(m2).toContain(broken);
      expect(m2).toMatch(/invalid ELF header|too short/);
    } finally {
      dir.remove();
    }
    expect(problemOf(nativeAddonPath())[0]).toBe('loaded');
  });
});
