/**
 * The lab's server: the four services of lab-protocol.ts on their ports, all addresses of the namespace
 * (IPv4 and IPv6). Run it inside the server namespace:
 *
 *   ip netns exec NS node dist/test/bench/lab/peer-server.js [--banner-port 7001] [--reqresp-port 7002] ...
 *
 * Prints one line `{"ready":true,"ports":{...}}` on stdout once every port listens; with --events, one JSON line
 * per connection event (accept, error, close); on SIGTERM or SIGINT, one line `{"stats":{...}}` and exits 0.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  ArgReader,
  BANNER_LINE,
  BYE_LINE,
  DEFAULT_PORTS,
  LineSplitter,
  nowMs,
  QUIT_LINE,
  responseLine,
  runMain,
  SERVICES,
  type Service,
} from './lab-protocol.js';

const USAGE = `usage: node peer-server.js [options]
  --banner-port N --reqresp-port N --chatty-port N --idle-port N   (defaults ${JSON.stringify(DEFAULT_PORTS)}; 0 = off)
  --response-bytes N     payload bytes in each reqresp/banner answer (default 256)
  --chatty-interval-ms N  chatty service: one line every N ms (default 50)
  --chatty-seconds N     chatty service: stop sending after N seconds (default 600)
  --events               one JSON line per connection event on stdout`;

interface ServiceStats {
  accepted: number;
  /** Connections that ended with an error, by code (ECONNRESET = reset by the peer or by an injected RST). */
  errors: Record<string, number>;
  /** Ended cleanly (FIN). */
  closedCleanly: number;
  open: number;
  bytesSent: number;
  bytesReceived: number;
}

interface ServerConfig {
  responseBytes: number;
  chattyIntervalMs: number;
  chattySeconds: number;
  events: boolean;
}

let connectionCounter = 0;

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function serve(service: Service, socket: Socket, stats: ServiceStats, cfg: ServerConfig): void {
  const id = ++connectionCounter;
  stats.accepted++;
  stats.open++;
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const local = `${socket.localAddress}:${socket.localPort}`;
  if (cfg.events) emit({ event: 'accept', service, id, peer, local, t: nowMs() });
  socket.setNoDelay(true);
  let failed: string | undefined;
  let chatty: NodeJS.Timeout | undefined;
  const send = (line: string): void => {
    if (socket.destroyed || !socket.writable) return;
    stats.bytesSent += line.length + 1;
    socket.write(`${line}\n`);
  };

  socket.on('error', (err: NodeJS.ErrnoException) => {
    failed = err.code ?? err.message;
    stats.errors[failed] = (stats.errors[failed] ?? 0) + 1;
    if (cfg.events) emit({ event: 'error', service, id, peer, code: failed, t: nowMs() });
  });
  socket.on('close', () => {
    stats.open--;
    if (chatty) clearInterval(chatty);
    if (!failed) stats.closedCleanly++;
    if (cfg.events) emit({ event: 'close', service, id, peer, error: failed ?? null, t: nowMs() });
  });

  if (service === 'banner') send(BANNER_LINE);
  if (service === 'chatty') {
    let n = 0;
    const stopAt = nowMs() + cfg.chattySeconds * 1000;
    chatty = setInterval(() => {
      if (nowMs() > stopAt) {
        clearInterval(chatty);
        return;
      }
      send(`TICK ${++n}`);
    }, cfg.chattyIntervalMs);
  }

  const lines = new LineSplitter();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    stats.bytesReceived += chunk.length;
    for (const line of lines.push(chunk)) {
      if (line === QUIT_LINE) {
        if (service !== 'idle') send(BYE_LINE);
        socket.end();
        return;
      }
      if (service === 'banner' || service === 'reqresp') send(responseLine(line, cfg.responseBytes));
    }
  });
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // "::" with IPv6-only off takes IPv4 too: every address of the namespace, both families, one socket.
    server.listen({ port, host: '::', ipv6Only: false, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function main(): Promise<number> {
  const known = [...SERVICES.map((s) => `${s}-port`), 'response-bytes', 'chatty-interval-ms', 'chatty-seconds', 'events', 'help'];
  const args = new ArgReader(process.argv.slice(2), ['events', 'help'], USAGE);
  args.rejectUnknown(known);
  if (args.flag('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cfg: ServerConfig = {
    responseBytes: args.number('response-bytes', 256),
    chattyIntervalMs: args.number('chatty-interval-ms', 50, 1),
    chattySeconds: args.number('chatty-seconds', 600, 0),
    events: args.flag('events'),
  };
  const stats: Partial<Record<Service, ServiceStats>> = {};
  const servers: Server[] = [];
  const ports: Partial<Record<Service, number>> = {};
  for (const service of SERVICES) {
    const port = args.number(`${service}-port`, DEFAULT_PORTS[service], 0);
    if (port === 0) continue;
    const s: ServiceStats = { accepted: 0, errors: {}, closedCleanly: 0, open: 0, bytesSent: 0, bytesReceived: 0 };
    stats[service] = s;
    const server = createServer((socket) => serve(service, socket, s, cfg));
    // Accept errors (EMFILE and the like) are counted, never fatal.
    server.on('error', (err: NodeJS.ErrnoException) => {
      const code = `server:${err.code ?? err.message}`;
      s.errors[code] = (s.errors[code] ?? 0) + 1;
    });
    await listen(server, port);
    servers.push(server);
    ports[service] = port;
  }
  emit({ ready: true, pid: process.pid, ports });

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  for (const server of servers) server.close();
  // Open connections (idle, chatty) would keep the process alive: exit once the stats line is out (stdout is
  // an asynchronous pipe).
  process.stdout.write(`${JSON.stringify({ stats })}\n`, () => process.exit(0));
  return 0;
}

runMain(main);
