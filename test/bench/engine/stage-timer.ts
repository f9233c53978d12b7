/**
 * Times the first stages of the replay pipeline alone, for the engine benchmark's breakdown of where replay time
 * goes: `read` (the capture reader over every record) or `decode` (the reader and the decoder). The session table
 * and the rest are what `offpath replay` adds on top. Prints one JSON object: { stage, packets, seconds }, the
 * seconds of the loop only (without node's start-up), as replay's own `seconds`.
 *
 *   node dist/test/bench/engine/stage-timer.js read|decode FILE
 */
import { performance } from 'node:perf_hooks';
import { openCaptureFile } from '../../../src/capture/file/open-capture-file.js';
import { decodePacket } from '../../../src/decode/decoder.js';
import { DecodedPacket } from '../../../src/decode/decoded-packet.js';

function main(argv: string[]): void {
  const [stage, file] = argv;
  if ((stage !== 'read' && stage !== 'decode') || file === undefined) {
    process.stderr.write('usage: node dist/test/bench/engine/stage-timer.js read|decode FILE\n');
    process.exit(2);
  }
  const { source } = openCaptureFile(file);
  const pkt = new DecodedPacket();
  let packets = 0;
  // Used in the output, so that no work is left out as unused.
  let sink = 0;
  const started = performance.now();
  try {
    if (stage === 'read') {
      while (source.next()) {
        packets++;
        sink += source.capturedLength;
      }
    } else {
      while (source.next()) {
        packets++;
        sink += decodePacket(pkt, source.data, source.offset, source.capturedLength, source.wireLength, source.linkType);
      }
    }
  } finally {
    source.close();
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ stage, packets, seconds, sink })}\n`);
}

main(process.argv.slice(2));
