/**
 * Checks a small synthetic capture with the reference tools, so a change to the generator cannot quietly make
 * it unrealistic or broken:
 * - capinfos: classic pcap, Ethernet, microseconds, the packet count the generator reported, strict time order;
 * - tcpdump -r: reads every packet without error;
 * - tshark -c 2000 -V: no malformed packet in the verbose dissection;
 * - tshark over the whole file with IP/TCP/UDP checksum validation on: no malformed packet, no bad checksum,
 *   no expert error, TCP handshakes (SYN, SYN-ACK), many TCP streams, DNS responses, TLS SNI.
 *
 *   node dist/test/bench/verify-synthetic.js [--packets N] [--flows N] [--seed N] [--keep]
 *
 * Prints one JSON object; exit code 0 when every check passes, 1 otherwise.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSyntheticPcap } from './synthetic-pcap.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.error) return { status: null, stdout: '', stderr: r.error.message };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CHECKSUM_PREFS = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];

/** Number of packets of `file` matching a tshark display filter. */
function countMatching(file: string, filter: string): number {
  const r = run('tshark', ['-r', file, ...CHECKSUM_PREFS, '-Y', filter, '-T', 'fields', '-e', 'frame.number']);
  // A filter tshark rejects would otherwise count as "no packet matches" and pass.
  if (r.status !== 0) throw new Error(`tshark -Y '${filter}' failed: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter((l) => l.trim().length > 0).length;
}

async function main(argv: string[]): Promise<number> {
  let packets = 60_000;
  let flows = 12_000;
  let seed = 1;
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--keep') keep = true;
    else if (a === '--packets') packets = Number(argv[++i]);
    else if (a === '--flows') flows = Number(argv[++i]);
    else if (a === '--seed') seed = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'offpath-verify-synthetic-'));
  const file = join(dir, 'synthetic.pcap');
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail });
    process.stderr.write(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}\n`);
  };
  try {
    const gen = await generateSyntheticPcap(file, { packets, flows, seed });
    process.stderr.write(`generated ${gen.packets} packets, ${gen.flows} flows in ${gen.generationSeconds.toFixed(2)} s\n`);

    const cap = run('capinfos', ['-M', file]);
    const field = (label: string): string => cap.stdout.match(new RegExp(`^${label}:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
    check('capinfos reads the file', cap.status === 0, cap.status === 0 ? field('File type') : cap.stderr.trim());
    check('pcap, Ethernet, microseconds',
      /pcap/.test(field('File type')) && !/pcapng/.test(field('File type')) && /ether/i.test(field('File encapsulation')) &&
        /microseconds/.test(field('File timestamp precision')),
      `${field('File type')}; ${field('File encapsulation')}; ${field('File timestamp precision')}`);
    check('packet count', Number(field('Number of packets')) === gen.packets, `${field('Number of packets')} (generator: ${gen.packets})`);
    check('strict time order', field('Strict time order') === 'True', field('Strict time order'));

    const td = run('tcpdump', ['-r', file, '-w', '/dev/null']);
    check('tcpdump -r reads it all', td.status === 0, td.status === 0 ? 'exit 0' : td.stderr.trim());

    const verbose = run('tshark', ['-r', file, '-c', '2000', '-V']);
    const malformedVerbose = (verbose.stdout.match(/Malformed Packet/g) ?? []).length;
    check('tshark -c 2000 -V: no malformed packet', verbose.status === 0 && malformedVerbose === 0,
      `${(verbose.stdout.match(/^Frame \d+:/gm) ?? []).length} frames dissected, ${malformedVerbose} malformed`);

    const bad = countMatching(file,
      '_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || ' +
        'udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad"');
    check('whole file: no malformed packet, bad checksum or expert error', bad === 0, `${bad} such packets`);
    const good = countMatching(file, 'tcp.checksum.status == "Good" || udp.checksum.status == "Good"');
    check('TCP/UDP checksums validated good', good > 0.95 * gen.packets * (gen.share.tcp + gen.share.udp),
      `${good} packets with a good transport checksum`);

    const syn = countMatching(file, 'tcp.flags.syn == 1 && tcp.flags.ack == 0');
    const synAck = countMatching(file, 'tcp.flags.syn == 1 && tcp.flags.ack == 1');
    check('TCP handshakes', syn > 0 && synAck > 0.8 * syn, `${syn} SYN, ${synAck} SYN-ACK`);
    const streams = run('tshark', ['-r', file, '-Y', 'tcp', '-T', 'fields', '-e', 'tcp.stream']);
    const streamCount = new Set(streams.stdout.split('\n').filter((l) => l.length > 0)).size;
    check('TCP streams', streamCount >= gen.flowsByType.tcpEstablished! + gen.flowsByType.tcpFailed! - 1,
      `${streamCount} streams (generator: ${gen.flowsByType.tcpEstablished! + gen.flowsByType.tcpFailed!} TCP flows)`);
    const dns = countMatching(file, 'dns.flags.response == 1');
    check('DNS responses', dns > 0.9 * gen.flowsByType.dns!, `${dns} responses for ${gen.flowsByType.dns} lookups`);
    const sni = countMatching(file, 'tls.handshake.extensions_server_name');
    check('TLS ClientHellos with SNI', sni > 0, `${sni}`);

    const failed = checks.filter((c) => !c.ok).length;
    process.stdout.write(`${JSON.stringify({ file: keep ? file : null, generator: gen, checks, failed }, null, 2)}\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`verify-synthetic: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
