import { parseSessionTrackPath } from '../pipeline/session-track-path.js';
import { hostname } from 'node:os';
import { checkSensorName } from '../fleet/event-shape.js';
import { destination, pino, type Logger } from 'pino';
import { CAPTURE_BACKENDS, DEFAULT_BACKEND, type CaptureBackend, type NativeTuning } from '../capture/live/open-live.js';
import { parseMac } from '../capture/live/interface-counters.js';
import { SensorMetrics } from '../metrics/sensor-metrics.js';
import { Sensor } from '../pipeline/sensor.js';
import type { InjectionMode, SideAddressing } from '../respond/injection/injection-path.js';
import { parseTimeouts } from '../session/timeouts.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../cli/args.js';
import { intelOptionHelp, intelOptionSpec, setUpIntel } from '../cli/intel-options.js';
import { IntelFileSource, reportLoads } from './intel-file-source.js';
import { redisOptionHelp, redisOptionSpec, redisOptionsFromValues, type RedisConnectionOptions } from '../intel/redis/connection.js';
import type { RedisIntelSync } from '../intel/redis/intel-sync.js';
import { IntelSet } from '../intel/intel-set.js';

export const sensorHelp = `Usage: offpath sensor --mon IF [--inj IF] --intel FILE [options]

Watches a mirror (SPAN / TAP / cloud traffic mirror) port, tracks every L4 session, matches sessions against
the intel and kills blocked TCP sessions by injecting resets to both ends, then watches the mirror to
confirm each kill. Never inline: if offpath stops, traffic flows on.

Capture:
  --mon IF                interface receiving the mirrored traffic (required)
  --backend NAME          cap | native-pcap | native-tpacket (default ${DEFAULT_BACKEND}, chosen by
                          measurement; cap needs no native addon but cannot count kernel drops)
  --filter BPF            capture filter in tcpdump syntax (default: everything)
  --snaplen BYTES         bytes kept per packet (default 2048: every header and a full standard frame;
                          the ring holds bufferBytes / snaplen packets, so larger values mean fewer
                          packets buffered through a pause; lengths on the wire are still exact)
  --buffer BYTES          kernel buffer / ring size (default 67108864)
  --no-promisc            do not put the mirror interface in promiscuous mode
  --tpacket-version N     native-tpacket ring: 2 = a slot per packet, handed over at once (default:
                          the lowest latency) or 3 = blocks (fewer wake-ups at high rates, but a
                          partly filled block waits up to --block-timeout-ms)
  --block-timeout-ms N    native-tpacket with version 3: longest wait of a partly filled block (default 1)
  --busy-poll             never sleep: poll the capture socket continuously (one core at 100 %); removes the
                          wake-up latency of an idle CPU, hundreds of microseconds on virtual machines
  --realtime-priority N   run the packet thread(s) under SCHED_FIFO at priority N (1-99; native addon, root
                          or CAP_SYS_NICE): a woken sensor preempts other work at once instead of waiting
                          its turn. The kernel still keeps 5 % of each second for other tasks; refused
                          with --busy-poll, which would never let go of the core

Injection:
  --inj IF                interface to inject on (default: the mirror interface; a SPAN port is usually
                          receive-only, so a second port is the normal deployment)
  --inj-mode MODE         how resets reach both sides: own | observed | l3 (default own)
                            own       the sensor's MAC as source; destination = --next-hop-mac, else the MAC
                                      seen leading to the endpoint. Safe with switches.
                            observed  the endpoints' own MACs (lab or dedicated injection segment only:
                                      a switch would move those MACs to the injection port)
                            l3        no Ethernet: IP packets through the routing table (native addon)
  --inj-mode-client MODE  the same, for resets to the session's client (initiator) only
  --inj-mode-server MODE  the same, for resets to the server only
  --next-hop-mac MAC      destination MAC for own mode (the router), both sides
  --next-hop-mac-client MAC, --next-hop-mac-server MAC   the same, per side
  --vlan-client TAG       VLAN of resets to the client: observed (default) | none | VID (1-4094)
  --vlan-server TAG       the same, to the server
  --dry-run               alias of --monitor: decide, log and count, send nothing

Sessions:
  --capacity N            most sessions held at once (default 1,000,000)
  --timeouts LIST         idle timeouts, e.g. "tcpEstablished=7200,udpTwoWay=600" (see replay --help)
  --ignore-vlan           leave VLAN tags out of the session key
  --session-track PATH    auto (default: the addon's per-packet path when it loads), native or js (see
                          replay --help); the status and the start-up log say which runs
  --kill-silence SECONDS  a blocked session silent this long after our resets counts as killed (default 0.5)

Operations:
  --metrics HOST:PORT     serve /metrics (Prometheus) and /healthz (default 127.0.0.1:9464; "off" disables)
  --name NAME             sensor name in logs and metrics (default: the host name)
  --log-level LEVEL       fatal | error | warn | info | debug (default info)
  --stats-interval SEC    log capture statistics every SEC seconds (default 60; 0 = never)
  --workers N             capture threads (native-tpacket only): PACKET_FANOUT hashes flows across them,
                          each keeps its own session table (default 1)

${intelOptionHelp}

Blocking API, single box (no Redis; with Redis run "offpath api" instead):
  --api HOST:PORT         serve the blocking API (/v1, OpenAPI at /docs) from this sensor's own intel set
  --api-tokens FILE       token hashes (create them with "offpath token create --tokens FILE"); required
  --api-audit FILE        also append the audit trail to this JSON-lines file

Fleet intel from Redis (instead of, or next to, --intel files); decisions are reported to the fleet's
event stream, a heartbeat every 5 s, and the fleet-wide enforcement switch is obeyed within a second:
  --intel-cache FILE      where the last good set from Redis is kept, so that a sensor restarting while
                          Redis is down still enforces (default /var/lib/offpath/intel-cache.json)
${redisOptionHelp}

Signals: SIGHUP reloads the intel files (changes apply at once, with no moment without enforcement; a
file that fails to load leaves the current set in force); SIGTERM / SIGINT stop capture, end every
session, and print the final statistics as one JSON object on stdout.

Logs are JSON lines on stderr (pino). Exit codes: 0 clean stop; 2 bad usage or configuration; 3 the intel
could not be read; 4 environment (missing interface, no CAP_NET_RAW, bad filter, native addon missing).`;

