import { ReplayProgress, ReplaySummary, runReplay } from '../../pipeline/replay.js';
import { parseSessionTrackPath } from '../../pipeline/session-track-path.js';
import { parseTimeouts } from '../../session/timeouts.js';
import { ExitCode, UsageError } from '../../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../args.js';
import { intelOptionHelp, intelOptionSpec, setUpIntel } from '../intel-options.js';
import { bytes, count, rate } from '../format.js';

export const replayHelp = `Usage: offpath replay [options] FILE...

Runs capture files (pcap or pcapng; "-" reads standard input) through the pipeline: decode, session
table, and prints a summary. Several files are replayed in order as one stream.

Options:
  --summary-json          print one JSON object with the summary on stdout (the readable summary goes to stderr)
  --sessions OUT.jsonl    write one JSON line per session when it ends ("-" for stdout)
  --capacity N            most sessions held at once (default 1,000,000); when full, closed, half-open and
                          one-way sessions are shed first
  --timeouts LIST         idle timeouts in seconds of capture time, e.g. "tcpEstablished=7200,udpTwoWay=600";
                          classes: tcpClosed, tcpHalfOpen, udpOneWay, otherOneWay, tcpClosing, udpTwoWay,
                          otherTwoWay, tcpEstablished; "none" disables idle expiry
  --ignore-vlan           leave VLAN tags out of the session key (for mirrors where the two directions of
                          a connection carry different VLANs)
  --session-track PATH    auto (default): the native addon's per-packet path when it is built, else the
                          TypeScript one; native: the addon's or fail; js: the TypeScript one. Both give the
                          same sessions; the summary's sessionTable.track says which ran
  --no-progress           no progress line (shown on stderr only when it is a terminal)
  -q, --quiet             no readable summary
  -h, --help              this help

With --intel, sessions are matched and blocked TCP sessions get crafted resets:
  --verdicts OUT.jsonl    one JSON line per matched session when it ends: ts, 5-tuple, indicator, matched
                          side, action, guard that stopped it (if any), resets sent
  --write-rst OUT.pcap    every crafted packet (Ethernet, nanosecond pcap), stamped just after its trigger

${intelOptionHelp}

Exit codes: 0 all files read completely; 1 a file was corrupt or truncated (packets before the fault were
processed and counted); 2 bad usage; 3 no file could be read at all.`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'summary-json': { type: 'boolean' },
    sessions: { type: 'string' },
    capacity: { type: 'string' },
    timeouts: { type: 'string' },
    'ignore-vlan': { type: 'boolean' },
    'session-track': { type: 'string' },
    'no-progress': { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    verdicts: { type: 'string' },
    'write-rst': { type: 'string' },
    ...intelOptionSpec,
  } as const);
  if (values.help) {
    process.stdout.write(replayHelp + '\n');
    return ExitCode.ok;
  }
  if (positionals.length === 0) throw new UsageError('replay needs at least one capture file');
  if ((values.verdicts || values['write-rst']) && !values.intel) throw new UsageError('--verdicts and --write-rst need --intel');
  const sessionTrack = parseSessionTrackPath(values['session-track']);
  const setup = await setUpIntel(values);
  for (const load of setup.loads) {
    for (const e of load.errors) process.stderr.write(`offpath: ${load.name}:${e.line}: ${e.message}\n`);
    if (load.errorsNotKept > 0) process.stderr.write(`offpath: ${load.name}: ${load.errorsNotKept} more bad lines\n`);
  }
  const showProgress = !values['no-progress'] && process.stderr.isTTY === true;
  const summary = runReplay({
    intel: setup.intel,
    guards: setup.guards,
    responder: setup.responder,
    verdictsOut: values.verdicts,
    rstOut: values['write-rst'],
    files: positionals,
    capacity: positiveInteger('capacity', values.capacity, 1_000_000),
    timeouts: values.timeouts ? parseTimeouts(values.timeouts) : undefined,
    vlanTracking: !values['ignore-vlan'],
    sessionTrack,
    sessionsOut: values.sessions,
    onProgress: showProgress ? printProgress : undefined,
  });
  if (showProgress) process.stderr.write('\r\x1b[K');
  const intelSummary = setup.loads.map((l) => ({ file: l.name, format: l.format, loaded: l.loaded, skipped: l.skipped, expired: l.expired }));
  const output = setup.intel ? { ...summary, intel: intelSummary } : summary;
  const human = formatSummary(summary) + intelSummary.map((l) => `intel            ${l.file}: ${count(l.loaded)} loaded, ${count(l.skipped)} bad lines skipped\n`).join('');
  if (values['summary-json']) {
    process.stdout.write(JSON.stringify(output) + '\n');
    if (!values.quiet) process.stderr.write(human);
  } else if (!values.quiet) {
    process.stdout.write(human);
  }
  for (const f of summary.files) if (f.error) process.stderr.write(`offpath: ${f.error.message}\n`);
  const failed = summary.files.filter((f) => f.error).length;
  if (failed === 0) return ExitCode.ok;
  const unreadable = summary.files.filter((f) => f.error && f.format === null).length;
  return unreadable === summary.files.length ? ExitCode.input : ExitCode.partial;
}

