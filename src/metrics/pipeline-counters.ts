import { DECODE_ERROR_COUNT, decodeErrorsToObject } from '../decode/decode-error.js';
import { noFlowReasonNames } from '../decode/decoded-packet.js';

/** Plain numeric counters the hot path bumps; exported to summaries now and to Prometheus by the sensor. */
export class PipelineCounters {
  packets = 0;
  /** Captured bytes (what capinfos calls data size). */
  bytes = 0;
  /** Bytes on the wire (frame lengths before any snap length cut). */
  wireBytes = 0;
  readonly decodeErrors = new Float64Array(DECODE_ERROR_COUNT);
  readonly anomalies = new Float64Array(DECODE_ERROR_COUNT);
  readonly noFlow = new Float64Array(noFlowReasonNames.length);
  fragments = 0;
  tunnelled = 0;

  decodeErrorsObject(): Record<string, number> {
    return decodeErrorsToObject(this.decodeErrors);
  }

  anomaliesObject(): Record<string, number> {
    return decodeErrorsToObject(this.anomalies);
  }

  noFlowObject(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < noFlowReasonNames.length; i++) if (this.noFlow[i]! > 0) out[noFlowReasonNames[i]!] = this.noFlow[i]!;
    return out;
  }
}
