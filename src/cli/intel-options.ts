import { readFileSync } from 'node:fs';
import { IntelSet } from '../intel/intel-set.js';
import { DEFAULT_BREADTH_POLICY } from '../intel/breadth.js';
import { loadIntelFile, type IntelLoadOptions, type IntelLoadStats } from '../intel/intel-file.js';
import { DEFAULT_CIRCUIT_BREAKER } from '../respond/guards/circuit-breaker.js';
import { DEFAULT_GUARDS, GuardOptions } from '../respond/guards/guard-policy.js';
import { DEFAULT_RESPONDER, ResponderOptions } from '../respond/responder.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { OptionSpec, positiveInteger } from './args.js';

/** Options shared by every command that matches intel and responds (replay now, sensor later). */
export const intelOptionSpec = {
  intel: { type: 'string', multiple: true },
  'allow-broad': { type: 'boolean' },
  'min-prefix-v4': { type: 'string' },
  'min-prefix-v6': { type: 'string' },
  monitor: { type: 'boolean' },
  'monitor-source': { type: 'string', multiple: true },
  'never-block': { type: 'string', multiple: true },
  'rst-rate': { type: 'string' },
  'rst-rate-target': { type: 'string' },
  'no-circuit-breaker': { type: 'boolean' },
  'hold-down': { type: 'string' },
  'max-rounds': { type: 'string' },
  'udp-icmp': { type: 'boolean' },
} as const satisfies OptionSpec;

export const intelOptionHelp = `Intel and response:
  --intel FILE            threat intel to match (plain list, CSV with header, or JSON lines; repeatable);
                          a bad line is reported with its number and skipped
  --min-prefix-v4 N       block CIDRs shorter than /N are refused at load (default 16)
  --min-prefix-v6 N       the same for IPv6 (default 32)
  --allow-broad           load block CIDRs broader than those minimums anyway (the explicit "force")
  --monitor               monitor (dry-run) mode: decide and log, send nothing
  --monitor-source NAME   entries from this intel source only alert (repeatable)
  --never-block LIST      addresses or CIDRs never reset whatever the intel says (management, gateways,
                          DNS): comma-separated, or @FILE with one per line (repeatable)
  --rst-rate N            most resets sent per second, all targets together (default 10000)
  --rst-rate-target N     most resets per second to one address (default 200)
  --no-circuit-breaker    do not drop to monitor mode when blocks surge far above their recent rate
  --hold-down SECONDS     after a block, kill new TCP connections from the same client to the same server
                          address and port on their SYN for this long (default 60)
  --max-rounds N          reset rounds per session: the first plus re-injections (default 6)
  --udp-icmp              answer blocked UDP with ICMP administratively-prohibited (rate-capped)`;

export interface IntelSetup {
  intel: IntelSet | undefined;
  loads: IntelLoadStats[];
  /** What the files were loaded with (a reload uses the same). */
  loadOptions: IntelLoadOptions;
  guards: GuardOptions;
  responder: ResponderOptions;
}

type Values = { [K in keyof typeof intelOptionSpec]?: (typeof intelOptionSpec)[K] extends { multiple: true } ? string[] : (typeof intelOptionSpec)[K]['type'] extends 'boolean' ? boolean : string };

export async function setUpIntel(values: Values): Promise<IntelSetup> {
  let intel: IntelSet | undefined;
  const loads: IntelLoadStats[] = [];
  const breadth = {
    ...DEFAULT_BREADTH_POLICY,
    minPrefixV4: prefixOption('min-prefix-v4', values['min-prefix-v4'], DEFAULT_BREADTH_POLICY.minPrefixV4, 32),
    minPrefixV6: prefixOption('min-prefix-v6', values['min-prefix-v6'], DEFAULT_BREADTH_POLICY.minPrefixV6, 128),
  };
  const loadOptions: IntelLoadOptions = { allowOverBroad: values['allow-broad'] === true, breadth };
  if (values.intel && values.intel.length > 0) {
    intel = new IntelSet();
    for (const file of values.intel) loads.push(await loadIntelFile(file, intel, loadOptions));
  }
  let neverBlock: IntelSet | null = null;
  if (values['never-block'] && values['never-block'].length > 0) {
    neverBlock = new IntelSet();
    for (const spec of values['never-block']) {
      const items = spec.startsWith('@') ? readList(spec.slice(1)) : spec.split(',');
      for (const item of items.map((x) => x.trim()).filter(Boolean)) {
        try {
          neverBlock.upsert({ indicator: item, action: 'allow', source: 'never-block' });
        } catch (err) {
          throw new ConfigError(`--never-block: ${(err as Error).message}`);
        }
      }
    }
  }
  const globalRate = positiveInteger('rst-rate', values['rst-rate'], DEFAULT_GUARDS.globalRate);
  const targetRate = positiveInteger('rst-rate-target', values['rst-rate-target'], DEFAULT_GUARDS.targetRate);
  const guards: GuardOptions = {
    ...DEFAULT_GUARDS,
    monitor: values.monitor === true,
    monitorSources: new Set(values['monitor-source'] ?? []),
    neverBlock,
    globalRate,
    globalBurst: globalRate * 2,
    targetRate,
    targetBurst: targetRate * 2,
    circuitBreaker: values['no-circuit-breaker'] ? null : DEFAULT_CIRCUIT_BREAKER,
  };
  const holdDown = values['hold-down'] === undefined ? DEFAULT_RESPONDER.holdDownSeconds : Number(values['hold-down']);
  if (!Number.isFinite(holdDown) || holdDown < 0) throw new UsageError(`--hold-down must be a number of seconds >= 0, got "${values['hold-down']}"`);
  const responder: ResponderOptions = {
    ...DEFAULT_RESPONDER,
    holdDownSeconds: holdDown,
    maxRounds: positiveInteger('max-rounds', values['max-rounds'], DEFAULT_RESPONDER.maxRounds),
    udpIcmp: values['udp-icmp'] === true,
  };
  return { intel, loads, loadOptions, guards, responder };
}

function prefixOption(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} must be a prefix length from 0 to ${max}, got "${value}"`);
  return n;
}

function readList(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').map((l) => l.replace(/#.*/, ''));
  } catch (err) {
    throw new ConfigError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
