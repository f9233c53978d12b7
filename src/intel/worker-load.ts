/**
 * Loads an intel file with its parsing in a worker thread (intel-parse-worker.ts) and its inserting here, where the
 * IntelSet lives. Parsing was about 1.0 s of a 2.4–2.8 s JSON-lines load with ids; side by side, such a load takes
 * 0.63–0.91 of its in-line time (the inserting thread is then the bottleneck), and a sensor reloading its files
 * spends only the inserting half on the thread that also handles packets.
 * The result is the same as an in-thread load of the same file: the same parser and the same inserter, with the
 * entries handed over in line order (test/intel/worker-load.test.ts compares the two).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EntryInserter } from './entry-inserter.js';
import { readEntryBatch, type EntryBatch } from './entry-batch.js';
import { IntelFileError } from './errors.js';
import type { IntelFileFormat, IntelParseOptions } from './intel-line-parser.js';

const WORKER_URL = new URL('./intel-parse-worker.js', import.meta.url);
/** Entries per batch: a batch is inserted in about a millisecond, so the thread stays responsive in between. */
const BATCH_ENTRIES = 1024;
/** Batches the worker may have sent and the inserter not yet taken: enough that neither side waits on the other. */
const BATCHES_IN_FLIGHT = 8;

export interface ParseWorkerData {
  /** The file, which also labels errors. */
  readonly path: string;
  readonly options: IntelParseOptions;
  readonly nowSeconds: number;
  readonly batchEntries: number;
  /** Int32Array[2] over it: [0] batches the worker may still send, [1] 1 once the loader gave up. */
  readonly credits: SharedArrayBuffer;
}

/** Why the worker stopped before the end of the file. */
export type ParseWorkerFault =
  | { readonly kind: 'file'; readonly line: number; readonly detail: string; readonly hint: string | undefined }
  | { readonly kind: 'read'; readonly code: string }
  | { readonly kind: 'bug'; readonly message: string };

export type ParseWorkerMessage =
  | { readonly type: 'batch'; readonly batch: EntryBatch }
  | { readonly type: 'done'; readonly lines: number; readonly format: IntelFileFormat; readonly expired: number }
  | { readonly type: 'fault'; readonly fault: ParseWorkerFault };

export interface ParsedFile {
  readonly lines: number;
  readonly format: IntelFileFormat;
  readonly expired: number;
}

/**
 * Whether this build has the worker's module. It has when run from the compiled output; a test runner that
 * compiles the TypeScript sources on the fly has not, and loads in line instead.
 */
export function parseWorkerAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

/**
 * Parses `path` in a worker and hands its entries and line errors to `inserter`, in line order. Rejects with an
 * IntelFileError when the file cannot be read or its CSV header is unusable, as the in-thread load throws.
 */
export function parseInWorker(path: string, options: IntelParseOptions, nowSeconds: number, inserter: EntryInserter): Promise<ParsedFile> {
  return new Promise<ParsedFile>((resolve, reject) => {
    const credits = new Int32Array(new SharedArrayBuffer(8));
    credits[0] = BATCHES_IN_FLIGHT;
    const data: ParseWorkerData = { path, options, nowSeconds, batchEntries: BATCH_ENTRIES, credits: credits.buffer as SharedArrayBuffer };
    const worker = new Worker(WORKER_URL, { workerData: data });
    let settled = false;
    const settle = (err: Error | null, parsed?: ParsedFile): void => {
      if (settled) return;
      settled = true;
      // Wakes a worker waiting for credit, so that it stops; a worker that has finished is already on its way out.
      Atomics.store(credits, 1, 1);
      Atomics.notify(credits, 0);
      if (err !== null) {
        void worker.terminate();
        reject(err);
      } else {
        resolve(parsed!);
      }
    };
    worker.on('message', (message: ParseWorkerMessage) => {
      if (settled) return;
      try {
        if (message.type === 'batch') {
          readEntryBatch(message.batch, inserter);
          Atomics.add(credits, 0, 1);
          Atomics.notify(credits, 0);
        } else if (message.type === 'done') {
          inserter.end();
          settle(null, { lines: message.lines, format: message.format, expired: message.expired });
        } else {
          settle(faultError(path, message.fault));
        }
      } catch (err) {
        settle(err as Error);
      }
    });
    worker.on('error', (err) => settle(workerFailed(path, err.message)));
    // A batch that could not be deserialised would be lost: fail the load rather than load part of the file.
    worker.on('messageerror', (err) => settle(workerFailed(path, `a batch could not be read (${err.message})`)));
    worker.on('exit', (code) => settle(workerFailed(path, `it exited (code ${code}) before the end of the file`)));
  });
}

function faultError(path: string, fault: ParseWorkerFault): Error {
  switch (fault.kind) {
    case 'file':
      return new IntelFileError(path, fault.line, fault.detail, fault.hint);
    case 'read':
      return IntelFileError.unreadable(path, fault.code);
    case 'bug':
      return workerFailed(path, fault.message);
  }
}

/** A worker that stopped for a reason of its own: a bug, reported as the load's error with its first line. */
function workerFailed(path: string, message: string): IntelFileError {
  const first = message.split('\n', 1)[0]!;
  return new IntelFileError(path, 0, `the intel parse worker failed: ${first}`, 'this is a bug in offpath; please report it with the file');
}
