import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

/**
 * --realtime-priority: the packet thread really runs under SCHED_FIFO at the priority asked for, an unprivileged
 * user gets a typed error that names the capability, and the CLI refuses bad values and the busy-poll combination.
 * Each case runs in a child process (a test must not change the scheduling of the test runner itself).
 */
const module = fileURLToPath(new URL('../../dist/src/pipeline/realtime-priority.js', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

function runScript(script: string, asNobody = false): { status: number | null; stdout: string; stderr: string } {
  const node = [process.execPath, '--input-type=module', '-e', script];
  const [command, args] = asNobody ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...node]] : [node[0]!, node.slice(1)];
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('real-time priority of the packet thread', () => {
  test('puts the calling thread under SCHED_FIFO at the priority given', () => {
    // /proc/thread-self/stat fields 40 and 41: rt_priority and policy (1 = SCHED_FIFO).
    const r = runScript(`
      import { readFileSync } from 'node:fs';
      import { useRealtimePriority } from ${JSON.stringify(module)};
      const fields = () => readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
      const before = fields();
      useRealtimePriority(7);
      const after = fields();
      console.log(JSON.stringify({ before: [before[37], before[38]], after: [after[37], after[38]] }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { before: string[]; after: string[] };
    expect(out.before).toEqual(['0', '0']);
    expect(out.after).toEqual(['7', '1']);
  });

  test('an unprivileged user gets a typed error naming CAP_SYS_NICE', () => {
    const r = runScript(`
      import { useRealtimePriority } from ${JSON.stringify(module)};
      try { useRealtimePriority(10); console.log('accepted'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    `, true);
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('scheduling');
    expect(out.message).toMatch(/refused real-time priority 10: Operation not permitted/);
    expect(out.message).toMatch(/CAP_SYS_NICE/);
  });

  test('refuses priorities outside 1-99', () => {
    const r = runScript(`
      import { useRealtimePriority } from ${JSON.stringify(module)};
      for (const p of [0, 100, 1.5, -3]) { try { useRealtimePriority(p); console.log('accepted', p); } catch (e) { console.log(e.code); } }
    `);
    expect(r.stdout.trim().split('\n')).toEqual(['scheduling', 'scheduling', 'scheduling', 'scheduling']);
  });

  test('the sensor CLI rejects a bad value and the busy-poll combination with a usage error (exit 2)', () => {
    for (const extra of [['--realtime-priority', '0'], ['--realtime-priority', 'high'], ['--realtime-priority', '10', '--busy-poll']]) {
      const r = spawnSync(process.execPath, [cli, 'sensor', '--mon', 'lo', '--intel', '/dev/null', '--metrics', 'off', ...extra], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${extra.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--realtime-priority/);
    }
  });
});
