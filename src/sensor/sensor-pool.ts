import { Worker } from 'node:worker_threads';
import { AggregatorRegistry, collectDefaultMetrics, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { parseListenAddress, startMetricsServer, type HealthReport } from '../metrics/metrics-server.js';
import type { SensorStats } from '../pipeline/sensor.js';
import { ExitCode, OffpathError } from '../util/errors.js';
import { sensorLogger, workerCount, type SensorValues } from './sensor-options.js';
import type { WorkerReply, WorkerRequest } from './sensor-worker.js';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

interface PoolWorker {
  index: number;
  worker: Worker;
  pending: Map<number, (reply: WorkerReply) => void>;
}

/**
 * Several capture threads on one mirror interface: each worker thread opens its own AF_PACKET socket in one
 * PACKET_FANOUT group (the kernel hashes each flow to one socket, so a session's packets all reach the same worker
 * and its own session table) and runs a whole sensor. This thread only serves the aggregated metrics, relays signals
 * and sums the final statistics. Each worker holds its own copy of the intel set (30 bytes an indicator).
 */
export async function runSensorPool(argv: string[], values: SensorValues): Promise<number> {
  const log = sensorLogger(values, { role: 'pool' });
  const count = workerCount(values);
  const fanoutGroup = (process.pid & 0x7fff) | 0x4000;
  const workers: PoolWorker[] = [];
  let nextId = 1;
  const ask = (w: PoolWorker, request: Omit<WorkerRequest, 'id'>): Promise<WorkerReply> =>
    new Promise((resolve) => {
      const id = nextId++;
      w.pending.set(id, resolve);
      w.worker.postMessage({ ...request, id } satisfies WorkerRequest);
    });

  const started = await Promise.allSettled(Array.from({ length: count }, (_, index) => new Promise<PoolWorker>((resolve, reject) => {
    const worker = new Worker(new URL('./sensor-worker.js', import.meta.url), { workerData: { argv, index, fanoutGroup } });
    const w: PoolWorker = { index, worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'started') resolve(w);
      else if (reply.type === 'failed') reject(new OffpathError(reply.code, reply.message));
      else {
        const done = w.pending.get(reply.id);
        w.pending.delete(reply.id);
        done?.(reply);
      }
    });
    worker.on('error', (err) => reject(err));
    workers.push(w);
  })));
  const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw failure.reason;
  }

  const own = new Registry();
  collectDefaultMetrics({ register: own, prefix: 'offpath_' });
  const metrics = async (): Promise<string> => {
    const replies = await Promise.all(workers.map((w) => ask(w, { type: 'metrics' })));
    const merged = AggregatorRegistry.aggregate(replies.map((r) => (r.type === 'metrics' ? r.metrics : [])) as MetricsJson[]);
    return (await merged.metrics()) + (await own.metrics());
  };
  let lastHealth: HealthReport[] = [];
  const refreshHealth = async (): Promise<void> => {
    const replies = await Promise.all(workers.map((w) => ask(w, { type: 'health' })));
    lastHealth = replies.flatMap((r) => (r.type === 'health' ? [r.health] : []));
  };
  const healthTimer = setInterval(() => void refreshHealth(), 1000);
  await refreshHealth();
  let server: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  const at = values.metrics ?? '127.0.0.1:9464';
  if (at !== 'off') {
    const { host, port } = parseListenAddress(at, '--metrics');
    server = await startMetricsServer({
      host, port, metrics, contentType: own.contentType,
      health: () => {
        const reasons = lastHealth.flatMap((h, i) => h.reasons.map((r) => `worker ${i}: ${r}`));
        return { status: reasons.length === 0 && lastHealth.length === count ? 'ok' : 'degraded', reasons, workers: lastHealth };
      },
    });
  }
  log.info({ event: 'start', workers: count, fanoutGroup, metrics: server ? `${server.address.address}:${server.address.port}` : null }, `sensor pool started: ${count} workers on ${values.mon}`);

  return new Promise<number>((resolve) => {
    const onHup = (): void => {
      for (const w of workers) void ask(w, { type: 'reload' });
    };
    const stop = async (signal: string): Promise<void> => {
      process.off('SIGHUP', onHup);
      clearInterval(healthTimer);
      const replies = await Promise.all(workers.map((w) => ask(w, { type: 'stop' })));
      const perWorker = replies.flatMap((r) => (r.type === 'stopped' ? [r.stats] : []));
      await Promise.all(workers.map((w) => w.worker.terminate()));
      const total = { ...sumStats(perWorker), workers: perWorker };
      log.info({ event: 'stop', signal, ...total }, `sensor pool stopped (${signal})`);
      process.stdout.write(JSON.stringify(total) + '\n');
      if (server) await server.close();
      log.flush(() => resolve(ExitCode.ok));
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

/** Adds up numbers field by field (objects recursively); strings and the intel digest are taken from the first. */
function sumStats(all: SensorStats[]): SensorStats | Record<string, never> {
  if (all.length === 0) return {};
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? add(out[k], v) : v;
      return out;
    }
    return a;
  };
  const total = all.slice(1).reduce((acc, s) => add(acc, s) as SensorStats, all[0]!);
  // Every worker holds the same intel: report it once, not summed.
  return { ...total, intel: all[0]!.intel, seconds: all[0]!.seconds };
}
