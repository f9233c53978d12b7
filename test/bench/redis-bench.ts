/**
 * Redis intel benchmark (standalone script, not a test): snapshot loads and change propagation.
 *
 *   npx tsc -p tsconfig.json && node dist/test/bench/redis-bench.js [--quick] [--sizes 1000000,5000000]
 *
 * Starts its own redis-server (no persistence) on a free loopback port. Prints readable tables on stderr and one
 * JSON object on stdout.
 *
 * - Snapshot load: N synthetic records (test/bench/redis/fill.ts: unique IPv4 addresses and /24s, 8 sources,
 *   40 reasons, 12 tag sets, an expiry on half) are written straight into the schema, then a fresh child process
 *   starts a RedisIntelSync on an empty set: seconds (wall and CPU), peak RSS. The same child then runs a second
 *   full load into the now-populated set (a resync: staging set + reconcile) and reports its time and the longest
 *   event-loop block (the synchronous reconcile, when no packet is matched).
 * - Propagation: a sensor (child process, 100,000 entries loaded) follows while this process writes through
 *   RedisIntelStore: 1,000 single upserts per second for a while (as the API would), then bursts of 50,000
 *   (upsertMany). Lag = application time in the sensor - Redis server time of the write (same host clock).
 * Goals (issue "Redis keeps the intel set"): 1 M loaded in under 5 s; p99 under 50 ms at 1,000 changes/s.
 */
import { fork } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { IntelSet } from '../../src/intel/intel-set.js';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync, type AppliedChange } from '../../src/intel/redis/intel-sync.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { scriptFlags } from './harness/script-flags.js';
import { fillRecords, v4Text } from './redis/fill.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick') || process.env.OFFPATH_BENCH_QUICK === '1';
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const USAGE =
  'usage: node dist/test/bench/redis-bench.js [--quick] [--sizes N[,N...]]\n' +
  '  --quick        smaller sizes and shorter runs (checks that the benchmark works, not for figures)\n' +
  '  --sizes LIST   snapshot sizes to load, comma-separated (default 1000000,5000000; 50000,200000 with --quick)\n' +
  'Starts its own redis-server; one JSON object on stdout, readable tables on stderr.\n';

// ------------------------------------------------------------------------------------------------ children

interface LoadResult {
  entries: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  resyncSeconds: number;
  resyncCpuSeconds: number;
  resyncMaxBlockMs: number;
  peakRssAfterResyncMB: number;
}

/** Child: full load into an empty set, then a second full load into the populated set (resync). */
async function childLoad(url: string, prefix: string): Promise<void> {
  const set = new IntelSet();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const first = new RedisIntelSync({ redis: { url, keyPrefix: prefix, commandTimeoutMs: 60_000 }, set, expire: false });
  await first.start();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  await first.close();
  const blocks = monitorEventLoopDelay({ resolution: 5 });
  blocks.enable();
  const cpu2 = process.cpuUsage();
  const t1 = performance.now();
  const second = new RedisIntelSync({ redis: { url, keyPrefix: prefix, commandTimeoutMs: 60_000 }, set, expire: false });
  await second.start();
  const resyncSeconds = (performance.now() - t1) / 1000;
  const cpu3 = process.cpuUsage(cpu2);
  blocks.disable();
  await second.close();
  const result: LoadResult = {
    entries: set.size,
    seconds,
    cpuSeconds: (cpu1.user + cpu1.system) / 1e6,
    peakRssMB,
    resyncSeconds,
    resyncCpuSeconds: (cpu3.user + cpu3.system) / 1e6,
    resyncMaxBlockMs: blocks.max / 1e6,
    peakRssAfterResyncMB: process.resourceUsage().maxRSS / 1024,
  };
  process.send!(result);
}

/**
 * Child: a sensor that records the lag of every change it applies. "until V" is answered with the lags recorded
 * since the previous answer once version V is applied; "exit" ends it.
 */
