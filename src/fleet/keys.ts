/**
 * Redis keys of the fleet (documented in src/api/README.md). One prefix, so a test or a second fleet can share a
 * Redis without collisions.
 *
 *   <prefix>sensor:<name>     string, JSON heartbeat, PX = 3 heartbeat periods: present = the sensor is up
 *   <prefix>sensors           sorted set, sensor name -> last heartbeat (epoch ms)
 *   <prefix>heartbeats        hash, sensor name -> last heartbeat JSON (kept after the sensor goes down)
 *   <prefix>events            stream, field `e` = block event JSON, MAXLEN ~ bounded
 *   <prefix>enforcement       string, JSON { mode, changedAt, changedBy }
 *   <prefix>enforcement       pub/sub channel (same name), the new state JSON on every change
 */
export const DEFAULT_FLEET_PREFIX = 'offpath:fleet:';
/** The intel store's default key prefix (src/intel/redis/schema.ts). */
const DEFAULT_INTEL_PREFIX = 'offpath:intel';

/**
 * Fleet key prefix that goes with an intel key prefix (--redis-key-prefix): the default set uses offpath:fleet:,
 * a set under prefix P uses P:fleet:, so two fleets can share one Redis. Sensors and the API must agree on it.
 */
export function fleetPrefixFor(intelKeyPrefix?: string): string {
  return intelKeyPrefix === undefined || intelKeyPrefix === DEFAULT_INTEL_PREFIX ? DEFAULT_FLEET_PREFIX : `${intelKeyPrefix}:fleet:`;
}

export interface FleetKeys {
  sensor(name: string): string;
  readonly sensors: string;
  readonly heartbeats: string;
  readonly events: string;
  readonly enforcement: string;
  readonly enforcementChannel: string;
}

export function fleetKeys(prefix: string = DEFAULT_FLEET_PREFIX): FleetKeys {
  return {
    sensor: (name) => `${prefix}sensor:${name}`,
    sensors: `${prefix}sensors`,
    heartbeats: `${prefix}heartbeats`,
    events: `${prefix}events`,
    enforcement: `${prefix}enforcement`,
    enforcementChannel: `${prefix}enforcement`,
  };
}
