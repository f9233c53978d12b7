/**
 * textAt is a faster stand-in for text.startsWith(expected, from) on the paths that compare records: it must give
 * the same answer for every position, length and character, the ends of the text included.
 */
import { describe, expect, it } from 'vitest';
import { textAt } from '../../src/util/text-at.js';
import { SeededRandom } from '../bench/lab/lab-protocol.js';

describe('textAt', () => {
  it('agrees with startsWith on short and long expected texts, at every position and past the end', () => {
    const record = 'u\t198.18.0.7\tblock\t1767225600\tfeed-3\tbench feed 17 — ünïcode\tc2\u0001tier-1\t1700000000000';
    for (const expected of ['', 'u', 'block', 'bench feed 17 — ünïcode', record, record + 'x', record.slice(5), record.slice(5, 40)]) {
      for (let from = -2; from <= record.length + 2; from++) {
        expect(textAt(record, from, expected), `${JSON.stringify(expected)} at ${from}`).toBe(record.startsWith(expected, from));
      }
    }
  });

  it('fuzz: random texts and probes give startsWith\'s answer', () => {
    const rnd = new SeededRandom(11);
    const alphabet = 'ab\t\u00e9\u2014\ud83d\ude00';
    const pick = (n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(rnd.next() * alphabet.length)]).join('');
    for (let round = 0; round < 3000; round++) {
      const text = pick(Math.floor(rnd.next() * 60));
      const from = Math.floor(rnd.next() * (text.length + 4)) - 2;
      // Half the probes are cut out of the text itself, so that many of them match.
      const expected = rnd.next() < 0.5 ? text.slice(Math.max(0, from), Math.max(0, from) + Math.floor(rnd.next() * 40)) : pick(Math.floor(rnd.next() * 40));
      expect(textAt(text, from, expected)).toBe(text.startsWith(expected, from));
    }
  });
});