async function childFollow(url: string, prefix: string): Promise<void> {
  let lags: number[] = [];
  let target = Infinity;
  const answer = (version: number): void => {
    target = Infinity;
    process.send!({ lags, version });
    lags = [];
  };
  const sync = new RedisIntelSync({
    redis: { url, keyPrefix: prefix },
    set: new IntelSet(),
    expire: false,
    onApplied: (c: AppliedChange) => {
      lags.push(c.appliedMs - c.writtenMs);
      if (c.version >= target) answer(c.version);
    },
  });
  process.on('message', (m: { cmd: string; version?: number }) => {
    if (m.cmd === 'until') {
      target = m.version!;
      if (sync.status().versionApplied >= target) answer(sync.status().versionApplied);
    } else if (m.cmd === 'exit') {
      void sync.close().then(() => process.exit(0));
    }
  });
  await sync.start();
  process.send!({ ready: true, entries: sync.set.size });
}

function spawnChild(mode: string, ...rest: string[]): ReturnType<typeof fork> {
  return fork(fileURLToPath(import.meta.url), ['--child', mode, ...rest], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

function nextMessage<T>(child: ReturnType<typeof fork>): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`child exited with ${code} before answering`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as T);
    });
  });
}

// ------------------------------------------------------------------------------------------------ parts

async function snapshotLoads(server: RedisServer, sizes: number[]): Promise<LoadResult[]> {
  const client = new Redis(server.url);
  const out: LoadResult[] = [];
  try {
    for (const n of sizes) {
      await client.flushall();
      const t = performance.now();
      await fillRecords(client, n);
      const memory = /used_memory:(\d+)/.exec(await client.info('memory'))?.[1];
      log(`  filled ${n.toLocaleString('en-US')} records in ${((performance.now() - t) / 1000).toFixed(1)} s (Redis used_memory ${(Number(memory) / 2 ** 20).toFixed(0)} MiB)`);
      const child = spawnChild('load', server.url, 'offpath:intel');
      const r = await nextMessage<LoadResult>(child);
      child.kill();
      log(`  load ${n.toLocaleString('en-US').padStart(10)}: ${r.seconds.toFixed(2)} s wall, ${r.cpuSeconds.toFixed(2)} s CPU, peak RSS ${r.peakRssMB.toFixed(0)} MiB;` +
        ` resync into the loaded set ${r.resyncSeconds.toFixed(2)} s (longest event-loop block ${r.resyncMaxBlockMs.toFixed(0)} ms), peak RSS ${r.peakRssAfterResyncMB.toFixed(0)} MiB`);
      out.push(r);
    }
    await client.flushall();
  } finally {
    await client.quit();
  }
  return out;
}

