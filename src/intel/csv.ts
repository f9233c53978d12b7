/**
 * One CSV record per line (RFC 4180 quoting within the line): fields separated by commas; a field may be quoted
 * with double quotes, inside which commas are literal and "" is one quote. Unquoted fields are trimmed.
 * Quoted fields spanning lines are not supported (an intel file has no use for them): an unterminated quote is an
 * error for that line.
 */

/** Splits a CSV line into fields, or returns an error message. */
export function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    // Skip spaces before a field, so that `a, "b,c"` works.
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i < n && line.charCodeAt(i) === 34 /* " */) {
      let value = '';
      let start = ++i;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return `unterminated quoted field ${fields.length + 1}`;
        if (line.charCodeAt(q + 1) === 34) {
          value += line.slice(start, q + 1);
          i = start = q + 2;
          continue;
        }
        value += line.slice(start, q);
        i = q + 1;
        break;
      }
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
      fields.push(value);
      if (i === n) return fields;
      if (line.charCodeAt(i) !== 44 /* , */) return `unexpected text after the closing quote of field ${fields.length}`;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      const raw = line.slice(i, end).trim();
      if (raw.includes('"')) return `stray quote in field ${fields.length + 1} (quote the whole field and double inner quotes)`;
      fields.push(raw);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}
