/**
 * Session-level decision. A session has two endpoints, each matched on its own (IntelSet.matchV4/matchV6 return
 * the deciding entry for one endpoint). The session is decided by:
 *   1. allow on EITHER side wins (a protected asset talking to a blocked address is never reset);
 *   2. otherwise block (on either side) wins over monitor;
 *   3. on a tie the first endpoint (A) decides.
 * Action codes are ordered by precedence (monitor 1 < block 2 < allow 3), so this is "the larger code, A on ties".
 */

/** What decideSession needs from a set: the action code (1 monitor, 2 block, 3 allow) of a handle. */
export interface ActionCodeReader {
  actionCodeOf(handle: number): number;
}

/** Returns the handle (a or b) that decides the session, or -1 when neither endpoint matched. Allocation-free. */
export function decideSession(reader: ActionCodeReader, handleA: number, handleB: number): number {
  if (handleA < 0) return handleB < 0 ? -1 : handleB;
  if (handleB < 0) return handleA;
  return reader.actionCodeOf(handleB) > reader.actionCodeOf(handleA) ? handleB : handleA;
}

/** The same rule on action codes alone: 0 when A decides, 1 when B decides (codes 0 = no match). */
export function decidingSide(actionA: number, actionB: number): 0 | 1 {
  return actionB > actionA ? 1 : 0;
}
