/**
 * Puts raw Ethernet frames on an interface through libpcap (the `cap` package), to check the lab's injection
 * path without the sensor:
 *
 *   ip netns exec SENSOR_NS node dist/test/bench/lab/inject-frame.js --iface inj --hex 0011223344... [--hex ...]
 *
 * Prints `{"sent":N}` and exits 0, or exits 1 with the libpcap error.
 */
import { createRequire } from 'node:module';
import { ArgReader, runMain } from './lab-protocol.js';

const USAGE = 'usage: node inject-frame.js --iface IF --hex FRAME [--hex FRAME ...]';

/** The part of `cap` used here (the package ships no types). */
interface CapHandle {
  open(device: string, filter: string, bufferSize: number, buffer: Buffer): string;
  send(frame: Buffer, length?: number): void;
  close(): void;
}

function main(): number {
  const args = new ArgReader(process.argv.slice(2), ['help'], USAGE);
  args.rejectUnknown(['iface', 'hex', 'help']);
  if (args.flag('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const iface = args.string('iface');
  const frames = args.all('hex').map((h) => Buffer.from(h, 'hex'));
  if (!iface || frames.length === 0 || frames.some((f) => f.length < 14)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const require = createRequire(import.meta.url);
  const { Cap } = require('cap') as { Cap: new () => CapHandle };
  const cap = new Cap();
  // A filter that matches nothing: this handle only sends.
  cap.open(iface, 'less 1', 1 << 20, Buffer.alloc(65536));
  try {
    for (const f of frames) cap.send(f, f.length);
  } finally {
    cap.close();
  }
  process.stdout.write(`${JSON.stringify({ sent: frames.length })}\n`);
  return 0;
}

runMain(main);
