/**
 * Reads what `offpath replay --summary-json FILE` prints: one JSON object. Missing or mistyped fields are
 * reported by name rather than thrown, so one field renamed in the CLI does not lose the rest of the figures.
 */

export interface OffpathSummary {
  packets: number | null;
  bytes: number | null;
  decodeErrors: Record<string, number> | null;
  sessions: { tcp: number | null; udp: number | null; other: number | null } | null;
  /** Wall time of the pipeline, measured inside the process (excludes node start-up). */
  seconds: number | null;
  pps: number | null;
  peakRssBytes: number | null;
  sessionTable: { capacity: number | null; bytesPerSession: number | null } | null;
}

export interface ParsedSummary {
  summary: OffpathSummary | null;
  /** The whole object as printed, kept in the results for fields this harness does not know. */
  raw: unknown;
  problems: string[];
}

export function parseOffpathSummary(stdout: string): ParsedSummary {
  const raw = parseJsonObject(stdout);
  if (raw === undefined) {
    const shown = stdout.trim().slice(0, 200);
    return { summary: null, raw: null, problems: [`stdout is not one JSON object: ${shown ? `"${shown}"` : 'empty'}`] };
  }
  const problems: string[] = [];
  const obj = raw as Record<string, unknown>;
  const num = (o: Record<string, unknown> | null, key: string, path = key): number | null => {
    const v = o?.[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    problems.push(`field ${path} ${v === undefined ? 'missing' : `is not a number (${JSON.stringify(v)})`}`);
    return null;
  };
  const sub = (key: string): Record<string, unknown> | null => {
    const v = obj[key];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    problems.push(`field ${key} ${v === undefined ? 'missing' : 'is not an object'}`);
    return null;
  };

  const decodeRaw = sub('decodeErrors');
  let decodeErrors: Record<string, number> | null = null;
  if (decodeRaw) {
    decodeErrors = {};
    for (const [k, v] of Object.entries(decodeRaw)) {
      if (typeof v === 'number') decodeErrors[k] = v;
      else problems.push(`field decodeErrors.${k} is not a number`);
    }
  }
  const sessionsRaw = sub('sessions');
  const tableRaw = sub('sessionTable');
  const summary: OffpathSummary = {
    packets: num(obj, 'packets'),
    bytes: num(obj, 'bytes'),
    decodeErrors,
    sessions: sessionsRaw
      ? {
          tcp: num(sessionsRaw, 'tcp', 'sessions.tcp'),
          udp: num(sessionsRaw, 'udp', 'sessions.udp'),
          other: num(sessionsRaw, 'other', 'sessions.other'),
        }
      : null,
    seconds: num(obj, 'seconds'),
    pps: num(obj, 'pps'),
    peakRssBytes: num(obj, 'peakRssBytes'),
    sessionTable: tableRaw
      ? {
          capacity: num(tableRaw, 'capacity', 'sessionTable.capacity'),
          bytesPerSession: num(tableRaw, 'bytesPerSession', 'sessionTable.bytesPerSession'),
        }
      : null,
  };
  return { summary, raw, problems };
}

/** The whole output as one object, or failing that its last line that is one (tolerates stray log lines). */
function parseJsonObject(text: string): object | undefined {
  const attempt = (s: string): object | undefined => {
    try {
      const v: unknown = JSON.parse(s);
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  };
  const whole = attempt(text.trim());
  if (whole) return whole;
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  for (let i = lines.length - 1; i >= 0; i--) {
    const v = attempt(lines[i]!);
    if (v) return v;
  }
  return undefined;
}

export function sumDecodeErrors(errors: Record<string, number> | null): number | null {
  if (!errors) return null;
  return Object.values(errors).reduce((a, b) => a + b, 0);
}
