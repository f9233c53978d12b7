import { IntelSet } from '../intel/intel-set.js';
import { DEFAULT_GUARDS } from '../respond/guards/guard-policy.js';
import { InjectionPath } from '../respond/injection/injection-path.js';
import { DEFAULT_KILL_VERIFIER, KillVerifier } from '../respond/kill-verifier.js';
import { DEFAULT_RESPONDER } from '../respond/responder.js';
import { newCraftedSegment, writeSegmentFrame } from '../respond/tcp-segment.js';
import { Engine } from './engine.js';

const SYN = 0x02;
const ACK = 0x10;
const RST = 0x04;

/**
 * Runs the blocking path — decode, session, match, decide, plan, craft, inject, verify — a few thousand times on
 * made-up connections through a throwaway engine whose injector discards everything, before the first real packet.
 * V8 compiles a function only after it has run often enough; without this, the first blocked connections would go
 * through cold, interpreted code and lose the race against the first byte by a millisecond or more. Shares no
 * state with the real engine (only the code), sends nothing, takes a few tens of milliseconds.
 */
export function warmUpBlockingPath(connections = 3000): { frames: number; seconds: number } {
  const started = performance.now();
  const intel = new IntelSet();
  intel.upsert({ indicator: '192.0.2.0/24', source: 'warm-up' });
  const discard = { name: 'discard', send: () => true, sendBatch: (_b: Uint8Array, _o: Uint32Array, _l: Uint32Array, n: number) => n, close: () => {} };
  const path = new InjectionPath({
    toClient: { mode: 'own', nextHopMac: null, vlan: 'observed' },
    toServer: { mode: 'observed', nextHopMac: null, vlan: 'observed' },
    ownMac: Uint8Array.of(2, 0, 0, 0, 0, 1),
  }, discard, null);
  const unlimited = 1e12;
  const engine = new Engine({
    capacity: 8192,
    intel,
    guards: { ...DEFAULT_GUARDS, circuitBreaker: null, globalRate: unlimited, globalBurst: unlimited, targetRate: unlimited, targetBurst: unlimited },
    responder: DEFAULT_RESPONDER,
    sink: path,
  });
  const verifier = new KillVerifier(DEFAULT_KILL_VERIFIER, () => performance.now() / 1000, { triggerToInjection: () => {}, injectionToKill: () => {} }, () => path.flush());
  engine.responder!.observer = verifier;
  const frame = new Uint8Array(128);
  const seg = newCraftedSegment();
  const clientMac = Uint8Array.of(2, 0, 0, 0, 0, 2);
  const serverMac = Uint8Array.of(2, 0, 0, 0, 0, 3);
  let frames = 0;
  const send = (fromClient: boolean, flags: number, seq: number, ack: number, client: number, port: number, ts: number) => {
    seg.src0 = 0; seg.src1 = 0; seg.src2 = 0xffff; seg.dst0 = 0; seg.dst1 = 0; seg.dst2 = 0xffff;
    seg.src3 = fromClient ? client : 0xc0000201;
    seg.dst3 = fromClient ? 0xc0000201 : client;
    seg.srcPort = fromClient ? port : 443;
    seg.dstPort = fromClient ? 443 : port;
    seg.seq = seq;
    seg.ack = ack;
    seg.flags = flags;
    const length = writeSegmentFrame(frame, seg, fromClient ? serverMac : clientMac, 0, fromClient ? clientMac : serverMac, 0);
    engine.handle(frame, 0, length, length, 1, Math.floor(ts), Math.round((ts % 1) * 1e9));
    path.flush();
    frames++;
  };
  for (let i = 0; i < connections; i++) {
    // 100.64.0.0/10 clients, each new (no hold-down shortcut), to a blocked server: the real race's first packets.
    const client = (0x64400000 + i) >>> 0;
    const port = 20000 + (i % 40000);
    const ts = 1_000_000 + i * 0.001;
    send(true, SYN, 1000 + i, 0, client, port, ts);
    send(false, SYN | ACK, 5000 + i, 1001 + i, client, port, ts + 0.0001);
    send(true, ACK, 1001 + i, 5001 + i, client, port, ts + 0.0002);
    send(true, RST, 1001 + i, 0, client, port, ts + 0.0003);
  }
  verifier.sweep(engine.responder!.records);
  engine.finish();
  return { frames, seconds: (performance.now() - started) / 1000 };
}
