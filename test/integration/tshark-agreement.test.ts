import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runReplay } from '../../src/pipeline/replay.js';
import { parseTimeouts } from '../../src/session/timeouts.js';
import { corpusEntries, ownPcapsDir } from '../support/corpus.js';
import { haveTshark, TsharkCounts, tsharkCounts } from '../support/tshark-oracle.js';

/**
 * Replay must agree with tshark, an independent decoder, on packets, bytes and TCP/UDP session counts for
 * every capture we recorded and every corpus file. Sessions are compared with idle expiry off, because tshark
 * never times a conversation out (the effect of the default timeouts is tested on its own below).
 *
 * Where offpath differs on purpose, the file is listed here with the adjusted numbers and the reason.
 */
interface KnownDifference {
  expect: Partial<TsharkCounts>;
  why: string;
  /** Replay options that make the difference disappear, when there are some. */
  agreesWith?: { vlanTracking?: boolean };
}

const KNOWN_DIFFERENCES: Record<string, KnownDifference> = {
  'tcpdump/dsa.pcap': {
    expect: { packets: 8, bytes: 722 },
    why: 'Wireshark 4.0 cannot read link type 284 (DSA tags) at all; offpath reads the 8 records (the manifest count) and counts them as link_type_unsupported',
  },
  'suricata-verify/bug-6875-01/fuzz.pcap': {
    expect: { packets: 1, bytes: 188 },
    why: 'fuzzed file: libpcap/tcpdump read 1 record and then stop at an impossible length, as offpath does; Wireshark guesses a different record-header variant and reads one more',
  },
  'tcpdump/LINKTYPE_IPV4_invalid.pcap': {
    expect: { udpStreams: 0 },
    why: 'an IPv6 packet in a LINKTYPE_IPV4 file: offpath holds the link type to its promise (ipv4_bad_version); Wireshark dissects it as IPv6',
  },
  'tcpdump/ipv4_invalid_total_length.pcap': {
    expect: { udpStreams: 0 },
    why: 'IPv4 total length exceeds the frame: Linux drops such a packet, so offpath counts it as ipv4_bad_total_length; Wireshark dissects what is there',
  },
  'suricata-verify/ipv4-truncated/truncated.pcap': {
    expect: { udpStreams: 0 },
    why: 'IPv4 total length 65028 in a 1530-byte frame: dropped as ipv4_bad_total_length (as Linux and Suricata do)',
  },
  'ndpi/fuzz-2006-06-26-2594.pcap': {
    expect: { tcpStreams: 20 },
    why: 'fuzzed IPv4 headers: three TCP conversations exist only in packets with a bad version, header length or total length, which offpath rejects',
  },
  'zeek/fragmented-3.pcap': {
    expect: { tcpStreams: 1 },
    why: 'the last fragment is missing: Wireshark never reassembles, so shows no TCP; offpath takes the ports from the first fragment, as designed',
  },
  'zeek/fragmented-syn.pcap': {
    expect: { tcpStreams: 0 },
    why: 'the TCP header is split across fragments (RFC 1858 tiny fragments): counted as fragment_l4_header_split; offpath does not reassemble yet',
  },
  'suricata-verify/bug-6887-defrag-eth-vlan-ipv4-tcp-syn/frag-eth-vlan-ip-tcp-syn.pcap': {
    expect: { tcpStreams: 0 },
    why: 'TCP header split across fragments: fragment_l4_header_split (no reassembly yet)',
  },
  'suricata-verify/bug-6887-defrag-ipv4-tcp-syn/frag-ip-tcp-syn.pcap': {
    expect: { tcpStreams: 0 },
    why: 'TCP header split across fragments: fragment_l4_header_split (no reassembly yet)',
  },
  'suricata-verify/bug-6887-defrag-ppp-ipv4-tcp-syn/frag-ppp-ip-tcp-syn.pcap': {
    expect: { tcpStreams: 0 },
    why: 'TCP header split across fragments: fragment_l4_header_split (no reassembly yet)',
  },
  'ndpi/ip_fragmented_garbage.pcap': {
    expect: { tcpStreams: 0 },
    why: 'every TCP header is split across fragments: fragment_l4_header_split (no reassembly yet)',
  },
  'zeek/gap-data-missing.pcapng': {
    expect: { tcpStreams: 2 },
    why: 'the two directions of one LDAP connection arrive on different VLANs (80 and 81); VLANs are part of the session key by default, so it is two one-way sessions; with --ignore-vlan it is one, as in tshark',
    agreesWith: { vlanTracking: false },
  },
};

