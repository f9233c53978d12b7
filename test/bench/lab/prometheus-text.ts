/**
 * Reads the Prometheus text exposition format (what the sensor serves on /metrics) into samples, enough for
 * tests and benchmarks to pick counters and histogram buckets by name and labels.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  return Number(text);
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1]!, labels, value: parseValue(m[4]!) });
  }
  return out;
}

export class Metrics {
  constructor(readonly samples: readonly Sample[]) {}

  static parse(text: string): Metrics {
    return new Metrics(parsePrometheusText(text));
  }

  /** Sum of every series of `name` whose labels include `labels`; 0 when there is none. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name || s.name.startsWith(`${name}_`));
  }

  /**
   * A quantile estimated from a histogram's cumulative buckets (`<name>_bucket{le}`), as Prometheus'
   * histogram_quantile does (linear inside the bucket). Null when there are no observations.
   */
  histogramQuantile(name: string, q: number): number | null {
    const buckets = this.samples
      .filter((s) => s.name === `${name}_bucket` && s.labels.le !== undefined)
      .map((s) => ({ le: parseValue(s.labels.le!), count: s.value }))
      .sort((a, b) => a.le - b.le);
    const total = buckets.length > 0 ? buckets[buckets.length - 1]!.count : 0;
    if (total === 0) return null;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (!Number.isFinite(b.le)) return prevLe;
        const inBucket = b.count - prevCount;
        return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return prevLe;
  }
}
