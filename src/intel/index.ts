/** Public surface of the intel layer. */
export { ACTION_ALLOW, ACTION_BLOCK, ACTION_MONITOR, actionCode, actionName, INTEL_ACTIONS, parseAction, type IntelAction } from './action.js';
export { DEFAULT_BREADTH_POLICY, isOverBroad, overBroadReason, type BreadthPolicy } from './breadth.js';
export { DEFAULT_SOURCE, normaliseTags, prepareEntry, type IntelEntryInput, type PreparedEntry, type PrepareOptions } from './entry.js';
export { IndicatorError, IntelCapacityError, IntelEntryError, IntelFileError, INDICATOR_FORMS } from './errors.js';
export { EPOCH_THRESHOLD, NEVER_EXPIRES, parseExpiry, parseTtlSeconds, wallClockSeconds } from './expiry.js';
export {
  INDICATOR_KINDS, IP_PROTO_TCP, IP_PROTO_UDP, maskV4, maskV6Word, MAX_INDICATOR_LENGTH, parseIndicator, tryParseIndicator,
  type IndicatorKind, type ParsedIndicator, type ParseIndicatorOptions, type PortProtocol,
} from './indicator.js';
export { detectIntelFormat, IntelLineLoader, loadIntelFile, loadIntelStream, type IntelFileFormat, type IntelLineError, type IntelLoadOptions, type IntelLoadStats } from './intel-file.js';
export { IntelSet, type IntelCounts, type IntelEntryView, type IntelSetOptions } from './intel-set.js';
export { decideSession, decidingSide, type ActionCodeReader } from './precedence.js';
