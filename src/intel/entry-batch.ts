/**
 * Checked entries and line errors packed into batches that cross from the load's worker thread to the thread that
 * owns the IntelSet (worker-load.ts). Numbers travel in two typed arrays whose buffers are transferred, not copied;
 * strings in one array per batch, each source, reason and tag list once per batch. Sending the entry objects
 * themselves would have the structured clone walk and rebuild every nested object (far slower than parsing).
 */
import { actionName } from './action.js';
import type { PreparedEntry } from './entry.js';
import type { ParsedLineSink } from './intel-line-parser.js';
import { INDICATOR_KINDS, type ParsedIndicator } from './indicator.js';
import { PROTOCOL_NAMES, protocolCode } from './kinds.js';

// Int32 fields of an entry.
const I_LINE = 0;
const I_KIND = 1;
const I_FAMILY = 2;
const I_V4 = 3;
const I_W0 = 4; // four words of an IPv6 address: 4..7
const I_PREFIX = 8;
const I_PORT = 9;
const I_PROTOCOL = 10;
const I_ACTION = 11;
const I_SLOT = 12;
const I_SOURCE = 13;
const I_REASON = 14;
const I_TAGS = 15;
const I_ID = 16;
const I_TEXT = 17;
const I_DOMAIN = 18;
const INTS = 19;
// Float64 fields of an entry.
const F_EXPIRES = 0;
const F_CHARS = 1;
const FLOATS = 2;

export interface EntryBatch {
  readonly count: number;
  readonly ints: Int32Array;
  readonly floats: Float64Array;
  /** Strings the entries name by index. */
  readonly strings: string[];
  readonly tagLists: (readonly string[])[];
  /** Refused lines in line order: numbers, error codes, messages. */
  readonly failLines: number[];
  readonly failCodes: string[];
  readonly failMessages: string[];
}

/** A ParsedLineSink that packs what it gets into batches of up to `capacity` entries and hands each to `send`. */
export class EntryBatchWriter implements ParsedLineSink {
  private count = 0;
  private ints: Int32Array;
  private floats: Float64Array;
  private strings: string[] = [];
  private tagLists: (readonly string[])[] = [];
  private readonly stringAt = new Map<string, number>();
  private readonly tagListAt = new Map<readonly string[], number>();
  private failLines: number[] = [];
  private failCodes: string[] = [];
  private failMessages: string[] = [];

  constructor(
    private readonly capacity: number,
    private readonly send: (batch: EntryBatch) => void,
  ) {
    this.ints = new Int32Array(capacity * INTS);
    this.floats = new Float64Array(capacity * FLOATS);
  }

  entry(entry: PreparedEntry, lineNumber: number, charsSeen: number): void {
    const ind = entry.indicator;
    const n = this.count++;
    const i = n * INTS;
    const ints = this.ints;
    ints[i + I_LINE] = lineNumber;
    ints[i + I_KIND] = INDICATOR_KINDS.indexOf(ind.kind);
    ints[i + I_FAMILY] = ind.family;
    ints[i + I_V4] = ind.v4;
    const v6 = ind.v6;
    if (v6 !== null) for (let w = 0; w < 4; w++) ints[i + I_W0 + w] = v6[w]!;
    ints[i + I_PREFIX] = ind.prefixLength;
    ints[i + I_PORT] = ind.port;
    ints[i + I_PROTOCOL] = protocolCode(ind.protocol);
    ints[i + I_ACTION] = entry.actionCode;
    ints[i + I_SLOT] = entry.profileSlot;
    ints[i + I_SOURCE] = this.shared(entry.source);
    ints[i + I_REASON] = this.shared(entry.reason);
    let tags = this.tagListAt.get(entry.tags);
    if (tags === undefined) {
      tags = this.tagLists.push(entry.tags) - 1;
      this.tagListAt.set(entry.tags, tags);
    }
    ints[i + I_TAGS] = tags;
    ints[i + I_ID] = entry.explicitId === null ? -1 : this.strings.push(entry.explicitId) - 1;
    const text = this.strings.push(ind.text) - 1;
    ints[i + I_TEXT] = text;
    ints[i + I_DOMAIN] = ind.domain === '' ? -1 : ind.domain === ind.text ? text : this.strings.push(ind.domain) - 1;
    this.floats[n * FLOATS + F_EXPIRES] = entry.expiresAt;
    this.floats[n * FLOATS + F_CHARS] = charsSeen;
    if (this.count === this.capacity) this.flush();
  }

