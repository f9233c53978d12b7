/**
 * Streams text lines out of a byte stream without ever holding the whole input: chunks are decoded as UTF-8
 * (invalid bytes become U+FFFD, which the grammar then rejects), split on LF, with a trailing CR dropped.
 * A line longer than `maxLineLength` is not accumulated: it is reported once (as overlong) and skipped up to the
 * next newline, so a multi-gigabyte line without newlines costs no memory.
 */
import { StringDecoder } from 'node:string_decoder';

export interface LineSink {
  /** Called for each line, numbered from 1. */
  line(text: string, lineNumber: number): void;
  /** Called instead of line() for a line longer than the limit. */
  overlong(lineNumber: number): void;
  /** Called once after the last line: a sink that holds lines back finishes them here. */
  end?(): void;
}

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

export async function readLines(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  sink: LineSink,
  maxLineLength = DEFAULT_MAX_LINE_LENGTH,
): Promise<number> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let lineNumber = 0;
  let skipping = false; // inside an overlong line, discarding up to the next newline
  const feed = (text: string): void => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      lineNumber++;
      if (skipping) {
        skipping = false;
      } else {
        const piece = carry.length > 0 ? carry + text.slice(start, nl) : text.slice(start, nl);
        carry = '';
        if (piece.length > maxLineLength) sink.overlong(lineNumber);
        else sink.line(stripCr(lineNumber === 1 ? stripBom(piece) : piece), lineNumber);
      }
      start = nl + 1;
    }
    if (skipping) return;
    const rest = text.length > start ? text.slice(start) : '';
    if (carry.length + rest.length > maxLineLength) {
      sink.overlong(lineNumber + 1);
      carry = '';
      skipping = true;
    } else if (rest.length > 0) {
      carry += rest;
    }
  };
  for await (const chunk of source) {
    feed(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
  }
  feed(decoder.end());
  if (!skipping && carry.length > 0) {
    lineNumber++;
    sink.line(stripCr(lineNumber === 1 ? stripBom(carry) : carry), lineNumber);
  } else if (skipping) {
    lineNumber++;
  }
  sink.end?.();
  return lineNumber;
}

/** A line without the CR of a CRLF ending. */
export function stripCr(text: string): string {
  return text.length > 0 && text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
}

/** The first line without a UTF-8 byte-order mark. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
