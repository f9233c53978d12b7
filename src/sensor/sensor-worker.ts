import { parentPort, workerData } from 'node:worker_threads';
import type { HealthReport } from '../metrics/metrics-server.js';
import type { SensorStats } from '../pipeline/sensor.js';
import { OffpathError } from '../util/errors.js';
import { health, logStart } from './run-sensor.js';
import { buildSensor, parseSensorArgs, sensorLogger, sensorName } from './sensor-options.js';
import { attachFleet } from './fleet-link.js';
import { redisOptionsFromValues } from '../intel/redis/connection.js';

export type WorkerRequest = { id: number; type: 'metrics' | 'health' | 'reload' | 'stop' };
export type WorkerReply =
  | { type: 'started' }
  | { type: 'failed'; code: string; message: string }
  | { id: number; type: 'metrics'; metrics: unknown[] }
  | { id: number; type: 'health'; health: HealthReport }
  | { id: number; type: 'reloaded' }
  | { id: number; type: 'stopped'; stats: SensorStats };

/** One capture thread of a sensor pool (see sensor-pool.ts): a whole sensor on its share of the flows. */
async function main(): Promise<void> {
  const port = parentPort!;
  const { argv, index, fanoutGroup } = workerData as { argv: string[]; index: number; fanoutGroup: number };
  const { values } = parseSensorArgs(argv);
  const log = sensorLogger(values, { worker: index });
  try {
    const { sensor, files, redis } = await buildSensor(values, log, { fanoutGroup, processMetrics: false });
    if (redis) await redis.start();
    const { canary } = await sensor.start();
    logStart(log, values, sensor, null, index === 0 ? canary : null);
    const redisOptions = redisOptionsFromValues(values);
    // Each worker reports its own share to the fleet, under its own heartbeat name.
    const fleet = redisOptions ? attachFleet(sensor, {
      name: `${sensorName(values)}-w${index}`, interfaces: [values.mon!, ...(values.inj ? [values.inj] : [])], redis: redisOptions,
      localMonitor: values.monitor === true || values['dry-run'] === true, log,
    }) : null;
    port.on('message', (request: WorkerRequest) => {
      void (async () => {
        switch (request.type) {
          case 'metrics':
            port.postMessage({ id: request.id, type: 'metrics', metrics: await sensor.metrics.registry.getMetricsAsJSON() } satisfies WorkerReply);
            break;
          case 'health':
            port.postMessage({ id: request.id, type: 'health', health: health(sensor, redis) } satisfies WorkerReply);
            break;
          case 'reload':
            await files.reload();
            port.postMessage({ id: request.id, type: 'reloaded' } satisfies WorkerReply);
            break;
          case 'stop': {
            const stats = sensor.stop();
            await Promise.all([fleet?.close(), redis?.close()]);
            log.flush(() => port.postMessage({ id: request.id, type: 'stopped', stats } satisfies WorkerReply));
            break;
          }
        }
      })();
    });
    port.postMessage({ type: 'started' } satisfies WorkerReply);
  } catch (err) {
    const e = err as Error;
    port.postMessage({ type: 'failed', code: err instanceof OffpathError ? err.code : 'internal', message: e.message } satisfies WorkerReply);
  }
}

void main();
