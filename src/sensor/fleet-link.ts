import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FleetClient } from '../fleet/fleet-client.js';
import { fleetPrefixFor } from '../fleet/keys.js';
import { LocalFleet } from '../fleet/local-fleet.js';
import type { EnforcementWatch, FleetLink } from '../fleet/types.js';
import { createRedis, type RedisConnectionOptions } from '../intel/redis/connection.js';
import type { Sensor } from '../pipeline/sensor.js';

export interface AttachedFleet {
  readonly link: FleetLink;
  /** The in-process fleet (single-box mode: the API reads sensors, events and the switch from it); else null. */
  readonly local: LocalFleet | null;
  close(): Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Connects the sensor to its fleet: every decision goes out as an event, a heartbeat every few seconds says what it
 * is doing, and the fleet-wide enforcement switch is obeyed — within a second — unless the sensor was started in
 * monitor mode, which the switch can never override (a dry run stays a dry run).
 * Through Redis when the sensor follows Redis; otherwise in-process (LocalFleet), for the single-box API.
 */
export function attachFleet(sensor: Sensor, options: { name: string; interfaces: string[]; redis: RedisConnectionOptions | null; localMonitor: boolean; log: Logger }): AttachedFleet {
  const { log } = options;
  let redisClient: ReturnType<typeof createRedis> | null = null;
  let local: LocalFleet | null = null;
  let link: FleetLink;
  if (options.redis) {
    redisClient = createRedis(options.redis);
    redisClient.on('error', () => {}); // reconnects on its own; the intel sync reports the connection state
    // The same prefix rule as the API's, so a sensor on a non-default --redis-key-prefix meets its own API.
    link = new FleetClient({ redis: redisClient, sensorName: options.name, keyPrefix: fleetPrefixFor(options.redis.keyPrefix), log });
  } else {
    local = new LocalFleet({ sensorName: options.name });
    link = local;
  }
  const listener = (e: Parameters<Sensor['decisionListeners'][number]>[0]): void => {
    link.reportEvent({
      ts: Date.parse(e.ts) / 1000, action: e.action, indicator: e.indicator, entryId: e.entryId, source: e.source, reason: e.reason,
      proto: e.proto, src: e.src, sport: e.sport, dst: e.dst, dport: e.dport, matchedSide: e.matchedSide, guard: e.guard,
      mode: e.enforcing ? 'enforce' : 'monitor',
    });
  };
  sensor.decisionListeners.push(listener);

  let lastPackets = 0;
  let lastAt = Date.now();
  const heartbeat = () => {
    const stats = sensor.stats();
    const now = Date.now();
    const pps = now > lastAt ? ((stats.packets - lastPackets) * 1000) / (now - lastAt) : 0;
    lastPackets = stats.packets;
    lastAt = now;
    return {
      name: options.name, interfaces: options.interfaces, version: VERSION, intelVersion: stats.intel.version, pps: Math.round(pps),
      drops: (stats.capture.kernelDropped ?? 0) + stats.capture.interfaceDropped,
      ...(stats.capture.kernelDropped === null ? { kernelDropsUnknown: true } : {}),
      mode: sensor.enforcing ? 'enforce' as const : 'monitor' as const,
    };
  };
  const beat = (): void => void link.reportHeartbeat(heartbeat()).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'heartbeat not written'));
  beat();
  const heartbeatTimer = setInterval(beat, 5000);
  heartbeatTimer.unref();

  const watch: EnforcementWatch = link.watchEnforcement((mode) => {
    if (options.localMonitor) {
      if (mode === 'enforce') log.info({ event: 'enforcement', fleet: mode }, 'fleet switch says enforce; this sensor stays in monitor mode (--monitor / --dry-run)');
      return;
    }
    sensor.setEnforcing(mode === 'enforce', 'fleet enforcement switch');
  });

  return {
    link,
    local,
    close: async () => {
      clearInterval(heartbeatTimer);
      watch.stop();
      sensor.decisionListeners.splice(sensor.decisionListeners.indexOf(listener), 1);
      await link.close();
      if (redisClient) await redisClient.quit().catch(() => redisClient?.disconnect());
    },
  };
}
