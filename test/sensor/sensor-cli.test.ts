import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FileTokenStore } from '../../src/api/auth/file-token-store.js';

const CLI = resolve('dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'offpath-sensor-cli-'));
chmodSync(dir, 0o755);
const intel = join(dir, 'intel.txt'); // world-readable: one test runs the sensor as nobody
writeFileSync(intel, '198.18.1.1\n');

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, 'sensor', ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('offpath sensor: usage and environment errors', () => {
  test('--help documents every option', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const option of ['--mon', '--inj', '--backend', '--filter', '--snaplen', '--buffer', '--inj-mode', '--next-hop-mac', '--vlan-client', '--dry-run', '--metrics', '--intel', '--kill-silence', 'SIGHUP']) {
      expect(r.stdout).toContain(option);
    }
  });

  test('missing --mon or --intel, an unknown backend, a bad MAC: exit 2 with a message', () => {
    expect(run(['--intel', intel]).status).toBe(2);
    expect(run(['--mon', 'lo']).status).toBe(2);
    const backend = run(['--mon', 'lo', '--intel', intel, '--backend', 'dpdk']);
    expect(backend.status).toBe(2);
    expect(backend.stderr).toMatch(/--backend must be one of cap, native-pcap, native-tpacket/);
    const mac = run(['--mon', 'lo', '--intel', intel, '--next-hop-mac', 'zz:zz']);
    expect(mac.status).toBe(2);
    expect(mac.stderr).toMatch(/not a MAC address/);
    // Checked before anything is opened: a bad name once stopped the fleet link after capture had started,
    // leaving a process that captured and blocked without its SIGHUP handler.
    const name = run(['--mon', 'lo', '--intel', intel, '--name', 'bad+name', '--metrics', 'off']);
    expect(name.status).toBe(2);
    expect(name.stderr).toMatch(/--name: sensor name "bad\+name" must be 1-64 letters/);
  });

  test('a missing interface: exit 4, named, with what to do', () => {
    const r = run(['--mon', 'offpath-nope0', '--intel', intel, '--backend', 'cap', '--metrics', 'off']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/offpath-nope0: no such network interface \(check the name with "ip link"\)/);
  });

  test('without CAP_NET_RAW: exit 4, says which capability and how to grant it', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, 'sensor',
      '--mon', 'lo', '--intel', intel, '--backend', 'cap', '--metrics', 'off', '--inj-mode', 'observed'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/lo: cannot capture: .*Operation not permitted \(run as root or grant the capability: setcap cap_net_raw/);
  });

  test('a bad capture filter: exit 4, said to be the filter', () => {
    const r = run(['--mon', 'lo', '--intel', intel, '--backend', 'cap', '--filter', 'tcp port ((( nonsense', '--metrics', 'off', '--inj-mode', 'observed']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/lo: cannot capture: .*syntax error.*tcpdump -d FILTER/);
  });

  test('starts, serves /metrics, /healthz and its heartbeat, stops on SIGTERM with the final statistics as JSON on stdout', async () => {
    const tokens = new FileTokenStore(join(dir, 'tokens.json'), { watch: false, create: true });
    const { token } = await tokens.create({ name: 'reader', scope: 'read', createdBy: 'cli:test' });
    await tokens.close();
    const child = spawn(process.execPath, [CLI, 'sensor', '--mon', 'lo', '--intel', intel, '--backend', 'cap', '--inj-mode', 'observed', '--metrics', '127.0.0.1:0',
      '--api', '127.0.0.1:0', '--api-tokens', join(dir, 'tokens.json'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const started = await waitFor(() => /"event":"start".*"metrics":"127\.0\.0\.1:(\d+)"/.exec(stderr), 20_000);
      const port = Number(started[1]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const name of ['offpath_packets_captured_total', 'offpath_capture_drops_total', 'offpath_sessions_active', 'offpath_kills_attempted_total',
        'offpath_trigger_to_injection_seconds_bucket', 'offpath_injection_to_kill_seconds_bucket', 'offpath_intel_entries', 'offpath_intel_version']) {
        expect(metrics).toContain(name);
      }
      expect(metrics).toMatch(/offpath_intel_entries\{kind="ipv4",action="block"\} 1/);
      // The cap binding cannot count kernel drops: no series (unknown), rather than a 0 that reads as none lost.
      expect(metrics).toMatch(/offpath_capture_drops_total\{where="interface"\} \d+/);
      expect(metrics).not.toContain('offpath_capture_drops_total{where="kernel"}');
      // Its heartbeat says the same: drops without the kernel's, flagged as such.
      const api = /"event":"api","url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)![1]!;
      const sensors = (await (await fetch(`${api}/v1/sensors`, { headers: { authorization: `Bearer ${token}` } })).json()) as { sensors: unknown[] };
      expect(sensors.sensors).toEqual([expect.objectContaining({ interfaces: ['lo'], kernelDropsUnknown: true, status: 'up' })]);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', enforcing: true, intel: { entries: 1 } });
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    expect(code).toBe(0);
    const stats = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(stats).toMatchObject({ backend: 'cap', intel: { entries: 1 } });
    expect(stats).toHaveProperty('kills');
    // Every log line on stderr is JSON, apart from the warnings libpcap itself prints through the cap binding.
    for (const line of stderr.split('\n').filter((l) => l && !l.startsWith('Warning:'))) expect(() => JSON.parse(line)).not.toThrow();
  }, 60_000);
});

async function waitFor<T>(probe: () => T | null | undefined, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
