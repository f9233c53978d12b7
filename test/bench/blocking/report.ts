/** Readable tables for the blocking and capture parts (stderr). */
import { fmtBytes, fmtCount, fmtFixed, renderTable } from '../harness/table.js';
import type { BackendFigures } from './blocking-part.js';
import type { CaptureBackendFigures } from './capture-part.js';

const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
const us = (v: number | null): string => (v === null ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(0)} µs`);

export function blockingTable(backends: readonly BackendFigures[]): string {
  const rows: string[][] = [];
  for (const b of backends) {
    for (const s of b.scenarios) {
      rows.push([
        `${b.backend} ${s.scenario}`,
        fmtCount(s.blocked.connections),
        pct(s.blocked.fractionResetBeforeFirstByte),
        String(s.blocked.completed),
        String(s.blocked.leakingConnections),
        fmtBytes(s.blocked.leakedBytes.total),
        String(s.allowed.collateralResets),
        `${s.allowed.completed}/${s.allowed.connections}`,
        us(s.wire.synToRstUs.p50),
        us(s.wire.synToRstUs.p99),
        us(s.wire.synToRstUs.max),
        String(s.sensor.kills_failed_total ?? '-'),
      ]);
    }
  }
  return renderTable(
    ['backend / scenario', 'blocked', 'reset<1st byte', 'completed', 'leaking', 'leaked', 'collateral', 'allowed ok', 'RST p50', 'RST p99', 'RST max', 'kills failed'],
    rows,
  );
}

export function captureTable(backends: readonly CaptureBackendFigures[]): string {
  const rows: string[][] = [];
  for (const b of backends) {
    for (const s of b.steps) {
      rows.push([
        `${b.backend} ${s.requestedPps === null ? 'topspeed' : `${fmtCount(s.requestedPps)} pps`}`,
        fmtCount(s.sent),
        fmtCount(s.achievedPps),
        fmtCount(s.processed),
        fmtFixed(s.processedRatio * 100, 2, ' %'),
        fmtCount(s.drops),
        fmtCount(s.interfaceRxDropped),
      ]);
    }
    rows.push([`${b.backend}: drops from`, '', b.dropsFromPps === null ? 'none seen' : `${fmtCount(b.dropsFromPps)} pps`, '', '', '', '']);
  }
  return renderTable(['backend / rate', 'sent', 'sent pps', 'processed', 'processed/sent', 'sensor drops', 'mon rx dropped'], rows);
}
