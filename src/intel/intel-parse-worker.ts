/**
 * Worker thread of an intel file load (worker-load.ts): reads and parses the file, and sends its checked entries
 * in batches to the thread that owns the IntelSet, which only inserts them: the two halves of the load run side
 * by side on two cores.
 *
 * Flow control: `credits[0]` counts the batches this thread may still send; it blocks when none is left, so that a
 * slow inserter never lets unsent batches pile up in memory. `credits[1]` becomes 1 when the loader gives up.
 */
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { batchTransferList, EntryBatchWriter } from './entry-batch.js';
import { IntelFileError } from './errors.js';
import { IntelLineParser } from './intel-line-parser.js';
import { DEFAULT_MAX_LINE_LENGTH, readLines } from './line-reader.js';
import type { ParseWorkerData, ParseWorkerMessage, ParseWorkerFault } from './worker-load.js';

const data = workerData as ParseWorkerData;
const port = parentPort!;
const credits = new Int32Array(data.credits);

class LoadCancelled extends Error {}

function send(message: ParseWorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const writer = new EntryBatchWriter(data.batchEntries, (batch) => {
  // This thread is the only one that takes credit: one seen here is still there at the sub.
  for (;;) {
    if (Atomics.load(credits, 1) !== 0) throw new LoadCancelled();
    if (Atomics.load(credits, 0) > 0) break;
    Atomics.wait(credits, 0, 0, 1000);
  }
  Atomics.sub(credits, 0, 1);
  send({ type: 'batch', batch }, batchTransferList(batch));
});
const parser = new IntelLineParser(data.options, data.nowSeconds, data.path, writer);

function fault(err: unknown): ParseWorkerFault {
  if (err instanceof IntelFileError) return { kind: 'file', line: err.line, detail: err.detail, hint: err.hint };
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.syscall === 'string') return { kind: 'read', code: e.code };
  return { kind: 'bug', message: e instanceof Error ? (e.stack ?? e.message) : String(err) };
}

try {
  const stream = createReadStream(data.path, { highWaterMark: 256 * 1024 });
  try {
    const lines = await readLines(stream, parser, data.options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
    send({ type: 'done', lines, format: parser.format ?? 'plain', expired: parser.expired });
  } finally {
    stream.destroy();
  }
} catch (err) {
  if (!(err instanceof LoadCancelled)) send({ type: 'fault', fault: fault(err) });
}
