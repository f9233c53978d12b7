/** Plain-text tables and number formats for the readable report on stderr. */

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Text columns (the first) align left, figures align right so digits line up.
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const na = (v: number | null | undefined): v is null | undefined => v === null || v === undefined || !Number.isFinite(v);

/** 1234567 -> "1.23 M" (packets, packets per second). */
export function fmtCount(v: number | null | undefined): string {
  if (na(v)) return '-';
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

export function fmtBytes(v: number | null | undefined): string {
  if (na(v)) return '-';
  if (v >= 1024 ** 3) return `${(v / 1024 ** 3).toFixed(2)} GiB`;
  if (v >= 1024 ** 2) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v.toFixed(0)} B`;
}

export function fmtFixed(v: number | null | undefined, digits = 2, suffix = ''): string {
  return na(v) ? '-' : `${v.toFixed(digits)}${suffix}`;
}
