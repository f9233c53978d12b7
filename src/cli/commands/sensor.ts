import { destination, pino, type Logger } from 'pino';
import { CAPTURE_BACKENDS, DEFAULT_BACKEND, type CaptureBackend, type NativeTuning } from '../../capture/live/open-live.js';
import { parseMac } from '../../capture/live/interface-counters.js';
import { IntelSet } from '../../intel/intel-set.js';
import { loadIntelFile, type IntelLoadStats } from '../../intel/intel-file.js';
import { prepareEntry, type PreparedEntry } from '../../intel/entry.js';
import { parseListenAddress, startMetricsServer, type HealthReport } from '../../metrics/metrics-server.js';
import { Sensor } from '../../pipeline/sensor.js';
import type { InjectionMode, SideAddressing } from '../../respond/injection/injection-path.js';
import { parseTimeouts } from '../../session/timeouts.js';
import { ConfigError, ExitCode, UsageError } from '../../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../args.js';
import { intelOptionHelp, intelOptionSpec, setUpIntel } from '../intel-options.js';

export const sensorHelp = `Usage: offpath sensor --mon IF [--inj IF] --intel FILE [options]

Watches a mirror (SPAN / TAP / cloud traffic mirror) port, tracks every L4 session, matches sessions against
the intel and kills blocked TCP sessions by injecting resets to both ends, then watches the mirror to
confirm each kill. Never inline: if offpath stops, traffic flows on.

Capture:
  --mon IF                interface receiving the mirrored traffic (required)
  --backend NAME          cap | native-pcap | native-tpacket (default ${DEFAULT_BACKEND}, chosen by
                          measurement; cap needs no native addon)
  --filter BPF            capture filter in tcpdump syntax (default: everything)
  --snaplen BYTES         bytes kept per packet (default 65535)
  --buffer BYTES          kernel buffer / ring size (default 67108864)
  --no-promisc            do not put the mirror interface in promiscuous mode
  --tpacket-version N     native-tpacket ring: 2 = a slot per packet, handed over at once (default:
                          the lowest latency) or 3 = blocks (fewer wake-ups at high rates, but a
                          partly filled block waits up to --block-timeout-ms)
  --block-timeout-ms N    native-tpacket with version 3: longest wait of a partly filled block (default 1)

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
  --kill-silence SECONDS  a blocked session silent this long after our resets counts as killed (default 0.5)

Operations:
  --metrics HOST:PORT     serve /metrics (Prometheus) and /healthz (default 127.0.0.1:9464; "off" disables)
  --name NAME             sensor name in logs and metrics (default: the host name)
  --log-level LEVEL       fatal | error | warn | info | debug (default info)
  --stats-interval SEC    log capture statistics every SEC seconds (default 60; 0 = never)

${intelOptionHelp}

Signals: SIGHUP reloads the intel files (changes apply at once, with no moment without enforcement; a
file that fails to load leaves the current set in force); SIGTERM / SIGINT stop capture, end every
session, and print the final statistics as one JSON object on stdout.

Logs are JSON lines on stderr (pino). Exit codes: 0 clean stop; 2 bad usage or configuration; 3 the intel
could not be read; 4 environment (missing interface, no CAP_NET_RAW, bad filter, native addon missing).`;

const sensorOptionSpec = {
  mon: { type: 'string' },
  inj: { type: 'string' },
  backend: { type: 'string' },
  filter: { type: 'string' },
  snaplen: { type: 'string' },
  buffer: { type: 'string' },
  'no-promisc': { type: 'boolean' },
  'tpacket-version': { type: 'string' },
  'block-timeout-ms': { type: 'string' },
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
  'kill-silence': { type: 'string' },
  metrics: { type: 'string' },
  name: { type: 'string' },
  'log-level': { type: 'string' },
  'stats-interval': { type: 'string' },
  ...intelOptionSpec,
} as const;