interface LagStats {
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function stats(lags: number[]): LagStats {
  const s = [...lags].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { changes: s.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: s[s.length - 1] ?? NaN };
}

async function propagation(server: RedisServer, steadySeconds: number, burstSize: number, bursts: number): Promise<{ base: number; steady: LagStats & { rate: number }; burst: LagStats & { size: number; bursts: number; appliedSeconds: number[] } }> {
  const client = new Redis(server.url);
  const base = QUICK ? 20_000 : 100_000;
  await client.flushall();
  await fillRecords(client, base);
  await client.quit();
  const store = RedisIntelStore.connect({ url: server.url });
  const child = spawnChild('follow', server.url, 'offpath:intel');
  try {
    await nextMessage<{ ready: boolean }>(child);
    // Steady: one upsert per millisecond on average, each its own script call (as API requests are).
    const steadyChanges = Math.round(steadySeconds * 1000);
    const t0 = performance.now();
    let sent = 0;
    let version = 0;
    while (sent < steadyChanges) {
      const due = Math.min(steadyChanges, Math.floor(performance.now() - t0));
      const writes: Promise<void>[] = [];
      for (; sent < due; sent++) {
        const i = sent;
        writes.push(store.upsert({ indicator: v4Text((0xc6130000 + i) >>> 0), source: 'steady', reason: `change ${i}` }, { actor: 'bench' }).then((r) => {
          version = Math.max(version, r.version);
        }));
      }
      await Promise.all(writes);
      await new Promise((r) => setTimeout(r, 1));
    }
    const rate = steadyChanges / ((performance.now() - t0) / 1000);
    child.send({ cmd: 'until', version });
    const steadyResult = await nextMessage<{ lags: number[] }>(child);
    const steady = { ...stats(steadyResult.lags), rate };
    log(`  steady ${rate.toFixed(0)} changes/s for ${steadySeconds} s: lag p50 ${steady.p50Ms} ms, p99 ${steady.p99Ms} ms, max ${steady.maxMs} ms (${steady.changes} changes)`);

    // Bursts: upsertMany as fast as the store writes, a quiet moment between bursts.
    const appliedSeconds: number[] = [];
    const lags: number[] = [];
    for (let b = 0; b < bursts; b++) {
      const tb = performance.now();
      const summary = await store.upsertMany(
        Array.from({ length: burstSize }, (_, i) => ({ indicator: v4Text((0xc6000000 + b * burstSize + i) >>> 0), source: 'burst', reason: `burst ${b}` })),
        { actor: 'bench' },
      );
      child.send({ cmd: 'until', version: summary.version });
      const r = await nextMessage<{ lags: number[] }>(child);
      appliedSeconds.push((performance.now() - tb) / 1000);
      lags.push(...r.lags);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const burst = { ...stats(lags), size: burstSize, bursts: appliedSeconds.length, appliedSeconds };
    log(`  burst of ${burstSize.toLocaleString('en-US')} (upsertMany): written and applied in ${appliedSeconds.map((s) => s.toFixed(2)).join(', ')} s; lag p50 ${burst.p50Ms} ms, p99 ${burst.p99Ms} ms, max ${burst.maxMs} ms`);
    return { base, steady, burst };
  } finally {
    child.send({ cmd: 'exit' });
    await store.close();
  }
}

async function main(): Promise<void> {
  const sizes = (option('--sizes') ?? (QUICK ? '50000,200000' : '1000000,5000000')).split(',').map(Number);
  log(`redis benchmark (${QUICK ? 'quick' : 'full'}), node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const server = await startRedisServer({ persistence: 'none' });
  const redisVersion = /redis_version:(\S+)/.exec(await server.cli('INFO', 'server'))?.[1];
  try {
    log('snapshot load (child process per size, empty set; then a resync into the loaded set)');
    const loads = await snapshotLoads(server, sizes);
    log('propagation (sensor in a child process; lag = applied - written, Redis clock)');
    const prop = await propagation(server, QUICK ? 3 : 10, QUICK ? 10_000 : 50_000, QUICK ? 1 : 3);
    const goals = {
      load1MUnder5s: loads.find((l) => l.entries >= 1_000_000)?.seconds,
      p99At1000PerSecUnder50ms: prop.steady.p99Ms,
    };
    log(`goals: 1 M loaded in < 5 s: ${goals.load1MUnder5s === undefined ? 'not measured' : `${goals.load1MUnder5s.toFixed(2)} s ${goals.load1MUnder5s < 5 ? 'MET' : 'NOT MET'}`};` +
      ` p99 < 50 ms at 1,000 changes/s: ${prop.steady.p99Ms} ms ${prop.steady.p99Ms < 50 ? 'MET' : 'NOT MET'}`);
    process.stdout.write(JSON.stringify({
      benchmark: 'redis',
      quick: QUICK,
      node: process.version,
      redis: redisVersion,
      cpus: cpus().length,
      loadAverageAtEnd: loadavg(),
      snapshot: loads,
      propagation: prop,
      goals,
    }, null, 2) + '\n');
  } finally {
    await server.destroy();
  }
}

if (args[0] === '--child') {
  const run = args[1] === 'load' ? childLoad(args[2]!, args[3]!) : childFollow(args[2]!, args[3]!);
  run.catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
} else {
  scriptFlags(USAGE, ['--quick'], { '--sizes': { pattern: /^[1-9][0-9]*(,[1-9][0-9]*)*$/, what: 'a list of positive counts' } });
  main().catch((err: unknown) => {
    log(String(err instanceof Error ? err.stack : err));
    process.exitCode = 1;
  });
}