  fail(lineNumber: number, code: string, message: string): void {
    this.failLines.push(lineNumber);
    this.failCodes.push(code);
    this.failMessages.push(message);
    if (this.failLines.length === this.capacity) this.flush();
  }

  end(): void {
    this.flush();
  }

  /** Sends what is held, if anything. */
  flush(): void {
    if (this.count === 0 && this.failLines.length === 0) return;
    this.send({
      count: this.count,
      ints: this.ints,
      floats: this.floats,
      strings: this.strings,
      tagLists: this.tagLists,
      failLines: this.failLines,
      failCodes: this.failCodes,
      failMessages: this.failMessages,
    });
    // The arrays sent are handed over (their buffers are transferred): start new ones.
    this.count = 0;
    this.ints = new Int32Array(this.capacity * INTS);
    this.floats = new Float64Array(this.capacity * FLOATS);
    this.strings = [];
    this.tagLists = [];
    this.stringAt.clear();
    this.tagListAt.clear();
    this.failLines = [];
    this.failCodes = [];
    this.failMessages = [];
  }

  /** Index of a string that many entries of a batch share (a source, a reason), kept once per batch. */
  private shared(text: string): number {
    let at = this.stringAt.get(text);
    if (at === undefined) {
      at = this.strings.push(text) - 1;
      this.stringAt.set(text, at);
    }
    return at;
  }
}

/** The buffers of a batch, for postMessage's transfer list. */
export function batchTransferList(batch: EntryBatch): ArrayBuffer[] {
  return [batch.ints.buffer as ArrayBuffer, batch.floats.buffer as ArrayBuffer];
}

/** Hands a batch's entries and refused lines to `sink`, in line order, as the parser gave them to the writer. */
export function readEntryBatch(batch: EntryBatch, sink: ParsedLineSink): void {
  const { ints, floats, strings, tagLists, failLines } = batch;
  let f = 0;
  for (let n = 0; n < batch.count; n++) {
    const i = n * INTS;
    const line = ints[i + I_LINE]!;
    for (; f < failLines.length && failLines[f]! < line; f++) sink.fail(failLines[f]!, batch.failCodes[f]!, batch.failMessages[f]!);
    const family = ints[i + I_FAMILY]! as 0 | 4 | 6;
    const domain = ints[i + I_DOMAIN]!;
    // Built field by field in parseIndicator's order, so that both kinds of entry share one object shape.
    const indicator: ParsedIndicator = {
      kind: INDICATOR_KINDS[ints[i + I_KIND]!]!,
      family,
      v4: ints[i + I_V4]! >>> 0,
      v6: family === 6 ? Uint32Array.of(ints[i + I_W0]!, ints[i + I_W0 + 1]!, ints[i + I_W0 + 2]!, ints[i + I_W0 + 3]!) : null,
      prefixLength: ints[i + I_PREFIX]!,
      port: ints[i + I_PORT]!,
      protocol: PROTOCOL_NAMES[ints[i + I_PROTOCOL]!]!,
      domain: domain < 0 ? '' : strings[domain]!,
      text: strings[ints[i + I_TEXT]!]!,
    };
    const id = ints[i + I_ID]!;
    const code = ints[i + I_ACTION]!;
    const entry: PreparedEntry = {
      indicator,
      explicitId: id < 0 ? null : strings[id]!,
      action: actionName(code),
      actionCode: code,
      expiresAt: floats[n * FLOATS + F_EXPIRES]!,
      source: strings[ints[i + I_SOURCE]!]!,
      reason: strings[ints[i + I_REASON]!]!,
      tags: tagLists[ints[i + I_TAGS]!]!,
      profileSlot: ints[i + I_SLOT]!,
    };
    sink.entry(entry, line, floats[n * FLOATS + F_CHARS]!);
  }
  for (; f < failLines.length; f++) sink.fail(failLines[f]!, batch.failCodes[f]!, batch.failMessages[f]!);
}
