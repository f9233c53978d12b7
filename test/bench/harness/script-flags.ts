/**
 * Flags of a standalone benchmark script (flags only, no values): `--help` prints its usage and exits 0, and an
 * unknown flag exits 2 naming it, rather than starting a run of many minutes that ignores it.
 */
export function scriptFlags(usage: string, known: readonly string[]): Set<string> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const unknown = args.find((a) => !known.includes(a));
  if (unknown !== undefined) {
    process.stderr.write(`unknown option ${unknown}\n${usage}`);
    process.exit(2);
  }
  return new Set(args);
}
