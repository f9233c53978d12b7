import { execFile, execFileSync } from 'node:child_process';

/** What tshark (an independent decoder) says about a capture file, reduced to what replay also reports. */
export interface TsharkCounts {
  packets: number;
  /** Sum of captured lengths (capinfos' data size). */
  bytes: number;
  tcpStreams: number;
  udpStreams: number;
}

/** Protocols that offpath decapsulates when they ride in UDP: the outer UDP is transport, not a session. */
const UDP_TUNNELS = new Set(['vxlan', 'geneve', 'gtp', 'teredo', 'gre', 'mpls', 'nsh', 'vxlan-gpe', 'erspan']);
const ICMP = new Set(['icmp', 'icmpv6']);

/**
 * Counts tshark's tcp.stream and udp.stream values the way offpath keys sessions: per frame, only the innermost
 * TCP or UDP layer counts (offpath opens tunnels), UDP that carries a tunnel is skipped, and a TCP/UDP header
 * quoted inside an ICMP error belongs to another flow, not a new one.
 */
export async function tsharkCounts(file: string): Promise<TsharkCounts> {
  const out = await tsharkFields(file, ['frame.protocols', 'tcp.stream', 'udp.stream', 'frame.cap_len']);
  const tcp = new Set<string>();
  const udp = new Set<string>();
  let packets = 0;
  let bytes = 0;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [protocolList = '', tcpList = '', udpList = '', capLen = '0'] = line.split('\t');
    packets++;
    bytes += Number(capLen) || 0;
    const protocols = protocolList.split(':');
    const tcpIds = tcpList.split(',').filter(Boolean);
    const udpIds = udpList.split(',').filter(Boolean);
    let tcpIndex = 0;
    let udpIndex = 0;
    let insideIcmp = false;
    let innermost: { set: Set<string>; id: string } | null = null;
    protocols.forEach((p, i) => {
      if (ICMP.has(p)) insideIcmp = true;
      if (p === 'tcp') {
        const id = tcpIds[tcpIndex++];
        if (!insideIcmp && id !== undefined) innermost = { set: tcp, id };
      } else if (p === 'udp') {
        const id = udpIds[udpIndex++];
        if (!insideIcmp && id !== undefined && !UDP_TUNNELS.has(protocols[i + 1] ?? '')) innermost = { set: udp, id };
      }
    });
    const found = innermost as { set: Set<string>; id: string } | null;
    if (found) found.set.add(found.id);
  }
  return { packets, bytes, tcpStreams: tcp.size, udpStreams: udp.size };
}

/**
 * Runs tshark asynchronously (so test workers stay responsive) and returns its field output. A damaged file
 * makes tshark exit non-zero after printing what it could read; that output is what we compare against.
 */
export function tsharkFields(file: string, fields: string[], extraArgs: string[] = []): Promise<string> {
  const args = ['-n', '-r', file, ...extraArgs, '-T', 'fields', '-E', 'separator=\t', ...fields.flatMap((f) => ['-e', f])];
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20 }, (err, stdout) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') reject(err);
      else resolve(stdout);
    });
  });
}

export function haveTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