export const sensorOptionSpec = {
  mon: { type: 'string' },
  inj: { type: 'string' },
  backend: { type: 'string' },
  filter: { type: 'string' },
  snaplen: { type: 'string' },
  buffer: { type: 'string' },
  'no-promisc': { type: 'boolean' },
  'tpacket-version': { type: 'string' },
  'block-timeout-ms': { type: 'string' },
  'busy-poll': { type: 'boolean' },
  'realtime-priority': { type: 'string' },
  'inj-mode': { type: 'string' },
  'inj-mode-client': { type: 'string' },
  'inj-mode-server': { type: 'string' },
  'next-hop-mac': { type: 'string' },
  'next-hop-mac-client': { type: 'string' },
  'next-hop-mac-server': { type: 'string' },
  'vlan-client': { type: 'string' },
  'vlan-server': { type: 'string' },
  'dry-run': { type: 'boolean' },
  capacity: { type: 'string' },
  timeouts: { type: 'string' },
  'ignore-vlan': { type: 'boolean' },
  'session-track': { type: 'string' },
  'kill-silence': { type: 'string' },
  metrics: { type: 'string' },
  name: { type: 'string' },
  'log-level': { type: 'string' },
  'stats-interval': { type: 'string' },
  workers: { type: 'string' },
  'intel-cache': { type: 'string' },
  api: { type: 'string' },
  'api-tokens': { type: 'string' },
  'api-audit': { type: 'string' },
  ...redisOptionSpec,
  ...intelOptionSpec,
} as const;


export type SensorValues = ReturnType<typeof parseSensorArgs>['values'];

export function parseSensorArgs(argv: string[]) {
  return parseCommandArgs(argv, sensorOptionSpec);
}

