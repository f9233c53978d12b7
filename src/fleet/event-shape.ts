/**
 * Bounds what a block event may carry before it is stored: events come from sensors, but they end up in Redis, in
 * API responses and in SOC dashboards, so one misbehaving sensor must not be able to store megabytes or objects.
 * Only flat fields survive: strings (cut to MAX_STRING), finite numbers, booleans and null.
 */
import type { BlockEvent, HeartbeatInput } from './types.js';

export const MAX_EVENT_FIELDS = 32;
export const MAX_STRING = 512;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function boundedEvent(event: BlockEvent, sensor: string, nowMs: number): BlockEvent {
  const out: Record<string, unknown> = {};
  let fields = 0;
  for (const key of Object.keys(event)) {
    if (fields >= MAX_EVENT_FIELDS) break;
    if (!NAME.test(key)) continue;
    const value = (event as Record<string, unknown>)[key];
    if (typeof value === 'string') out[key] = value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) continue;
      out[key] = value;
    } else if (typeof value === 'boolean' || value === null) out[key] = value;
    else continue;
    fields++;
  }
  if (typeof out.ts !== 'number') out.ts = nowMs / 1000;
  out.sensor = sensor;
  if (typeof out.indicator !== 'string') out.indicator = '';
  if (out.action !== 'block' && out.action !== 'monitor' && out.action !== 'allow') out.action = 'block';
  return out as BlockEvent;
}

/** Checks a sensor name: it becomes part of a Redis key and of every event the sensor reports. */
export function checkSensorName(name: string): string {
  if (!NAME.test(name)) throw new RangeError(`sensor name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, '.', '_' or '-'`);
  return name;
}

/** A heartbeat with only the known fields, numbers made finite and lists bounded. */
export function boundedHeartbeat(hb: HeartbeatInput): HeartbeatInput {
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    name: checkSensorName(hb.name),
    interfaces: (Array.isArray(hb.interfaces) ? hb.interfaces : []).slice(0, 64).map((i) => String(i).slice(0, 64)),
    version: String(hb.version ?? '').slice(0, 64),
    intelVersion: num(hb.intelVersion),
    pps: num(hb.pps),
    drops: num(hb.drops),
    ...(hb.kernelDropsUnknown === true ? { kernelDropsUnknown: true } : {}),
    ...(hb.mode === 'enforce' || hb.mode === 'monitor' ? { mode: hb.mode } : {}),
    ...(typeof hb.intervalMs === 'number' && hb.intervalMs > 0 ? { intervalMs: hb.intervalMs } : {}),
  };
}
