/** The engine benchmark's readable table (stderr). */
import { fmtBytes, fmtCount, fmtFixed, renderTable } from '../harness/table.js';
import type { CaptureFigures } from './measure.js';

export function engineTable(results: CaptureFigures[]): string {
  const headers = [
    'capture',
    'packets',
    'tcpdump pps',
    'ns/pkt',
    'offpath pps',
    'ns/pkt',
    'ratio',
    'wall ratio',
    'peak RSS',
    'B/session',
    'sessions',
    'decode err',
  ];
  const rows = results.map((r) => {
    const sessions = r.offpath?.sessions;
    const sessionTotal =
      sessions && sessions.tcp !== null && sessions.udp !== null && sessions.other !== null
        ? sessions.tcp + sessions.udp + sessions.other
        : null;
    const goal = r.meetsGoal === null ? '' : r.meetsGoal ? ' ok' : ' LOW';
    return [
      r.capture.name,
      fmtCount(r.capture.packets),
      fmtCount(r.tcpdump?.pps),
      fmtFixed(r.tcpdump?.nsPerPacket, 0),
      fmtCount(r.offpath?.pps),
      fmtFixed(r.offpath?.nsPerPacket, 0),
      `${fmtFixed(r.ratio, 2)}${goal}`,
      fmtFixed(r.ratioWall, 2),
      fmtBytes(r.offpath?.peakRssBytes ?? r.offpath?.externalMaxRssBytes),
      fmtFixed(r.offpath?.bytesPerSession, 0),
      fmtCount(sessionTotal),
      fmtCount(r.offpath?.decodeErrorTotal),
    ];
  });
  const goal = results[0]?.ratioGoal ?? 0.5;
  const stages = results
    .filter((r) => r.stages !== null)
    .map((r) =>
      `${r.capture.name}, best runs: reading alone ${fmtFixed(r.stages!.readSeconds, 3)} s, reading and decoding ` +
      `${fmtFixed(r.stages!.decodeSeconds, 3)} s, the whole replay ${fmtFixed(r.offpath?.seconds, 3)} s, tcpdump ${fmtFixed(r.tcpdump?.bestSeconds, 3)} s.\n`,
    )
    .join('');
  return (
    `${renderTable(headers, rows)}\n` +
    stages +
    `ratio = offpath pps (pipeline time) / tcpdump pps (tcpdump -r FILE -w /dev/null); goal >= ${goal} on one core.\n` +
    'wall ratio uses offpath\'s whole-process wall time (node start-up included). Best of the timed runs.'
  );
}
