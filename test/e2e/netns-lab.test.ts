/**
 * The lab on its own, without the sensor: names, teardown, the mirror, the injection port, the peers.
 * Needs root and a built dist/ (npx tsc -p tsconfig.json) for the peer programs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCaptureFile } from '../../src/capture/file/open-capture-file.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult, IpProto, TcpFlag } from '../../src/decode/decoded-packet.js';
import { formatIPv4 } from '../../src/net/address.js';
import {
  labPrerequisites,
  labScript,
  runLoadClient,
  startPeerServer,
  startWireCapture,
  targets,
  type PeerServer,
} from '../bench/lab/lab-processes.js';
import { DEFAULT_PORTS } from '../bench/lab/lab-protocol.js';
import { analyseWireTiming } from '../bench/lab/wire-timing.js';
import { repoRoot } from '../support/corpus.js';
import { createLab, sweepStaleLabs, type Lab } from '../support/netns-lab.js';
import * as B from '../support/packet-builder.js';

const missing = labPrerequisites(repoRoot, false);
if (missing.length > 0) throw new Error(`the lab tests cannot run: ${missing.join('; ')}`);

const macBytes = (mac: string): number[] => mac.split(':').map((h) => parseInt(h, 16));
const namespaces = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

interface SeenTcp {
  srcMac: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
}

/** Every IPv4 TCP packet of a capture file, read with offpath's own reader and decoder. */
function readTcp(path: string): SeenTcp[] {
  const out: SeenTcp[] = [];
  const pkt = new DecodedPacket();
  const { source } = openCaptureFile(path);
  try {
    while (source.next()) {
      const r = decodePacket(pkt, source.data, source.offset, source.capturedLength, source.wireLength, source.linkType);
      if (r !== DecodeResult.flow || pkt.l4Protocol !== IpProto.TCP || pkt.ipVersion !== 4) continue;
      const mac = Array.from(pkt.data.subarray(pkt.l2Offset + 6, pkt.l2Offset + 12), (b) => b.toString(16).padStart(2, '0')).join(':');
      out.push({ srcMac: mac, src: formatIPv4(pkt.src3), dst: formatIPv4(pkt.dst3), sport: pkt.srcPort, dport: pkt.dstPort, flags: pkt.tcpFlags });
    }
  } finally {
    source.close();
  }
  return out;
}

