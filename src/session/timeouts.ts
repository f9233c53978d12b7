import { ConfigError } from '../util/errors.js';

/**
 * Idle timeouts, in seconds of capture time (packet timestamps, so replay is deterministic), per class of
 * session. Each class is also an LRU list in the session table, which is why a class has exactly one timeout.
 */
export const TimeoutClass = {
  tcpClosed: 0,
  tcpHalfOpen: 1,
  udpOneWay: 2,
  otherOneWay: 3,
  tcpClosing: 4,
  udpTwoWay: 5,
  otherTwoWay: 6,
  tcpEstablished: 7,
} as const;
export const TIMEOUT_CLASS_COUNT = 8;
export type TimeoutClassName = keyof typeof TimeoutClass;

export type SessionTimeouts = Record<TimeoutClassName, number>;

/**
 * Defaults close to Suricata's and conntrack's: generous for established TCP (banks run idle database and
 * market-data sessions for hours), short for half-open and closed ones, which are what floods produce.
 */
export const DEFAULT_TIMEOUTS: SessionTimeouts = {
  tcpClosed: 30,
  tcpHalfOpen: 60,
  udpOneWay: 60,
  otherOneWay: 60,
  tcpClosing: 120,
  udpTwoWay: 300,
  otherTwoWay: 300,
  tcpEstablished: 3600,
};

/**
 * Parses "tcpEstablished=7200,udpTwoWay=600" over the defaults. "none" turns idle expiry off (sessions end only
 * by eviction or at the end of the input), for comparing with tools that never time out, such as tshark.
 */
export function parseTimeouts(text: string, base: SessionTimeouts = DEFAULT_TIMEOUTS): SessionTimeouts {
  const out = { ...base };
  if (text.trim() === 'none') {
    for (const name of Object.keys(out) as TimeoutClassName[]) out[name] = Infinity;
    return out;
  }
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=');
    if (!name || !(name in TimeoutClass)) {
      throw new ConfigError(`unknown timeout class "${name}"`, `use one of ${Object.keys(TimeoutClass).join(', ')}`);
    }
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new ConfigError(`timeout ${name}=${value} is not a positive number of seconds`);
    }
    out[name as TimeoutClassName] = seconds;
  }
  return out;
}
