/** Public surface of the fleet layer (sensor <-> API over Redis, or in one process). */
export { BoundedLog, type BoundedLogPage, type LogRecord } from './bounded-log.js';
export { EnforcementWatcher, parseEnforcementState, type FleetLogger } from './enforcement-watcher.js';
export { boundedEvent, boundedHeartbeat, checkSensorName } from './event-shape.js';
export { FleetClient, type FleetClientOptions } from './fleet-client.js';
export { DEFAULT_FLEET_PREFIX, fleetKeys, fleetPrefixFor, type FleetKeys } from './keys.js';
export { LocalFleet, type LocalFleetOptions } from './local-fleet.js';
export { RedisFleetView, type RedisFleetViewOptions } from './redis-fleet-view.js';
export { compareStreamIds, formatStreamId, parseStreamId, StreamIdClock } from './stream-id.js';
export * from './types.js';
