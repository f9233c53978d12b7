import type { Logger } from 'pino';
import { parseListenAddress, startMetricsServer, type HealthReport } from '../metrics/metrics-server.js';
import type { Sensor } from '../pipeline/sensor.js';
import type { RedisIntelSync } from '../intel/redis/intel-sync.js';
import { ExitCode } from '../util/errors.js';
import { buildSensor, sensorLogger, sensorName, statsInterval, type SensorValues } from './sensor-options.js';
import { attachFleet } from './fleet-link.js';
import { redisOptionsFromValues } from '../intel/redis/connection.js';

/** One sensor in this process: start, serve metrics, reload on SIGHUP, drain and report on SIGTERM / SIGINT. */
export async function runSensor(values: SensorValues): Promise<number> {
  const log = sensorLogger(values);
  const { sensor, files, redis } = await buildSensor(values, log);
  if (redis) {
    // Enforce from the first packet: capture starts only once the set holds Redis's snapshot or the disk cache.
    const status = await redis.start();
    log.info({ event: 'intel_sync', ...status }, `intel from ${status.startedFrom === 'redis' ? 'Redis' : status.startedFrom === 'cache' ? 'the disk cache (Redis unreachable)' : 'nowhere yet (Redis unreachable, no cache)'}: ${status.entries} entries`);
  }
  let canary: Awaited<ReturnType<typeof sensor.start>>['canary'];
  try {
    ({ canary } = await sensor.start());
  } catch (err) {
    await redis?.close();
    throw err;
  }
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  const metricsAt = values.metrics ?? '127.0.0.1:9464';
  if (metricsAt !== 'off') {
    const { host, port } = parseListenAddress(metricsAt, '--metrics');
    try {
      metricsServer = await startMetricsServer({ host, port, metrics: () => sensor.metrics.text(), contentType: sensor.metrics.contentType, health: () => health(sensor, redis) });
    } catch (err) {
      sensor.stop();
      throw err;
    }
  }
  const redisOptions = redisOptionsFromValues(values);
  const fleet = attachFleet(sensor, {
    name: sensorName(values), interfaces: [values.mon!, ...(values.inj ? [values.inj] : [])], redis: redisOptions,
    localMonitor: values.monitor === true || values['dry-run'] === true, log,
  });
  let api: { url: string; close(): Promise<void> } | null = null;
  if (values.api) {
    const { startSingleBoxApi } = await import('../api/single-box.js');
    try {
      api = await startSingleBoxApi({ set: sensor.intel, fleet: fleet.local!, tokensFile: values['api-tokens']!, auditFile: values['api-audit'], listen: values.api, logger: log });
    } catch (err) {
      sensor.stop();
      await Promise.all([fleet.close(), metricsServer?.close(), redis?.close()]);
      throw err;
    }
    log.info({ event: 'api', url: api.url }, `blocking API (single-box) on ${api.url}`);
  }
  logStart(log, values, sensor, metricsServer ? `${metricsServer.address.address}:${metricsServer.address.port}` : null, canary);
  const interval = statsInterval(values);
  const statsTimer = interval > 0 ? setInterval(() => log.info({ event: 'stats', ...sensor.stats() }, 'statistics'), interval * 1000) : null;

  return new Promise<number>((resolve) => {
    const onHup = (): void => void files.reload();
    const stop = (signal: string): void => {
      process.off('SIGHUP', onHup);
      if (statsTimer) clearInterval(statsTimer);
      const stats = sensor.stop();
      const intelSync = redis?.status() ?? null;
      log.info({ event: 'stop', signal, ...stats, intelSync }, `sensor stopped (${signal})`);
      process.stdout.write(JSON.stringify(intelSync ? { ...stats, intelSync } : stats) + '\n');
      const done = (): void => log.flush(() => resolve(ExitCode.ok));
      void Promise.all([api?.close(), fleet.close(), metricsServer?.close(), redis?.close()]).then(done, done);
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export function logStart(log: Logger, values: SensorValues, sensor: Sensor, metrics: string | null, canary: { sent: boolean; error: string | null } | null): void {
  const backend = values.backend ?? sensor.stats().backend;
  log.info({
    event: 'start', mon: values.mon, inj: values.inj ?? values.mon, backend, filter: values.filter ?? '',
    enforcing: sensor.enforcing, intel: { entries: sensor.intel.size, version: sensor.intel.version }, metrics, canary,
    sessionTrack: sensor.engine.table.trackPath,
  }, `sensor started on ${values.mon} (${backend}), ${sensor.intel.size} intel entries, ${sensor.enforcing ? 'enforcing' : 'MONITOR ONLY'}, ` +
    `${sensor.engine.table.trackPath} session path`);
  if (canary && !canary.sent) log.error({ event: 'canary', ...canary }, `injection self-test failed: ${canary.error}`);
  setTimeout(() => {
    if (canary?.sent) log.info({ event: 'canary', sent: true, seenOnMirror: sensor.canarySeen() }, sensor.canarySeen()
      ? 'injection self-test passed: the canary frame came back on the mirror'
      : 'injection self-test: the canary frame was sent (not seen on the mirror, normal when the injection port is not mirrored)');
  }, 500).unref();
}

export function health(sensor: Sensor, redis: RedisIntelSync | null = null): HealthReport {
  const reasons: string[] = [];
  const stats = sensor.captureStats();
  if (!sensor.enforcing) reasons.push('monitor mode: nothing is sent');
  const sync = redis?.status() ?? null;
  if (sync && sync.state !== 'live') reasons.push(`intel ${sync.state}${sync.staleSeconds !== null ? ` for ${Math.round(sync.staleSeconds)} s` : ''}: ${sync.lastError ?? 'not in step with Redis'}`);
  return {
    status: reasons.length === 0 ? 'ok' : 'degraded',
    reasons,
    enforcing: sensor.enforcing,
    capture: stats,
    secondsSinceTraffic: sensor.secondsSinceTraffic,
    intel: { entries: sensor.intel.size, version: sensor.intel.version },
    sessions: sensor.engine.table.active,
    intelSync: sync,
  };
}

