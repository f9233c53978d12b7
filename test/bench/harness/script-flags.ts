/**
 * Options of a standalone benchmark script: `--help` prints its usage and exits 0, and an unknown option or a bad
 * value exits 2 naming it, rather than starting a run of many minutes that ignores it.
 */

/** An option that takes a value: what the value must look like, and how the error describes it. */
export interface ValuedOption {
  readonly pattern: RegExp;
  readonly what: string;
}

/** Checks the command line; returns its arguments (flags and values) for `.has()`. */
export function scriptFlags(usage: string, known: readonly string[], valued: Readonly<Record<string, ValuedOption>> = {}): Set<string> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (known.includes(a)) continue;
    const option = Object.hasOwn(valued, a) ? valued[a]! : undefined;
    if (option !== undefined && option.pattern.test(args[i + 1] ?? '')) {
      i++;
      continue;
    }
    const why = option === undefined ? `unknown option ${a}` : `${a} needs ${option.what}, got ${JSON.stringify(args[i + 1] ?? '')}`;
    process.stderr.write(`${why}\n${usage}`);
    process.exit(2);
  }
  return new Set(args);
}