/** Checks what can be checked before anything is opened; throws UsageError / ConfigError. */
export function validateSensorValues(values: SensorValues, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.mon) throw new UsageError('sensor needs --mon IF (the mirror interface)');
  if ((!values.intel || values.intel.length === 0) && redisOptionsFromValues(values) === null) throw new UsageError('sensor needs --intel FILE or --redis URL');
  const backend = values.backend ?? DEFAULT_BACKEND;
  if (!(CAPTURE_BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${CAPTURE_BACKENDS.join(', ')}, got "${values.backend}"`);
  const logLevel = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(logLevel)) throw new UsageError(`--log-level "${logLevel}" is not a level`);
  killSilence(values);
  statsInterval(values);
  workerCount(values);
  sideOption(values, 'client');
  sideOption(values, 'server');
  nativeTuning(values['tpacket-version'], values['block-timeout-ms']);
  if (values.api !== undefined) {
    if (redisOptionsFromValues(values) !== null) throw new UsageError('--api serves the single-box API; with Redis, run "offpath api --redis URL" instead');
    if (!values['api-tokens']) throw new UsageError('--api needs --api-tokens FILE (create tokens with "offpath token create --tokens FILE")');
    if (workerCount(values) > 1) throw new UsageError('--api needs a single worker (the API reads one in-memory set)');
  }
  if (workerCount(values) > 1 && backend !== 'native-tpacket') throw new UsageError('--workers needs --backend native-tpacket (PACKET_FANOUT shares the flows between workers)');
}

/** --name, checked here so that a bad one stops the sensor before it opens anything; else the host name. */
export function sensorName(values: SensorValues): string {
  if (values.name === undefined) return hostnameAsSensorName(hostname());
  try {
    return checkSensorName(values.name);
  } catch (err) {
    throw new UsageError(`--name: ${(err as Error).message}`);
  }
}

/** A host name made valid as a sensor name (a host name may hold characters a sensor name may not). */
function hostnameAsSensorName(host: string): string {
  return host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'sensor';
}

export function sensorLogger(values: SensorValues, extra: Record<string, unknown> = {}): Logger {
  return pino({ level: values['log-level'] ?? 'info', base: { sensor: sensorName(values), ...extra } }, destination({ fd: 2, sync: false }));
}

export function statsInterval(values: SensorValues): number {
  const s = values['stats-interval'] === undefined ? 60 : Number(values['stats-interval']);
  if (!(s >= 0)) throw new UsageError('--stats-interval must be a number of seconds >= 0');
  return s;
}

export function workerCount(values: SensorValues): number {
  return positiveInteger('workers', values.workers, 1);
}

function realtimePriority(values: SensorValues): number | undefined {
  const text = values['realtime-priority'];
  if (text === undefined) return undefined;
  const priority = Number(text);
  if (!Number.isInteger(priority) || priority < 1 || priority > 99) throw new UsageError(`--realtime-priority must be a whole number 1-99, got "${text}"`);
  if (values['busy-poll'] === true) throw new UsageError('--realtime-priority with --busy-poll would take a whole core from everything else: choose one');
  return priority;
}

function killSilence(values: SensorValues): number {
  const s = values['kill-silence'] === undefined ? 0.5 : Number(values['kill-silence']);
  if (!(s > 0 && s <= 60)) throw new UsageError('--kill-silence must be seconds in (0, 60]');
  return s;
}

export interface BuiltSensor {
  sensor: Sensor;
  files: IntelFileSource;
  /** Following Redis (started by startIntelSync), or null for the embedded default (files only). */
  redis: RedisIntelSync | null;
}

/**
 * Loads the intel files and builds a Sensor (not started) from the options. A worker of a pool calls it too, with
 * its fanout group, so that every worker is configured exactly alike.
 */
export async function buildSensor(values: SensorValues, log: Logger, pool: { fanoutGroup?: number; processMetrics: boolean } = { processMetrics: true }): Promise<BuiltSensor> {
  const setup = await setUpIntel({ ...values, monitor: values.monitor === true || values['dry-run'] === true });
  reportLoads(log, setup.loads);
  const intel = setup.intel ?? new IntelSet();
  const redisOptions = redisOptionsFromValues(values);
  const metrics = new SensorMetrics(undefined, { processMetrics: pool.processMetrics, intelMetrics: redisOptions === null });
  const tuning = nativeTuning(values['tpacket-version'], values['block-timeout-ms']);
  if (pool.fanoutGroup !== undefined) tuning.fanoutGroup = pool.fanoutGroup;
  const sensor = await Sensor.create({
    capture: {
      iface: values.mon!,
      filter: values.filter ?? '',
      snapLength: positiveInteger('snaplen', values.snaplen, 2048),
      bufferBytes: positiveInteger('buffer', values.buffer, 64 << 20),
      promiscuous: !values['no-promisc'],
    },
    backend: (values.backend ?? DEFAULT_BACKEND) as CaptureBackend,
    native: tuning,
    injectInterface: values.inj ?? null,
    toClient: sideOption(values, 'client'),
    toServer: sideOption(values, 'server'),
    intel,
    guards: { ...setup.guards },
    responder: setup.responder,
    table: {
      capacity: positiveInteger('capacity', values.capacity, 1_000_000),
      timeouts: values.timeouts ? parseTimeouts(values.timeouts) : undefined,
      vlanTracking: !values['ignore-vlan'],
      sessionTrack: parseSessionTrackPath(values['session-track']),
    },
    kills: { silenceSeconds: killSilence(values), maxRounds: setup.responder.maxRounds, giveUpSeconds: 10 },
    busyPoll: values['busy-poll'] === true,
    realtimePriority: realtimePriority(values),
    log,
    metrics,
  });
  const files = new IntelFileSource(intel, values.intel ?? [], setup.loadOptions, log);
  const redis = redisOptions ? await createIntelSync(redisOptions, values, intel, metrics, log, files) : null;
  return { sensor, files, redis };
}

/**
 * Redis keeps the set in step with the fleet. Sources loaded from files stay the files' business (a resync never
 * removes them); everything else in the set belongs to Redis.
 */
async function createIntelSync(redis: RedisConnectionOptions, values: SensorValues, intel: IntelSet, metrics: SensorMetrics, log: Logger, files: IntelFileSource): Promise<RedisIntelSync> {
  const { RedisIntelSync } = await import('../intel/redis/intel-sync.js');
  return new RedisIntelSync({
    redis,
    set: intel,
    cacheFile: values['intel-cache'] ?? '/var/lib/offpath/intel-cache.json',
    log,
    registry: metrics.registry,
    scope: (source) => !files.ownsSource(source),
  });
}

export function nativeTuning(version: string | undefined, timeout: string | undefined): NativeTuning {
  const tuning: NativeTuning = { tpacketVersion: 2 };
  if (version !== undefined) {
    if (version !== '2' && version !== '3') throw new UsageError(`--tpacket-version must be 2 or 3, got "${version}"`);
    tuning.tpacketVersion = version === '2' ? 2 : 3;
  }
  if (timeout !== undefined) {
    const ms = Number(timeout);
    if (!Number.isInteger(ms) || ms < 0 || ms > 60000) throw new UsageError(`--block-timeout-ms must be whole milliseconds 0-60000, got "${timeout}"`);
    tuning.blockTimeoutMs = ms;
  }
  return tuning;
}

const MODES: readonly InjectionMode[] = ['own', 'observed', 'l3'];

function sideOption(values: Record<string, unknown>, side: 'client' | 'server'): SideAddressing {
  const modeText = (values[`inj-mode-${side}`] ?? values['inj-mode'] ?? 'own') as string;
  if (!MODES.includes(modeText as InjectionMode)) throw new UsageError(`--inj-mode${values[`inj-mode-${side}`] ? `-${side}` : ''} must be own, observed or l3, got "${modeText}"`);
  const macText = (values[`next-hop-mac-${side}`] ?? values['next-hop-mac']) as string | undefined;
  let nextHopMac: Uint8Array | null = null;
  if (macText !== undefined) {
    nextHopMac = parseMac(macText);
    if (!nextHopMac) throw new ConfigError(`--next-hop-mac "${macText}" is not a MAC address`, 'write it as aa:bb:cc:dd:ee:ff');
  }
  const vlanText = (values[`vlan-${side}`] as string | undefined) ?? 'observed';
  let vlan: SideAddressing['vlan'];
  if (vlanText === 'observed' || vlanText === 'none') vlan = vlanText;
  else {
    const vid = Number(vlanText);
    if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new UsageError(`--vlan-${side} must be observed, none or a VLAN id 1-4094, got "${vlanText}"`);
    vlan = vid;
  }
  return { mode: modeText as InjectionMode, nextHopMac, vlan };
}
