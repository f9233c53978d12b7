/**
 * Two network namespaces joined by a veth pair, for tests that need a real wire. Nothing touches the test
 * process's own namespace: sockets are opened inside the namespaces through the `netns` option of the native
 * capture/injection classes (the namespace files live under /run/netns).
 *
 * Names include the process id and a counter because vitest runs test files in parallel. IPv6 is off unless
 * asked for, so that an idle link carries no traffic at all (no router solicitations, MLD or DAD), and checksum
 * and segmentation offloads are off, so that frames on the wire are exactly what was sent.
 */
import { execFileSync } from 'node:child_process';

let counter = 0;

export interface VethEnd {
  /** Namespace name (for `ip netns exec NAME ...`). */
  readonly ns: string;
  /** Namespace file, for the `netns` option. */
  readonly netns: string;
  readonly iface: string;
  readonly mac: string;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}

export interface VethPair {
  readonly a: VethEnd;
  readonly b: VethEnd;
  /** Runs a command inside a namespace and returns its stdout. */
  exec(end: VethEnd, args: string[]): string;
  destroy(): void;
}

export interface VethPairOptions {
  /** Give the ends 198.18.200.1/24 and .2. */
  readonly ipv4?: boolean;
  /** Give the ends 2001:2:0:c8::1/64 and ::2 (without duplicate address detection). */
  readonly ipv6?: boolean;
}

function run(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function nsExec(ns: string, args: string[]): string {
  return run(['ip', 'netns', 'exec', ns, ...args]);
}

/** Creates the pair; on failure removes whatever it had created and rethrows. */
export function createVethPair(options: VethPairOptions = {}): VethPair {
  const id = `${process.pid}x${counter++}`;
  const nsA = `offp-nat-${id}-a`;
  const nsB = `offp-nat-${id}-b`;
  const ifA = `ov${id}a`;
  const ifB = `ov${id}b`;
  if (ifA.length > 15) throw new Error(`interface name ${ifA} too long`);
  const created: string[] = [];
  const destroy = (): void => {
    for (const ns of created.splice(0)) {
      try {
        run(['ip', 'netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (const ns of [nsA, nsB]) {
      run(['ip', 'netns', 'add', ns]);
      created.push(ns);
      // Before the veth arrives, so that it is created without IPv6.
      nsExec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    run(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    const ends: VethEnd[] = [];
    for (const [ns, iface, host] of [[nsA, ifA, 1], [nsB, ifB, 2]] as const) {
      nsExec(ns, ['ethtool', '-K', iface, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      let ipv4: string | undefined;
      let ipv6: string | undefined;
      if (options.ipv4) {
        ipv4 = `198.18.200.${host}`;
        run(['ip', '-n', ns, 'addr', 'add', `${ipv4}/24`, 'dev', iface]);
      }
      if (options.ipv6) {
        ipv6 = `2001:2:0:c8::${host}`;
        nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${iface}.disable_ipv6=0`, `net.ipv6.conf.${iface}.accept_dad=0`, `net.ipv6.conf.${iface}.router_solicitations=0`]);
        run(['ip', '-n', ns, 'addr', 'add', `${ipv6}/64`, 'dev', iface, 'nodad']);
      }
      run(['ip', '-n', ns, 'link', 'set', iface, 'up']);
      const link = run(['ip', '-n', ns, '-o', 'link', 'show', iface]);
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1];
      if (!mac) throw new Error(`no MAC address for ${iface}: ${link}`);
      ends.push({ ns, netns: `/run/netns/${ns}`, iface, mac, ipv4, ipv6 });
    }
    return {
      a: ends[0]!,
      b: ends[1]!,
      exec: (end, args) => nsExec(end.ns, args),
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}

/** Resolves once `done()` is true; rejects with `what` after `limitMs` so a broken feature fails instead of hanging. */
export async function waitFor(done: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Lets the event loop run for `ms` (to see that nothing more arrives). */
export function settle(ms = 150): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
