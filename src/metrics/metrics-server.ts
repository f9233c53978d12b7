import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../util/errors.js';

export interface HealthReport {
  /** "ok" when capturing and enforcing as configured; "degraded" otherwise (the reasons say why). */
  status: 'ok' | 'degraded';
  reasons: string[];
  [key: string]: unknown;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  metrics: () => Promise<string>;
  contentType: string;
  health: () => HealthReport;
}

/**
 * `/metrics` (Prometheus text) and `/healthz` (JSON; 200 when ok, 503 when degraded) on their own small HTTP server,
 * so that scraping never shares a port, a body parser or authentication with the blocking API.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<{ server: Server; address: AddressInfo; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      options.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const report = options.health();
      res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report) + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`cannot serve metrics on ${options.host}:${options.port}: ${err.code ?? err.message}`, 'choose a free port with --metrics HOST:PORT')));
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" → parts. */
export function parseListenAddress(text: string, option: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new ConfigError(`${option} ${JSON.stringify(text)} is not HOST:PORT`, `for example ${option} 127.0.0.1:9464`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
