/**
 * Route handlers still running, so that closing the server waits for them before the backends close.
 *
 * Node's server.close() ends once every connection is gone, and Fastify's close() with it; a handler whose client
 * hung up (a load balancer's timeout, a cancelled SOAR job) still runs after that. Half-way through an upsert
 * (read the entry, run the store's script, append the audit record, wait for the matcher) it would find the store
 * closed under it. Counting handlers, not requests or connections, is what covers that case.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

export class InFlightHandlers {
  private running = 0;
  private waiters: (() => void)[] = [];

  get count(): number {
    return this.running;
  }

  /** Wraps every route's handler registered after this call (install before the routes). */
  install(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const handler = route.handler;
      const tracker = this;
      route.handler = function trackedHandler(this: FastifyInstance, request, reply) {
        tracker.running++;
        let result: unknown;
        try {
          result = handler.call(this, request, reply);
        } catch (err) {
          tracker.done();
          throw err;
        }
        if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(() => tracker.done(), () => tracker.done());
        } else tracker.done();
        return result;
      } as typeof handler;
    });
  }

  /** Resolves true once no handler runs, or false after `timeoutMs` with some still running. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.running === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  private done(): void {
    if (--this.running > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