const noTimeouts = parseTimeouts('none');
/** tshark takes seconds on the larger corpus files, more with both cores busy. */
const TSHARK_TIMEOUT_MS = 120_000;

function replayCounts(path: string, vlanTracking = true) {
  const summary = runReplay({ files: [path], timeouts: noTimeouts, vlanTracking, capacity: 100_000 });
  return {
    summary,
    counts: {
      packets: summary.packets,
      bytes: summary.bytes,
      tcpStreams: summary.sessions.tcp,
      udpStreams: summary.sessions.udp,
    } satisfies TsharkCounts,
  };
}

async function checkAgainstTshark(name: string, path: string): Promise<void> {
  const tshark = await tsharkCounts(path);
  const { counts } = replayCounts(path);
  const known = KNOWN_DIFFERENCES[name];
  expect(counts, known?.why ?? 'offpath and tshark disagree').toEqual({ ...tshark, ...known?.expect });
  if (known?.agreesWith) {
    const again = replayCounts(path, known.agreesWith.vlanTracking ?? true).counts;
    expect(again).toEqual(tshark);
  }
}

const tshark = haveTshark();
const ownCaptures = readdirSync(ownPcapsDir).filter((f) => /\.pcap(ng)?$/.test(f));
const corpus = corpusEntries();

describe.runIf(tshark)('replay agrees with tshark on the recorded captures in pcaps/', () => {
  test('there are recorded captures', () => expect(ownCaptures.length).toBeGreaterThan(5));
  test.concurrent.each(ownCaptures)('%s', (file) => checkAgainstTshark(`pcaps/${file}`, join(ownPcapsDir, file)), TSHARK_TIMEOUT_MS);
});

describe.runIf(tshark && corpus.length > 0)('replay agrees with tshark on the shared corpus', () => {
  test.concurrent.each(corpus.map((e) => [e.file, e] as const))('%s', (_name, entry) => checkAgainstTshark(entry.file, entry.path), TSHARK_TIMEOUT_MS);

  test('packet counts equal the manifest (capinfos) for every file, including those broken at the file level', { timeout: TSHARK_TIMEOUT_MS }, () => {
    const wrong: string[] = [];
    for (const entry of corpus) {
      const { summary } = replayCounts(entry.path);
      const expected = KNOWN_DIFFERENCES[entry.file]?.expect.packets ?? entry.packets;
      if (summary.packets !== expected) wrong.push(`${entry.file}: ${summary.packets} != ${expected}`);
      // A file Wireshark calls broken must be reported as such (or, for an unknown link type, decode-failed).
      if (entry.fileReadError && !/unsupported link type/.test(entry.fileReadError)) {
        if (!summary.files[0]!.error) wrong.push(`${entry.file}: no file error reported (${entry.fileReadError})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('every known difference still names a corpus file', () => {
    const names = new Set(corpus.map((e) => e.file));
    expect(Object.keys(KNOWN_DIFFERENCES).filter((f) => !names.has(f))).toEqual([]);
  });
});

describe('default idle timeouts split sessions only where capture time says so', () => {
  test.runIf(corpus.length > 0)('zeek/pppoe-over-qinq.pcap: a closing TCP session idle for 235 s (> tcpClosing 120 s) is two sessions', () => {
    const path = corpus.find((e) => e.file === 'zeek/pppoe-over-qinq.pcap')!.path;
    const withDefaults = runReplay({ files: [path] });
    expect(withDefaults.sessions.tcp).toBe(2);
    expect(withDefaults.sessionTable.expired).toBeGreaterThanOrEqual(1);
    expect(replayCounts(path).counts.tcpStreams).toBe(1);
  });
});