describe('network-namespace lab', () => {
  let lab: Lab;
  let server: PeerServer;
  const work = mkdtempSync(join(tmpdir(), 'offpath-lab-test-'));
  const sources = (): string => [...lab.addresses.clientV4, ...lab.addresses.clientV6].join(',');

  beforeAll(async () => {
    lab = await createLab({ tag: 'labtest' });
    server = await startPeerServer(lab, repoRoot);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('names are unique per lab and teardown removes every namespace, idempotently, even after a failed build', async () => {
    const second = await createLab({ tag: 'labtest' });
    const all = [...Object.values(lab.ns), ...Object.values(second.ns)];
    expect(new Set(all).size).toBe(8);
    for (const ns of Object.values(second.ns)) expect(namespaces()).toContain(ns);
    await second.destroy();
    await second.destroy();
    expect(second.destroyed).toBe(true);
    for (const ns of Object.values(second.ns)) expect(namespaces()).not.toContain(ns);
    await expect(second.exec('client', 'true', [])).rejects.toThrow(/destroyed/);
    const before = namespaces().length;
    // A build that fails half-way (the next lab's server namespace already exists) removes what it made, and
    // only that.
    const next = Number(second.id.split('-').pop()) + 1;
    const squatter = `op-labtest-${process.pid}-${next}-server`;
    execFileSync('ip', ['netns', 'add', squatter]);
    try {
      await expect(createLab({ tag: 'labtest' })).rejects.toThrow(/netns add/);
      expect(namespaces()).not.toContain(`op-labtest-${process.pid}-${next}-client`);
      expect(namespaces()).toContain(squatter);
    } finally {
      execFileSync('ip', ['netns', 'del', squatter]);
    }
    expect(namespaces().length).toBe(before);
    // Namespaces left by a run that died (its pid is gone) are swept by the next lab; live ones are not.
    const dead = 'op-labtest-999999999-1-client'; // above any pid_max
    execFileSync('ip', ['netns', 'add', dead]);
    expect(sweepStaleLabs()).toContain(dead);
    expect(namespaces()).not.toContain(dead);
    for (const ns of Object.values(lab.ns)) expect(namespaces()).toContain(ns);
    // A bad option fails before anything is made.
    await expect(createLab({ clientAddresses: 0 })).rejects.toThrow(/address count/);
    expect(namespaces().length).toBe(before);
  }, 60_000);

  it('records the MAC of every side and the planned addresses', () => {
    const mac = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
    for (const m of Object.values(lab.macs)) expect(m).toMatch(mac);
    expect(new Set([lab.macs.client, lab.macs.server, lab.macs.inj, lab.macs.mon]).size).toBe(4);
    for (const a of [...lab.addresses.clientV4, ...lab.addresses.blockedV4, ...lab.addresses.allowedV4]) expect(a).toMatch(/^198\.1[89]\./);
    for (const a of [...lab.addresses.clientV6, ...lab.addresses.blockedV6, ...lab.addresses.allowedV6]) expect(a).toMatch(/^2001:2::/);
  });

  it('peers: every connection to every service completes, over IPv4 and IPv6, open- and closed-loop', async () => {
    const all = [...lab.addresses.blockedV4, ...lab.addresses.allowedV4, lab.addresses.blockedV6[0]!, lab.addresses.allowedV6[0]!];
    const open = await runLoadClient(lab, repoRoot, [
      ...targets('banner', 'banner', all, DEFAULT_PORTS.banner),
      ...targets('reqresp', 'reqresp', all, DEFAULT_PORTS.reqresp),
      '--connections', '60', '--rate', '200', '--source', sources(),
    ]);
    expect(open.summary.mode).toBe('poisson');
    expect(open.summary.total.completed).toBe(60);
    for (const label of ['banner', 'reqresp']) {
      const s = open.summary.labels[label]!;
      expect(s.withAppBytes).toBe(30);
      expect(s.reset + s.timeout + s.error + s.closed).toBe(0);
    }
    const closed = await runLoadClient(lab, repoRoot, [
      ...targets('long', 'chatty', lab.addresses.allowedV4.slice(0, 1), DEFAULT_PORTS.chatty),
      ...targets('long', 'idle', lab.addresses.allowedV6.slice(0, 1), DEFAULT_PORTS.idle),
      '--connections', '4', '--concurrency', '4', '--hold-ms', '300', '--per-connection', '--source', sources(),
    ]);
    expect(closed.summary.mode).toBe('closed-loop');
    expect(closed.records.map((r) => r.outcome)).toEqual(['completed', 'completed', 'completed', 'completed']);
    const chatty = closed.records.filter((r) => r.service === 'chatty');
    const idle = closed.records.filter((r) => r.service === 'idle');
    for (const r of chatty) expect(r.appBytes).toBeGreaterThan(0); // ticks every 50 ms for 300 ms
    for (const r of idle) expect(r.appBytes).toBe(0);
    for (const r of closed.records) expect(r.sport).toBeGreaterThan(0);
  }, 60_000);

  it('the load client reports resets and refusals, and a client that keeps sending', async () => {
    // Nothing listens on port 9: the server's own stack refuses, which the client must count as a reset.
    const refused = await runLoadClient(lab, repoRoot, [
      ...targets('nothing', 'reqresp', lab.addresses.allowedV4.slice(0, 1), 9),
      '--connections', '5', '--concurrency', '5',
    ]);
    expect(refused.summary.total.reset).toBe(5);
    expect(refused.summary.total.resetWhileConnecting).toBe(5);
    expect(refused.summary.total.errorCodes).toEqual({ ECONNREFUSED: 5 });
    expect(refused.summary.total.resetBeforeFirstByte).toBe(5);

    // A server that closes before the exchange (ours never does) ends the connection early: counted as a reset
    // with the code EOF, since Linux sometimes reports an accepted RST that way.
    const closer = lab.spawn('server', process.execPath, [
      '-e', `require('node:net').createServer((s)=>s.end()).listen(7099,'::',()=>console.log('listening'));`,
    ]);
    await closer.waitForLine((l) => l === 'listening', 10_000);
    const early = await runLoadClient(lab, repoRoot, [
      ...targets('early', 'banner', lab.addresses.allowedV4.slice(0, 1), 7099), '--connections', '3', '--concurrency', '3',
    ]);
    await closer.stop();
    expect(early.summary.total).toMatchObject({ reset: 3, connected: 3, resetBeforeFirstByte: 3, errorCodes: { EOF: 3 } });

    const sending = await runLoadClient(lab, repoRoot, [
      ...targets('send', 'reqresp', lab.addresses.allowedV4.slice(0, 1), DEFAULT_PORTS.reqresp),
      '--connections', '2', '--concurrency', '2', '--send-interval-ms', '5', '--hold-ms', '200', '--per-connection',
    ]);
    expect(sending.summary.total.completed).toBe(2);
    // REQ answered, then DATA lines every 5 ms for 200 ms, each answered with a 256-byte payload.
    for (const r of sending.records) expect(r.appBytes).toBeGreaterThan(10 * 256);
  }, 60_000);

  it('the mirror copies both directions of the client-server traffic to mon, each frame once', async () => {
    const file = join(work, 'mon.pcap');
    const mon = await startWireCapture(lab, 'sensor', lab.ifaces.mon, file);
    const r = await runLoadClient(lab, repoRoot, [
      ...targets('m', 'reqresp', lab.addresses.allowedV4.slice(0, 2), DEFAULT_PORTS.reqresp),
      '--connections', '10', '--concurrency', '2', '--per-connection', '--source', lab.addresses.clientV4[0]!,
    ]);
    expect(r.summary.total.completed).toBe(10);
    await new Promise((done) => setTimeout(done, 200));
    const counts = await mon.stop();
    expect(counts.droppedByKernel).toBe(0);
    const seen = readTcp(file);
    for (const rec of r.records) {
      const flow = seen.filter((p) =>
        (p.src === rec.src && p.sport === rec.sport && p.dst === rec.dst && p.dport === rec.dport) ||
        (p.dst === rec.src && p.dport === rec.sport && p.src === rec.dst && p.sport === rec.dport));
      const syn = flow.filter((p) => p.flags === TcpFlag.SYN);
      const synAck = flow.filter((p) => p.flags === (TcpFlag.SYN | TcpFlag.ACK));
      expect(syn.length, `SYN of ${rec.sport}`).toBe(1);
      expect(synAck.length, `SYN-ACK of ${rec.sport}`).toBe(1);
      expect(syn[0]!.srcMac).toBe(lab.macs.client);
      expect(synAck[0]!.srcMac).toBe(lab.macs.server);
      // Both FINs came through (a retransmitted FIN may show up twice: that is the wire, not the mirror).
      expect(flow.filter((p) => p.flags & TcpFlag.FIN && p.srcMac === lab.macs.client).length).toBeGreaterThanOrEqual(1);
      expect(flow.filter((p) => p.flags & TcpFlag.FIN && p.srcMac === lab.macs.server).length).toBeGreaterThanOrEqual(1);
    }
  }, 60_000);

  it('a frame injected on inj reaches the client (not the mirror), and traffic still flows afterwards', async () => {
    const port = 40_000 + (process.pid % 20_000);
    const listener = lab.spawn('client', process.execPath, [
      '-e',
      `const s=require('node:dgram').createSocket('udp4');s.on('message',(m)=>{console.log('got '+m.toString());process.exit(0)});` +
        `s.bind(${port},()=>console.log('bound'));`,
    ]);
    await listener.waitForLine((l) => l === 'bound', 10_000);
    const file = join(work, 'mon-inject.pcap');
    const mon = await startWireCapture(lab, 'sensor', lab.ifaces.mon, file, 'udp');
    const frame = B.ethIpv4Udp({
      src: lab.addresses.allowedV4[0]!,
      dst: lab.addresses.clientV4[0]!,
      sport: 5555,
      dport: port,
      payload: Buffer.from('hello from inj'),
      eth: { src: macBytes(lab.macs.inj), dst: macBytes(lab.macs.client) },
    });
    const sent = await lab.exec('sensor', process.execPath, [labScript(repoRoot, 'inject-frame'), '--iface', lab.ifaces.inj, '--hex', Buffer.from(frame).toString('hex')]);
    expect(JSON.parse(sent.stdout)).toEqual({ sent: 1 });
    expect(await listener.waitForLine((l) => l.startsWith('got '), 10_000)).toBe('got hello from inj');
    await new Promise((done) => setTimeout(done, 200));
    await mon.stop();
    expect(readTcp(file)).toHaveLength(0);
    expect(analyseWireTiming(file, { injectorMacs: [lab.macs.inj], serverLabels: new Map() }).packets).toBe(0);
    // The bridge learnt the sensor's MAC on the injection port, and nobody else's: allowed traffic is untouched.
    const after = await runLoadClient(lab, repoRoot, [
      ...targets('a', 'banner', lab.addresses.allowedV4, DEFAULT_PORTS.banner), '--connections', '8', '--concurrency', '4',
    ]);
    expect(after.summary.total.completed).toBe(8);
    const fdb = await lab.exec('switch', 'bridge', ['fdb', 'show', 'dev', lab.ifaces.injPort]);
    expect(fdb.stdout).toContain(lab.macs.inj);
    expect(fdb.stdout).not.toContain(lab.macs.client);
    expect(fdb.stdout).not.toContain(lab.macs.server);
  }, 60_000);

  it('wire timing finds SYNs per attempt and reads payload towards the client on the switch port', async () => {
    const file = join(work, 'port.pcap');
    const cap = await startWireCapture(lab, 'switch', lab.ifaces.clientPort, file);
    await runLoadClient(lab, repoRoot, [
      ...targets('allowed', 'banner', lab.addresses.allowedV4.slice(0, 1), DEFAULT_PORTS.banner),
      ...targets('blocked', 'banner', lab.addresses.blockedV6.slice(0, 1), DEFAULT_PORTS.banner),
      '--connections', '6', '--concurrency', '2',
    ]);
    await new Promise((done) => setTimeout(done, 200));
    await cap.stop();
    const labels = new Map([[lab.addresses.allowedV4[0]!, 'allowed'], [lab.addresses.blockedV6[0]!, 'blocked']]);
    const t = analyseWireTiming(file, { injectorMacs: [lab.macs.inj], serverLabels: labels }, true);
    expect(t.decodeErrors).toBe(0);
    expect(t.labels.allowed!.attempts).toBe(3);
    expect(t.labels.blocked!.attempts).toBe(3);
    // No sensor runs here: no injected RST, and every banner went through.
    expect(t.injectedRstFrames).toBe(0);
    expect(t.labels.blocked!.withInjectedRst).toBe(0);
    expect(t.labels.allowed!.withServerPayloadBeforeRst).toBe(3);
  }, 60_000);
});
