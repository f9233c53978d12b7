#!/usr/bin/env node
/**
 * A fast frame sender for the capture benchmark: sends COUNT Ethernet/IPv4/UDP frames of SIZE bytes over FLOWS
 * flows (198.18.0.0/15) through the addon's batched injector (sendmmsg, 1024 frames per call), from inside a
 * network namespace. Faster than tcpreplay, which sends one frame per system call.
 *
 *   node native-bindings/bench/blast.mjs NETNS_PATH IFACE COUNT SIZE FLOWS
 * Prints {"sent":N,"seconds":S,"packetsPerSecond":R} on stdout.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [netns, iface, countArg, sizeArg, flowsArg] = process.argv.slice(2);
const count = Number(countArg);
const size = Number(sizeArg ?? 64);
const flows = Number(flowsArg ?? 1000);
const here = dirname(fileURLToPath(import.meta.url));
const addon = createRequire(import.meta.url)(join(here, '..', 'build', 'Release', 'offpath_native.node'));
const injector = new addon.FrameInjectorHandle({ iface, netns, qdiscBypass: true, sendBufferBytes: 8 << 20 });

const BATCH = 1024;
const buffer = new Uint8Array(BATCH * size);
const offsets = new Uint32Array(BATCH);
const lengths = new Uint32Array(BATCH).fill(size);
const view = new DataView(buffer.buffer);
for (let i = 0; i < BATCH; i++) {
  const f = i * size;
  offsets[i] = f;
  buffer.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], f);
  const flow = i % flows;
  const ip = f + 14;
  buffer.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, flow >> 8, flow & 0xff, 198, 19, 0, 1], ip);
  view.setUint16(ip + 2, size - 14);
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += view.getUint16(ip + k);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  view.setUint16(ip + 10, ~sum & 0xffff);
  view.setUint16(ip + 20, 10000 + flow);
  view.setUint16(ip + 22, 53);
  view.setUint16(ip + 24, size - 34);
}

const start = process.hrtime.bigint();
let sent = 0;
while (sent < count) {
  const n = Math.min(BATCH, count - sent);
  const accepted = injector.sendBatch(buffer, offsets, lengths, n);
  sent += accepted;
  // A full queue refuses the rest of the batch: let the receiver catch up a little.
  if (accepted < n) await new Promise((r) => setImmediate(r));
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
injector.close();
process.stdout.write(`${JSON.stringify({ sent, seconds, packetsPerSecond: Math.round(sent / seconds) })}\n`);
