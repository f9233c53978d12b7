/** Command line of `npm run bench` / `node dist/test/bench/run.js`. */

export interface BenchOptions {
  /** Parts to run (names); empty = all registered parts. */
  only: string[];
  /** Synthetic capture size. */
  packets: number;
  flows: number;
  seed: number;
  /** Smaller captures, for checking that the benchmark still works rather than for numbers. */
  quick: boolean;
  /** Timed runs per tool and capture; the best is kept. */
  runs: number;
  /** Pin measured processes to one CPU (taskset), so "per core" figures mean one core. */
  pin: boolean;
  /** CPU to pin to; default: the last one. */
  cpu: number | undefined;
  /** Replays of the small repository captures are concatenated up to at least this many packets. */
  minReplayPackets: number;
  /** Per timed run. */
  timeoutSeconds: number;
  /** Extra arguments for node when running the offpath CLI (e.g. --max-old-space-size=8192). */
  nodeArgs: string[];
  /** Where the small real-world captures are; default: pcaps/ in the repository. */
  pcapsDir: string | undefined;
  /** Another build of the CLI to measure instead of dist/src/cli/main.js (e.g. a baseline checkout). */
  offpathCli: string | undefined;
  help: boolean;
}

export const FULL_DEFAULTS = { packets: 5_000_000, flows: 1_000_000, minReplayPackets: 1_000_000 } as const;
export const QUICK_DEFAULTS = { packets: 500_000, flows: 100_000, minReplayPackets: 200_000 } as const;

export const USAGE = `usage: node dist/test/bench/run.js [options]

  --only PART[,PART]   run only these parts (see the list below); may be repeated
  --packets N          synthetic capture: packets (default ${FULL_DEFAULTS.packets}, --quick ${QUICK_DEFAULTS.packets})
  --flows N            synthetic capture: flows (default ${FULL_DEFAULTS.flows}, --quick ${QUICK_DEFAULTS.flows})
  --seed N             synthetic capture: seed (default 1)
  --quick              small captures: checks that the benchmark works, numbers are indicative only
  --runs N             timed runs per tool and capture, best kept (default 3)
  --no-pin             do not pin measured processes to one CPU
  --cpu N              CPU to pin to (default: the last one)
  --min-replay-packets N  repository captures are concatenated up to this many packets
                       (default ${FULL_DEFAULTS.minReplayPackets}, --quick ${QUICK_DEFAULTS.minReplayPackets})
  --timeout S          seconds allowed per timed run (default 600)
  --node-arg ARG       extra node option for the offpath process; may be repeated
  --pcaps-dir DIR      take *.pcap / *.pcapng from DIR instead of the repository's pcaps/
  --offpath-cli PATH   measure this main.js instead of dist/src/cli/main.js
  -h, --help           this text

stdout: one JSON object with every figure; stderr: progress and tables. The same JSON is written to
bench-results.json in a new temp directory, whose path is printed at the end.`;

export class UsageError extends Error {}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let quick = false;
  let packets: number | undefined;
  let flows: number | undefined;
  let minReplay: number | undefined;
  const o: BenchOptions = {
    only: [],
    packets: 0,
    flows: 0,
    seed: 1,
    quick: false,
    runs: 3,
    pin: true,
    cpu: undefined,
    minReplayPackets: 0,
    timeoutSeconds: 600,
    nodeArgs: [],
    offpathCli: undefined,
    pcapsDir: undefined,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const arg = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    let inline: string | undefined = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) {
        const v = inline;
        inline = undefined;
        return v;
      }
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const count = (min = 1): number => {
      const v = value();
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${arg}: expected an integer >= ${min}, got "${v}"`);
      return n;
    };
    switch (arg) {
      case '--only':
        o.only.push(...value().split(',').map((s) => s.trim()).filter((s) => s.length > 0));
        break;
      case '--packets':
        packets = count();
        break;
      case '--flows':
        flows = count();
        break;
      case '--seed':
        o.seed = count(0);
        break;
      case '--quick':
        quick = true;
        break;
      case '--runs':
        o.runs = count();
        break;
      case '--no-pin':
        o.pin = false;
        break;
      case '--cpu':
        o.cpu = count(0);
        break;
      case '--min-replay-packets':
        minReplay = count();
        break;
      case '--timeout':
        o.timeoutSeconds = count();
        break;
      case '--node-arg':
        o.nodeArgs.push(value());
        break;
      case '--pcaps-dir':
        o.pcapsDir = value();
        break;
      case '--offpath-cli':
        o.offpathCli = value();
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new UsageError(`unknown option ${raw}`);
    }
    if (inline !== undefined) throw new UsageError(`${arg} takes no value`);
  }
  const d = quick ? QUICK_DEFAULTS : FULL_DEFAULTS;
  o.quick = quick;
  o.packets = packets ?? d.packets;
  o.flows = flows ?? Math.min(d.flows, o.packets);
  o.minReplayPackets = minReplay ?? d.minReplayPackets;
  if (o.flows > o.packets) throw new UsageError(`--flows (${o.flows}) cannot exceed --packets (${o.packets})`);
  return o;
}