export async function sensorCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, sensorOptionSpec);
  if (values.help) {
    process.stdout.write(sensorHelp + '\n');
    return ExitCode.ok;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.mon) throw new UsageError('sensor needs --mon IF (the mirror interface)');
  if (!values.intel || values.intel.length === 0) throw new UsageError('sensor needs --intel FILE');
  const backend = (values.backend ?? DEFAULT_BACKEND) as CaptureBackend;
  if (!CAPTURE_BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${CAPTURE_BACKENDS.join(', ')}, got "${values.backend}"`);
  const logLevel = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(logLevel)) throw new UsageError(`--log-level "${logLevel}" is not a level`);
  const name = values.name ?? (await import('node:os')).hostname();
  const log = pino({ level: logLevel, base: { sensor: name } }, destination({ fd: 2, sync: false }));
  const killSilence = values['kill-silence'] === undefined ? 0.5 : Number(values['kill-silence']);
  if (!(killSilence > 0 && killSilence <= 60)) throw new UsageError('--kill-silence must be seconds in (0, 60]');
  const statsInterval = values['stats-interval'] === undefined ? 60 : Number(values['stats-interval']);
  if (!(statsInterval >= 0)) throw new UsageError('--stats-interval must be a number of seconds >= 0');

  const setup = await setUpIntel({ ...values, monitor: values.monitor === true || values['dry-run'] === true });
  reportLoads(log, setup.loads);
  const intel = setup.intel!;
  const fileSources = new Set<string>();
  for (const e of intel.entries()) fileSources.add(e.source);

  const sensor = new Sensor({
    capture: {
      iface: values.mon,
      filter: values.filter ?? '',
      snapLength: positiveInteger('snaplen', values.snaplen, 65535),
      bufferBytes: positiveInteger('buffer', values.buffer, 64 << 20),
      promiscuous: !values['no-promisc'],
    },
    backend,
    native: nativeTuning(values['tpacket-version'], values['block-timeout-ms']),
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
    },
    kills: { silenceSeconds: killSilence, maxRounds: setup.responder.maxRounds, giveUpSeconds: 10 },
    log,
  });

  const { canary } = await sensor.start();
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  const metricsAt = values.metrics ?? '127.0.0.1:9464';
  if (metricsAt !== 'off') {
    const { host, port } = parseListenAddress(metricsAt, '--metrics');
    metricsServer = await startMetricsServer({
      host, port,
      metrics: () => sensor.metrics.text(),
      contentType: sensor.metrics.contentType,
      health: () => health(sensor),
    });
  }
  log.info({
    event: 'start', mon: values.mon, inj: values.inj ?? values.mon, backend, filter: values.filter ?? '',
    enforcing: sensor.enforcing, intel: { entries: intel.size, version: intel.version },
    metrics: metricsServer ? `${metricsServer.address.address}:${metricsServer.address.port}` : null, canary,
  }, `sensor started on ${values.mon} (${backend}), ${intel.size} intel entries, ${sensor.enforcing ? 'enforcing' : 'MONITOR ONLY'}`);
  if (canary && !canary.sent) log.error({ event: 'canary', ...canary }, `injection self-test failed: ${canary.error}`);
  setTimeout(() => {
    if (canary?.sent) log.info({ event: 'canary', sent: true, seenOnMirror: sensor.canarySeen() }, sensor.canarySeen()
      ? 'injection self-test passed: the canary frame came back on the mirror'
      : 'injection self-test: the canary frame was sent (not seen on the mirror, normal when the injection port is not mirrored)');
  }, 500).unref();

  const statsTimer = statsInterval > 0 ? setInterval(() => log.info({ event: 'stats', ...sensor.stats() }, 'statistics'), statsInterval * 1000) : null;

  let reloading = false;
  const reload = async (): Promise<void> => {
    if (reloading) return;
    reloading = true;
    try {
      const { reconcile } = await import('../../intel/reconcile.js');
      const staging = new IntelSet();
      const loads: IntelLoadStats[] = [];
      for (const file of values.intel!) loads.push(await loadIntelFile(file, staging, { allowOverBroad: values['allow-broad'] === true }));
      reportLoads(log, loads);
      const now = Math.floor(Date.now() / 1000);
      const entries: PreparedEntry[] = [];
      const newSources = new Set<string>();
      for (const e of staging.entries()) {
        newSources.add(e.source);
        entries.push(prepareEntry({ indicator: e.indicator, id: e.id === e.indicator ? null : e.id, action: e.action, expires: e.expiresAt, source: e.source, reason: e.reason, tags: e.tags }, { nowSeconds: now }));
      }
      const scope = new Set([...fileSources, ...newSources]);
      // One synchronous step: no packet is processed between the old set and the new one.
      const result = reconcile(intel, entries, (source: string) => scope.has(source));
      fileSources.clear();
      for (const s of newSources) fileSources.add(s);
      log.info({ event: 'reload', ...result, entries: intel.size, version: intel.version }, `intel reloaded: ${result.added} added, ${result.updated} updated, ${result.removed} removed`);
    } catch (err) {
      log.error({ event: 'reload', error: (err as Error).message }, 'intel reload failed; the current set stays in force');
    } finally {
      reloading = false;
    }
  };

  return new Promise<number>((resolve) => {
    const onHup = (): void => void reload();
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

function nativeTuning(version: string | undefined, timeout: string | undefined): NativeTuning {
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

function health(sensor: Sensor): HealthReport {
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

function reportLoads(log: Logger, loads: IntelLoadStats[]): void {
  for (const load of loads) {
    for (const e of load.errors) log.warn({ event: 'intel_line', file: load.name, line: e.line, error: e.message }, `${load.name}:${e.line}: ${e.message}`);
    log.info({ event: 'intel_load', file: load.name, format: load.format, loaded: load.loaded, skipped: load.skipped, expired: load.expired }, `${load.name}: ${load.loaded} entries loaded`);
  }
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
