/**
 * The sensor end to end, in a network-namespace lab (test/support/netns-lab.ts): real Linux TCP stacks on both
 * sides, a bridge with a mirror port, the sensor on the mirror with an injection port. Needs root and a built
 * dist/ (npx tsc -p tsconfig.json): the sensor CLI and the lab's peer programs run from there.
 *
 * Floors here are chosen not to flake on a loaded 2-core machine; the blocking benchmark measures the exact
 * figures (node dist/test/bench/run.js --only blocking).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findNativeAddon,
  intelCsv,
  labPrerequisites,
  runLoadClient,
  sensorCli,
  spawnLoadClient,
  startPeerServer,
  startSensor,
  targets,
  waitForCapture,
  type PeerServer,
  type Sensor,
} from '../bench/lab/lab-processes.js';
import { DEFAULT_PORTS } from '../bench/lab/lab-protocol.js';
import type { ConnectionRecord, LabelSummary } from '../bench/lab/load-summary.js';
import { repoRoot } from '../support/corpus.js';
import { createLab, type Lab } from '../support/netns-lab.js';

const missing = labPrerequisites(repoRoot, true);
if (missing.length > 0) throw new Error(`the sensor end-to-end test cannot run: ${missing.join('; ')}`);

/** The sensor's default backend, as its --help states it. */
function defaultBackend(): string {
  const help = spawnSync(process.execPath, [sensorCli(repoRoot), 'sensor', '--help'], { encoding: 'utf8' }).stdout ?? '';
  return /--backend NAME[\s\S]*?\(default ([a-z-]+)/.exec(help)?.[1] ?? 'cap';
}

const nativeAddon = findNativeAddon(repoRoot);
const byDefault = defaultBackend();
const needsAddon = (backend: string): boolean => backend.startsWith('native') || backend.endsWith('-rt');

interface Variant {
  title: string;
  /** undefined: no --backend option (the sensor's default). */
  backend: string | undefined;
  effective: string;
  /** More sensor options for this variant. */
  extraArgs?: string[];
}

// The default backend, then the other kind: native-tpacket when the default is not, else cap.
const variants: Variant[] = [
  { title: `default backend (${byDefault})`, backend: undefined, effective: byDefault },
  byDefault === 'native-tpacket'
    ? { title: 'backend cap', backend: 'cap', effective: 'cap' }
    : { title: 'backend native-tpacket', backend: 'native-tpacket', effective: 'native-tpacket' },
  // The packet thread under SCHED_FIFO (needs the native addon, like the native backends).
  { title: `default backend (${byDefault}), --realtime-priority 20`, backend: undefined, effective: `${byDefault}-rt`, extraArgs: ['--realtime-priority', '20'] },
];

/*
 * Floors that do not flake on this 2-vCPU VM, measured with the e2e run alone (about 98 % of blocked connections
 * reset, 30–70 % before the first byte in session 13, 2 % completing before any reset landed). Session 17 saw
 * 18.8–32 % before the first byte with the default backend, on either session path (native 24–32 %, js 20–26 % in
 * three runs each; one CI run 18.8 %): the floor is 10 %, which a sensor that stops resetting in time still fails. The goal is every connection
 * reset and none completed; the benchmark (npm run bench -- --only blocking) measures the exact fractions, and
 * test/bench/HISTORY.md ("The race itself") explains where the time goes. A sensor that stops resetting fails every
 * one of these.
 */
const BLOCKED_FLOOR_BEFORE_FIRST_BYTE = 0.1;
const BLOCKED_FLOOR_RESET = 0.9;
const BLOCKED_CEILING_COMPLETED = 0.1;
const wait = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

function describeFailures(s: LabelSummary): string {
  return `completed ${s.completed}, reset ${s.reset} (before first byte ${s.resetBeforeFirstByte}), timeout ${s.timeout}, ` +
    `closed ${s.closed}, error ${s.error} ${JSON.stringify(s.errorCodes)} of ${s.connections}`;
}

for (const variant of variants) {
  const skip = needsAddon(variant.effective) && !nativeAddon;
  const title = skip
    ? `sensor blocking, ${variant.title}: SKIPPED, the native addon is not built (npm install builds native-bindings/ with node-gyp)`
    : `sensor blocking, ${variant.title}`;

  describe.skipIf(skip)(title, () => {
    let lab: Lab;
    let server: PeerServer;
    let sensor: Sensor;
    const work = mkdtempSync(join(tmpdir(), 'offpath-e2e-'));
    const intelFile = join(work, 'intel.csv');
    // The last blocked address stays out of the intel until the SIGHUP test adds it.
    let blockedAtStart: string[] = [];
    let blockedLater = '';
    const sources = (): string[] => ['--source', [...lab.addresses.clientV4, ...lab.addresses.clientV6].join(',')];

    const writeIntel = (blocked: string[]): void => {
      // Written aside and renamed: the sensor never reads half a file.
      writeFileSync(`${intelFile}.tmp`, intelCsv(blocked));
      renameSync(`${intelFile}.tmp`, intelFile);
    };

    beforeAll(async () => {
      lab = await createLab({ tag: 'e2e' });
      blockedAtStart = [...lab.addresses.blockedV4.slice(0, -1), ...lab.addresses.blockedV6];
      blockedLater = lab.addresses.blockedV4[lab.addresses.blockedV4.length - 1]!;
      writeIntel(blockedAtStart);
      server = await startPeerServer(lab, repoRoot);
      sensor = await startSensor(lab, repoRoot, { intelFile, backend: variant.backend, name: `e2e-${variant.effective}`, extraArgs: variant.extraArgs });
      await waitForCapture(sensor, () =>
        runLoadClient(lab, repoRoot, [...targets('warm-up', 'banner', lab.addresses.allowedV4.slice(0, 1), DEFAULT_PORTS.banner), '--connections', '1']));
    }, 120_000);

    afterAll(async () => {
      await lab?.destroy();
      rmSync(work, { recursive: true, force: true });
    }, 60_000);

    it.runIf(variant.extraArgs?.includes('--realtime-priority'))('the packet thread runs under SCHED_FIFO at the priority asked for', () => {
      // /proc/PID/stat fields 40 and 41 (after the command name): rt_priority and policy, 1 = SCHED_FIFO.
      const fields = readFileSync(`/proc/${sensor.process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      expect([fields[37], fields[38]]).toEqual(['20', '1']);
    });

    it('blocked destinations: every connection reset, none completed, nearly all before the first byte; allowed ones interleaved: all succeed', async () => {
      const blockedV4 = lab.addresses.blockedV4.slice(0, -1);
      const blockedV6 = lab.addresses.blockedV6.slice(0, 1);
      const allowed = [...lab.addresses.allowedV4, lab.addresses.allowedV6[0]!];
      const r = await runLoadClient(lab, repoRoot, [
        ...targets('blocked', 'banner', [...blockedV4, ...blockedV6], DEFAULT_PORTS.banner),
        ...targets('allowed', 'banner', allowed.slice(0, 3), DEFAULT_PORTS.banner),
        ...targets('blocked', 'reqresp', [...blockedV4, ...blockedV6], DEFAULT_PORTS.reqresp),
        ...targets('allowed', 'reqresp', allowed.slice(2), DEFAULT_PORTS.reqresp),
        // 8 blocked and 6 allowed targets, 30 rounds.
        '--connections', '420', '--rate', '100', '--timeout-ms', '5000', ...sources(),
      ]);
      const blocked = r.summary.labels.blocked!;
      const ok = r.summary.labels.allowed!;
      expect(blocked.connections).toBe(240);
      expect(blocked.completed / blocked.connections, describeFailures(blocked)).toBeLessThanOrEqual(BLOCKED_CEILING_COMPLETED);
      expect(blocked.reset / blocked.connections, describeFailures(blocked)).toBeGreaterThanOrEqual(BLOCKED_FLOOR_RESET);
      expect(blocked.resetBeforeFirstByte / blocked.connections, describeFailures(blocked)).toBeGreaterThanOrEqual(BLOCKED_FLOOR_BEFORE_FIRST_BYTE);
      expect(ok.connections).toBe(180);
      expect(ok.completed, describeFailures(ok)).toBe(ok.connections);
      expect(ok.reset, 'collateral resets on allowed destinations').toBe(0);
    }, 120_000);

    it('a server that speaks first and a client that keeps sending are both killed, and the kills are confirmed in the metrics', async () => {
      const before = await sensor.metrics();
      const banner = await runLoadClient(lab, repoRoot, [
        ...targets('banner', 'banner', lab.addresses.blockedV4.slice(0, 2), DEFAULT_PORTS.banner),
        '--connections', '20', '--concurrency', '4', '--timeout-ms', '5000',
      ]);
      expect(banner.summary.total.reset, describeFailures(banner.summary.total)).toBeGreaterThanOrEqual(12);
      const sending = await runLoadClient(lab, repoRoot, [
        ...targets('sending', 'reqresp', lab.addresses.blockedV4.slice(0, 1), DEFAULT_PORTS.reqresp),
        ...targets('sending', 'banner', lab.addresses.blockedV6.slice(0, 1), DEFAULT_PORTS.banner),
        '--connections', '20', '--concurrency', '4', '--send-interval-ms', '5', '--hold-ms', '2000', '--timeout-ms', '5000',
        ...sources(),
      ]);
      expect(sending.summary.total.reset, describeFailures(sending.summary.total)).toBeGreaterThanOrEqual(18);
      expect(sending.summary.total.completed, describeFailures(sending.summary.total)).toBeLessThanOrEqual(2);

      // A kill is confirmed by a reset seen on the mirror or by the session's silence afterwards (--kill-silence,
      // 0.5 s by default): poll until the counter moves, bounded.
      const base = before.sum('offpath_kills_confirmed_total');
      let after = await sensor.metrics();
      for (let i = 0; i < 50 && after.sum('offpath_kills_confirmed_total') <= base; i++) {
        await wait(200);
        after = await sensor.metrics();
      }
      expect(after.sum('offpath_kills_confirmed_total')).toBeGreaterThan(base);
      expect(after.sum('offpath_kills_attempted_total') - before.sum('offpath_kills_attempted_total')).toBeGreaterThanOrEqual(40);
      expect(after.sum('offpath_rst_packets_sent_total')).toBeGreaterThan(before.sum('offpath_rst_packets_sent_total'));
      expect(after.sum('offpath_matches_total', { action: 'block' })).toBeGreaterThan(before.sum('offpath_matches_total', { action: 'block' }));
    }, 120_000);

    it('an indicator added to the intel file and SIGHUP kill an established chatty session and an idle one, within a second', async () => {
      const client = spawnLoadClient(lab, repoRoot, [
        '--target', `late/chatty/${blockedLater}/${DEFAULT_PORTS.chatty}`,
        '--target', `late/idle/${blockedLater}/${DEFAULT_PORTS.idle}`,
        '--connections', '2', '--concurrency', '2', '--hold-ms', '120000', '--timeout-ms', '10000', '--events',
      ]);
      try {
        const connected = (id: number): Promise<string> => client.waitForLine((l) => l.startsWith('{"event":"connected"') && l.includes(`"id":${id},`), 15_000);
        await Promise.all([connected(0), connected(1)]);
        await client.waitForLine((l) => l.startsWith('{"event":"first-byte"') && l.includes('"id":0,'), 15_000);
        // Both sessions established and known to the sensor; the idle one has been silent for a while, so its
        // sequence numbers are not fresh: the sensor must learn them (probe) before it can kill.
        await wait(1500);
        expect(client.stdout()).not.toContain('{"conn"');
        const versionBefore = (await sensor.metrics()).sum('offpath_intel_version');

        writeIntel([...blockedAtStart, blockedLater]);
        const reloadedAt = sensor.reload();
        // The reload itself first (a clear failure if the sensor did not take the new file), bounded.
        let version = versionBefore;
        for (let i = 0; i < 25 && version === versionBefore; i++) {
          await wait(200);
          version = (await sensor.metrics()).sum('offpath_intel_version');
        }
        expect(version, `offpath_intel_version did not change after SIGHUP; sensor log: ${sensor.process.stderr().slice(-1500)}`).not.toBe(versionBefore);
        const ended = (id: number): Promise<ConnectionRecord> =>
          client.waitForLine((l) => l.startsWith('{"conn"') && l.includes(`"id":${id},`), 20_000).then((l) => (JSON.parse(l) as { conn: ConnectionRecord }).conn);
        const [chatty, idle] = await Promise.all([ended(0), ended(1)]);

        for (const conn of [chatty, idle]) {
          expect(conn.outcome, `${conn.service}: ${JSON.stringify(conn)}`).toBe('reset');
          // The behaviour is "within one second"; the slack absorbs a loaded machine (the benchmark measures).
          expect(conn.tEnd - reloadedAt, `${conn.service} reset ${(conn.tEnd - reloadedAt).toFixed(0)} ms after SIGHUP`).toBeLessThan(3000);
        }
        expect(chatty.appBytes).toBeGreaterThan(0);
        expect(idle.appBytes).toBe(0);
      } finally {
        await client.stop('SIGTERM', 5000);
      }
      // No collateral: allowed traffic still flows after the reload.
      const after = await runLoadClient(lab, repoRoot, [
        ...targets('allowed', 'banner', lab.addresses.allowedV4, DEFAULT_PORTS.banner), '--connections', '12', '--concurrency', '4',
      ]);
      expect(after.summary.total.completed, describeFailures(after.summary.total)).toBe(12);
    }, 120_000);

    it('SIGTERM drains and prints the final statistics as one JSON object on stdout', async () => {
      const { exit, finalStats } = await sensor.stop();
      expect(exit.code).toBe(0);
      const stdout = sensor.process.stdout().trim();
      expect(stdout.split('\n')).toHaveLength(1);
      expect(finalStats).not.toBeNull();
      expect(typeof finalStats).toBe('object');
      await server.stop();
    }, 60_000);
  });
}