function printProgress(p: ReplayProgress): void {
  const pct = p.size > 0 ? ` ${((100 * p.offset) / p.size).toFixed(1)}%` : '';
  const pps = p.seconds > 0 ? p.packets / p.seconds : 0;
  process.stderr.write(`\r\x1b[K[${p.fileIndex + 1}/${p.fileCount}] ${p.file}${pct}  ${count(p.packets)} packets  ${rate(pps)}packets/s`);
}

export function formatSummary(s: ReplaySummary): string {
  const lines: string[] = [];
  for (const f of s.files) {
    lines.push(`${f.path}: ${f.format ?? 'unreadable'}, ${count(f.packets)} packets, ${bytes(f.bytes)}${f.error ? `  ERROR: ${f.error.message}` : ''}`);
  }
  lines.push(`packets          ${count(s.packets)}  (${bytes(s.bytes)} captured, ${bytes(s.wireBytes)} on the wire)`);
  const errors = Object.entries(s.decodeErrors);
  const errorTotal = errors.reduce((a, [, n]) => a + n, 0);
  lines.push(`decode errors    ${count(errorTotal)}${errors.length ? '  ' + errors.map(([k, n]) => `${k}=${count(n)}`).join(' ') : ''}`);
  const anomalies = Object.entries(s.decodeAnomalies);
  if (anomalies.length) lines.push(`anomalies        ${anomalies.map(([k, n]) => `${k}=${count(n)}`).join(' ')}`);
  const noFlow = Object.entries(s.noFlow);
  if (noFlow.length) lines.push(`no flow          ${noFlow.map(([k, n]) => `${k}=${count(n)}`).join(' ')}`);
  lines.push(`sessions         tcp=${count(s.sessions.tcp)} udp=${count(s.sessions.udp)} other=${count(s.sessions.other)}  (peak ${count(s.sessionTable.peakActive)} active, ${count(s.sessionTable.evicted)} evicted, ${s.sessionTable.track} path)`);
  for (const [proto, states] of Object.entries(s.sessionStates)) {
    const entries = Object.entries(states);
    if (entries.length) lines.push(`  ${proto.padEnd(15)}${entries.map(([k, n]) => `${k}=${count(n)}`).join(' ')}`);
  }
  if (s.matches) {
    lines.push(`matches          block=${count(s.matches.block)} monitor=${count(s.matches.monitor)} allow=${count(s.matches.allow)}  resets=${count(s.rstPackets ?? 0)} icmp=${count(s.icmpPackets ?? 0)}`);
    const guards = Object.entries(s.guards ?? {});
    if (guards.length) lines.push(`guards stopped   ${guards.map(([k, n]) => `${k}=${count(n)}`).join(' ')}`);
  }
  lines.push(`time             ${s.seconds.toFixed(3)} s, ${rate(s.pps)}packets/s, peak RSS ${bytes(s.peakRssBytes)}`);
  return lines.join('\n') + '\n';
}
