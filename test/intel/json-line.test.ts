import { describe, expect, it } from 'vitest';
import { PlainJsonLineReader, plainIdStart, plainIndicatorEnd, plainIndicatorStart } from '../../src/intel/json-line.js';
import { pick, prng, randInt } from './helpers.js';

const FIELDS = ['indicator', 'action', 'expires', 'source', 'reason', 'tags', 'id'] as const;

/** JSON.parse's reading of a line, as the loader's JSON path takes it, or null when that is not an object. */
function reference(line: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A random JSON-ish line: plain shapes, and every way of leaving them (escapes, order, types, keys, damage). */
function randomLine(rand: () => number): string {
  // Half the lines are plain ones written by a careful tool; the other half leave that shape in one way or more.
  const odd = rand() < 0.5 ? 0 : 1;
  const text = (): string => {
    const parts = ['198.18.0.1', 'block', '7d', 'feed-1', 'botnet C2', 'c2', 'tier 1', '', 'é€😀', '2001:db8::1', '198.18.0.0/16'];
    let s = pick(rand, parts);
    const r = odd * rand() + (1 - odd);
    if (r < 0.06) s += '\\"';
    else if (r < 0.1) s += '\\\\';
    else if (r < 0.14) s += '\\u0041';
    else if (r < 0.17) s += '\\n';
    else if (r < 0.2) s += String.fromCharCode(randInt(rand, 32)); // raw control character: not JSON
    else if (r < 0.22) s += '\u2028';
    return `"${s}"`;
  };
  const value = (key: string): string => {
    const r = rand();
    if (key === 'tags' && r < 0.4) {
      const n = randInt(rand, 4);
      const sep = pick(rand, [',', ', ', ' ,\t']);
      return `[${pick(rand, ['', ' '])}${Array.from({ length: n }, text).join(sep)}${pick(rand, ['', ' '])}]`;
    }
    if (odd === 0 && !(FIELDS as readonly string[]).includes(key)) return pick(rand, [text(), '42', '-1.5e3', 'true', 'null']);
    if (r < 0.8 || odd === 0) return text();
    return pick(rand, ['7', '-0.5e+2', '01', '1.', '1e3', 'null', 'true', 'truex', '{}', '["a"]', '[1]', '{"a":"b"}', '""', '"', '[']);
  };
  let keys: string[] = ['indicator', ...FIELDS.slice(1).filter(() => rand() < 0.6)];
  if (odd && rand() < 0.15) keys = keys.sort(() => rand() - 0.5); // another order
  // Unknown keys (also in plain lines: the reader takes them when their values are scalars), or a repeated one.
  for (let k = rand() < 0.3 ? 1 + randInt(rand, 3) : 0; k > 0; k--) {
    keys.splice(1 + randInt(rand, keys.length), 0, pick(rand, odd ? [...FIELDS, 'extra', '__proto__', 'tagsx', 'first_seen'] : ['extra', 'first_seen', 'confidence']));
  }
  if (odd && rand() < 0.05) keys.shift(); // no indicator
  const ws = (): string => (rand() < 0.8 ? '' : odd ? pick(rand, [' ', '\t', '  ', '\r', '\u00a0']) : pick(rand, [' ', '\t']));
  let line = `${ws()}{${ws()}${keys.map((k) => `"${k}"${ws()}:${ws()}${value(k)}`).join(`${ws()},${ws()}`)}${ws()}}${ws()}`;
  if (odd && rand() < 0.1) {
    const at = randInt(rand, line.length + 1);
    line = rand() < 0.5 ? line.slice(0, at) + line.slice(at + 1) : line.slice(0, at) + pick(rand, ['"', ',', '\\', '}', ' ', 'x']) + line.slice(at);
  }
  return line;
}

describe('plain JSON lines (read without JSON.parse)', () => {
  it('gives exactly what JSON.parse gives for every line it reads, on random lines', () => {
    const rand = prng(20261123);
    const reader = new PlainJsonLineReader();
    let read = 0;
    let ids = 0;
    for (let i = 0; i < 30_000; i++) {
      const line = randomLine(rand);
      const fields = reader.read(line);
      if (fields === null) continue;
      read++;
      const ref = reference(line);
      expect(ref, line).not.toBeNull();
      for (const key of FIELDS) expect(fields[key], `${key} of ${line}`).toEqual(ref![key]);
      // The split a loader makes for its tail memo agrees with the expression's reading of the indicator.
      const start = plainIndicatorStart(line);
      const end = start > 0 ? plainIndicatorEnd(line, start) : -1;
      if (end > 0) expect(line.slice(start, end)).toBe(fields.indicator);
      // So does the split before a final id: what it cuts out is the id the expression read.
      const id = end > 0 ? plainIdStart(line, end) : -1;
      if (id >= 0) {
        expect(line.slice(id, -2), line).toBe(fields.id);
        ids++;
      }
    }
    expect(ids).toBeGreaterThan(1_000);
    // Enough of the random lines are plain for the comparison to mean something.
    expect(read).toBeGreaterThan(5_000);
  }, 30_000);

  it('finds a final id only where the line ends with its id member and a plain string', () => {
    const at = (line: string): number => plainIdStart(line, plainIndicatorEnd(line, plainIndicatorStart(line)));
    const idOf = (line: string): string | null => (at(line) < 0 ? null : line.slice(at(line), -2));
    expect(idOf('{"indicator":"198.18.0.1","source":"f","id":"ioc-1"}')).toBe('ioc-1');
    expect(idOf('{"indicator": "198.18.0.1", "source": "f", "id": "ioc 2"}')).toBe('ioc 2');
    expect(idOf('{"indicator":"198.18.0.1","id":""}')).toBe('');
    expect(idOf('{"indicator":"198.18.0.1","id":"ioc-1","confidence":90}')).toBeNull();
    expect(idOf('{"indicator":"198.18.0.1","id":"a\\"b"}')).toBeNull(); // an escape
    expect(idOf('{"indicator":"198.18.0.1","id":"a\tb"}')).toBeNull(); // a raw control character
    expect(idOf('{"indicator":"198.18.0.1","id":17}')).toBeNull();
    expect(idOf('{"indicator":"198.18.0.1","note":"ioc-1"}')).toBeNull();
    expect(idOf('{"indicator":"198.18.0.1","id" : "ioc-1"}')).toBeNull(); // another spacing
    expect(idOf('{"indicator":"198.18.0.1","id":"ioc-1"} ')).toBeNull();
    // The id key may not reach back into the indicator (not JSON at all: the indicator would end with a comma).
    expect(idOf('{"indicator":"198.18.0.1,"id":"ioc-1"}')).toBeNull();
    expect(idOf('{"indicator": "198.18.0.1, "id": "ioc-1"}')).toBeNull();
  });

  it('reads the shapes feeds write, and leaves every other shape to JSON.parse', () => {
    const reader = new PlainJsonLineReader();
    expect(reader.read('{"indicator":"198.18.0.1","action":"block","tags":["c2","tier-1"]}')).toEqual({
      indicator: '198.18.0.1', action: 'block', expires: undefined, source: undefined, reason: undefined, tags: ['c2', 'tier-1'], id: undefined,
    });
    expect(reader.read('{"indicator": "198.18.0.1", "source": "feed", "tags": [], "id": "x-1"}')).toMatchObject({ source: 'feed', tags: [], id: 'x-1' });
    expect(reader.read('{"indicator":"a","tags":"c2;tier-1"}')).toMatchObject({ tags: 'c2;tier-1' });
    // Keys the loader ignores, with scalar values, anywhere after the indicator.
    expect(reader.read('{"indicator":"a","first_seen":"2026-11-01","action":"monitor","confidence":-0.5e+2,"ok":true,"n":null}')).toMatchObject({ indicator: 'a', action: 'monitor' });
    for (const other of [
      '{"action":"block","indicator":"198.18.0.1"}', // another order
      '{"indicator":"198.18.0.1","indicator":"198.18.0.2"}', // a repeated key: JSON.parse keeps the last
      '{"indicator":"198.18.0.1","expires":86400}', // a number
      '{"indicator":"198.18\\u002e0.1"}', // an escape
      '{"indicator":"198.18.0.1","extra":{"x":1}}', // an unknown key with a nested value
      '{"indicator":"198.18.0.1","extra":01}', // not a JSON number
      '{"indicator":"198.18.0.1","ind\\u0069cator":"198.18.0.2"}', // an escaped key (here the indicator again)
      '{"first_seen":"x","indicator":"198.18.0.1"}', // the indicator not first
      '{"indicator":"198.18.0.1"', // not JSON
      '\ufeff{"indicator":"198.18.0.1"}', // a byte-order mark (JSON.parse refuses it too)
    ]) {
      expect(reader.read(other), other).toBeNull();
    }
  });

  it('hands out one frozen array per repeated tag list, a fresh one past its limits', () => {
    const reader = new PlainJsonLineReader();
    const a = reader.read('{"indicator":"198.18.0.1","tags":["c2","tier-1"]}')!.tags;
    const b = reader.read('{"indicator":"198.18.0.2","tags":["c2","tier-1"]}')!.tags;
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    const long = `[${Array.from({ length: 40 }, (_, i) => `"tag-${i}"`).join(',')}]`;
    const c = reader.read(`{"indicator":"198.18.0.1","tags":${long}}`)!.tags;
    const d = reader.read(`{"indicator":"198.18.0.1","tags":${long}}`)!.tags;
    expect(c).not.toBe(d);
    expect(c).toEqual(d);
  });
});
