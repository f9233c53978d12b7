import type { Logger } from 'pino';
import { parseListenAddress, startMetricsServer, type HealthReport } from '../metrics/metrics-server.js';
import type { Sensor } from '../pipeline/sensor.js';
import { ExitCode } from '../util/errors.js';
import { buildSensor, sensorLogger, statsInterval, type SensorValues } from './sensor-options.js';

/** One sensor in this process: start, serve metrics, reload on SIGHUP, drain and report on SIGTERM / SIGINT. */
export async function runSensor(values: SensorValues): Promise<number> {
  const log = sensorLogger(values);
  const { sensor, files } = await buildSensor(values, log);
  const { canary } = await sensor.start();
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  const metricsAt = values.metrics ?? '127.0.0.1:9464';
  if (metricsAt !== 'off') {
    const { host, port } = parseListenAddress(metricsAt, '--metrics');
    try {
      metricsServer = await startMetricsServer({ host, port, metrics: () => sensor.metrics.text(), contentType: sensor.metrics.contentType, health: () => health(sensor) });
    } catch (err) {
      sensor.stop();
      throw err;
    }
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
      log.info({ event: 'stop', signal, ...stats }, `sensor stopped (${signal})`);
      process.stdout.write(JSON.stringify(stats) + '\n');
      const done = (): void => log.flush(() => resolve(ExitCode.ok));
      if (metricsServer) void metricsServer.close().then(done);
      else done();
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
  }, `sensor started on ${values.mon} (${backend}), ${sensor.intel.size} intel entries, ${sensor.enforcing ? 'enforcing' : 'MONITOR ONLY'}`);
  if (canary && !canary.sent) log.error({ event: 'canary', ...canary }, `injection self-test failed: ${canary.error}`);
  setTimeout(() => {
    if (canary?.sent) log.info({ event: 'canary', sent: true, seenOnMirror: sensor.canarySeen() }, sensor.canarySeen()
      ? 'injection self-test passed: the canary frame came back on the mirror'
      : 'injection self-test: the canary frame was sent (not seen on the mirror, normal when the injection port is not mirrored)');
  }, 500).unref();
}

export function health(sensor: Sensor): HealthReport {
  const reasons: string[] = [];
  const stats = sensor.captureStats();
  if (!sensor.enforcing) reasons.push('monitor mode: nothing is sent');
  return {
    status: reasons.length === 0 ? 'ok' : 'degraded',
    reasons,
    enforcing: sensor.enforcing,
    capture: stats,
    secondsSinceTraffic: sensor.secondsSinceTraffic,
    intel: { entries: sensor.intel.size, version: sensor.intel.version },
    sessions: sensor.engine.table.active,
  };
}

