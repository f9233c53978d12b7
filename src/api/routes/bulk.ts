/**
 * POST /v1/blocks/bulk: many blocks in one request, as NDJSON (one block body per line, the same fields and rules
 * as POST /v1/blocks), answered with one NDJSON result per line and a summary line.
 *
 * The request body is never buffered: lines are read from the socket as they arrive, validated one by one
 * (bulk-line.ts: lines of a shape already seen only have their indicator parsed), and written in batches (default
 * 2000 entries, one bulk script call each) with two batches in Redis while the next is being read, so memory
 * is bounded by a few batches, whatever the size of the import. Results stream back as batches complete; for a client that
 * sends everything before reading anything, at most `bulkOutputLimit` bytes of results wait in memory: beyond it
 * successful lines are no longer listed (the summary says from which line), then failed ones neither (they are
 * still counted), so neither side ever waits on the other and memory stays bounded. The status is
 * 200 as soon as the import starts; whether each line succeeded is in its result (a fatal error, such as Redis
 * going away mid-import, ends the response with an error line and the summary says how far it got).
 */
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { IntelAction } from '../../intel/action.js';
import { wallClockSeconds } from '../../intel/expiry.js';
import type { PreparedEntry } from '../../intel/entry.js';
import { actorOf, type RouteContext } from '../context.js';
import type { BatchWriteResult, ChangeMeta } from '../deps.js';
import { BulkLineValidator, failure, isFailure, type BodyValidator, type LineFailure } from '../bulk-line.js';
import { ApiError } from '../errors.js';
import { toApiError } from '../error-handler.js';
import { NdjsonSplitter, type NdjsonLine } from '../ndjson.js';
import { blockBodySchema, commonErrors, errorRef } from '../schemas.js';

interface BulkQuery {
  results?: 'all' | 'full' | 'errors';
  action?: 'block' | 'monitor';
}

/** A line read: its entry (to write) or its failure; `status` is the write's (1 created, else updated). */
type LineOutcome = { line: number; input: PreparedEntry | null; failure: LineFailure | null; status: number };

export const NDJSON = 'application/x-ndjson';
/** Batches written to Redis at once while the next one is read (see flush). */
export const BATCHES_IN_FLIGHT = 2;

export function registerBulkRoute(app: FastifyInstance, ctx: RouteContext): void {
  const intel = ctx.deps.intel;
  const { bulkMaxLines, bulkMaxLineBytes, bulkBatchSize, bulkOutputLimit } = ctx.options;

  app.post<{ Querystring: BulkQuery }>('/v1/blocks/bulk', {
    config: { access: 'write', auditAction: 'bulk.import' },
    schema: {
      tags: ['blocks'],
      summary: 'Bulk create or update blocks (NDJSON in, NDJSON results out)',
      description:
        'Scope write. Content-Type: application/x-ndjson; each line is a block body as for POST /v1/blocks. ' +
        'The response (application/x-ndjson) has one line per input line: {"line":N,"ok":true,"status":"created"|"updated"} or ' +
        '{"line":N,"ok":false,"error":{...}}, then {"summary":{...}}. results=full adds id, source and indicator to successful lines; ' +
        'results=errors leaves them out. ' +
        `At most ${bulkMaxLines.toLocaleString('en-US')} lines of ${bulkMaxLineBytes} bytes each.`,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          results: { type: 'string', enum: ['all', 'full', 'errors'], description: 'all (default: every line, successful ones as line and status), full (successful lines with id, source and indicator) or errors (failed lines only).' },
          action: { type: 'string', enum: ['block', 'monitor'], description: 'Default action of lines without one (default block).' },
        },
      },
      consumes: [NDJSON],
      produces: [NDJSON],
      response: {
        200: { description: 'NDJSON: one result per input line, then a summary line.', type: 'string' },
        ...commonErrors,
        415: { description: 'Not application/x-ndjson.', ...errorRef },
      },
    },
  }, async (request, reply) => {
    const body = request.body as Readable | undefined;
    if (body === undefined || body === null || typeof (body as Readable).pipe !== 'function') {
      throw new ApiError(415, 'unsupported_media_type', `send the entries as ${NDJSON} (one JSON object per line)`);
    }
    const onlyErrors = request.query.results === 'errors';
    const full = request.query.results === 'full';
    const defaultAction: IntelAction = request.query.action ?? 'block';
    const admin = request.principal?.scope === 'admin';
    const meta: ChangeMeta = { actor: actorOf(request), address: request.ip };
    const validator = new BulkLineValidator(request.compileValidationSchema(blockBodySchema, 'body') as BodyValidator, defaultAction, admin, wallClockSeconds());
    const out = new PassThrough();
    reply.type(NDJSON).send(out);

    const counts = { lines: 0, created: 0, updated: 0, failed: 0 };
    /** Line after which successful (then also failed) lines were no longer listed, the output buffer being full. */
    let okOmittedAfter: number | null = null;
    let errorsOmittedAfter: number | null = null;
    let version = 0;
    const started = performance.now();
    const sourceJson = new Map<string, string>();
    const jsonSource = (source: string): string => {
      let json = sourceJson.get(source);
      if (json === undefined) {
        json = JSON.stringify(source);
        if (sourceJson.size < 1000) sourceJson.set(source, json);
      }
      return json;
    };
    /** One batch's results as one string: a write per line would cost more than the line itself. */
    const render = (batch: LineOutcome[]): string => {
      let text = '';
      for (const o of batch) {
        const e = o.input;
        if (e !== null) {
          const created = o.status === 1;
          if (created) counts.created++;
          else counts.updated++;
          if (full && okOmittedAfter === null) {
            // Canonical indicators need no JSON escaping; ids usually are the indicator; sources repeat.
            const indicator = `"${e.indicator.text}"`;
            const id = e.explicitId === null ? indicator : JSON.stringify(e.explicitId);
            text += `{"line":${o.line},"ok":true,"status":"${created ? 'created' : 'updated'}","id":${id},"source":${jsonSource(e.source)},"indicator":${indicator}}\n`;
          } else if (!onlyErrors && okOmittedAfter === null) {
            // Compact by default: 2 M results stay well under the output limit for clients that read late (curl).
            text += created ? `{"line":${o.line},"ok":true,"status":"created"}\n` : `{"line":${o.line},"ok":true,"status":"updated"}\n`;
          }
        } else {
          const f = o.failure!;
          counts.failed++;
          if (errorsOmittedAfter === null) text += JSON.stringify({ line: o.line, ok: false, error: { code: f.code, message: f.message, field: f.field } }) + '\n';
        }
      }
      return text;
    };
    /** Writes one batch's results out (in line order: batches are rendered one after the other). */
    const emit = (batch: LineOutcome[], written: BatchWriteResult | null): void => {
      if (written !== null) {
        if (written.version > version) version = written.version;
        let i = 0;
        for (const o of batch) if (o.input !== null) o.status = written.statuses[i++]!;
      }
      const text = render(batch);
      if (text !== '') out.write(text);
      if (out.writableLength > bulkOutputLimit) {
        const last = batch.length > 0 ? batch[batch.length - 1]!.line : counts.lines;
        okOmittedAfter ??= last;
        if (out.writableLength > 2 * bulkOutputLimit) errorsOmittedAfter ??= last;
      }
    };

    const set = intel.set;
    // The allow-conflict check costs a lookup per line; without any allow entry in the set it cannot fire.
    let allowsPresent = set.counts().byAction.allow > 0;
    /** Validates one line into its outcome (never throws). */
    const validateLine = (item: NdjsonLine): LineOutcome => {
      if (item.tooLong) return { line: item.line, input: null, failure: { ok: false, code: 'line_too_long', message: `the line is longer than ${bulkMaxLineBytes} bytes`, field: null }, status: 0 };
      const p = validator.check(item.text);
      if (isFailure(p)) return { line: item.line, input: null, failure: p, status: 0 };
      if (allowsPresent) {
        const existing = set.find(p.source, p.explicitId ?? p.indicator.text);
        if (existing >= 0 && set.actionOf(existing) === 'allow') {
          return { line: item.line, input: null, failure: failure(new ApiError(409, 'conflict', 'this source and id is an allowlist entry; delete it at /v1/allowlist first', 'indicator')), status: 0 };
        }
      }
      return { line: item.line, input: p, failure: null, status: 0 };
    };

    let fatal: unknown = null;
    let batch: LineOutcome[] = [];
    let inputs: PreparedEntry[] = [];
    let stop = false;
    /**
     * Batches handed over and not yet written out, oldest first. Up to BATCHES_IN_FLIGHT are in Redis at once
     * (sent in line order on one connection, so Redis applies them in line order) while the next is read: Redis
     * never waits for this process to parse, nor this process for Redis.
     */
    const pending: Promise<void>[] = [];
    /** The last batch's results written out: each batch writes its results after the one before. */
    let emitted: Promise<void> = Promise.resolve();
    const flush = async (): Promise<void> => {
      if (batch.length > 0) {
        allowsPresent = set.counts().byAction.allow > 0;
        const lines = batch;
        const write = inputs.length > 0 ? intel.upsertBatch(inputs, meta) : Promise.resolve(null);
        // Rejections are seen through `emitted` (awaited below), not as unhandled ones.
        write.catch(() => undefined);
        const done = emitted.then(() => write).then((written) => emit(lines, written));
        done.catch(() => undefined);
        emitted = done;
        pending.push(done);
        batch = [];
        inputs = [];
      }
      while (pending.length > BATCHES_IN_FLIGHT) await pending.shift();
    };
    const take = async (items: NdjsonLine[]): Promise<void> => {
      for (const item of items) {
        counts.lines = item.line;
        if (item.line > bulkMaxLines) {
          batch.push({ line: item.line, input: null, failure: { ok: false, code: 'too_many_lines', message: `at most ${bulkMaxLines} lines per import; the rest was not read`, field: null }, status: 0 });
          stop = true;
          return;
        }
        const outcome = validateLine(item);
        batch.push(outcome);
        if (outcome.input !== null) inputs.push(outcome.input);
        if (inputs.length >= bulkBatchSize || batch.length >= bulkBatchSize * 4) await flush();
      }
    };
    try {
      const splitter = new NdjsonSplitter(bulkMaxLineBytes);
      for await (const chunk of body) {
        await take(splitter.push(chunk as Buffer));
        if (stop) break;
      }
      if (stop) body.destroy();
      else await take(splitter.end());
      await flush();
      await emitted;
    } catch (err) {
      fatal = err;
      await Promise.allSettled(pending);
    }
    // As for single writes: the summary comes once this instance's matcher holds the import (or the wait ran out).
    const applied = fatal === null && version > 0 ? await intel.waitApplied(version, ctx.options.applyWaitMs) : version === 0;
    // version: the intel version that holds every line written (wait for it on a sensor to know the import is in force)
    const summary = {
      ...counts,
      seconds: Math.round(performance.now() - started) / 1000,
      version,
      applied,
      ...(okOmittedAfter !== null ? { okResultsOmittedAfterLine: okOmittedAfter } : {}),
      ...(errorsOmittedAfter !== null ? { errorResultsOmittedAfterLine: errorsOmittedAfter } : {}),
    };
    if (fatal !== null && request.raw.socket?.destroyed === true) {
      // The client went away (its connection is gone): not a server failure; what was answered is stored.
      request.log.warn({ lines: counts.lines, created: counts.created, updated: counts.updated }, 'bulk import cut short: the client went away');
    } else if (fatal !== null) {
      const { error, internal } = toApiError(fatal);
      if (internal) request.log.error({ err: fatal }, 'bulk import failed');
      out.write(JSON.stringify(error.body()) + '\n');
    }
    out.end(JSON.stringify({ summary: { ...summary, complete: fatal === null } }) + '\n');
    await ctx.audit(request, 'bulk.import', { lines: counts.lines, created: counts.created, updated: counts.updated, failed: counts.failed, complete: fatal === null }, 200);
    return reply;
  });
}
