/**
 * Actions and their precedence.
 *
 *   allow   = protected asset: never reset, whatever else matches (availability first)
 *   block   = reset the session
 *   monitor = alert only
 *
 * Codes are small integers packed into lookup-table values and entry flags; 0 means "no entry / free slot".
 * Within one key (same indicator text) the strongest action is the one looked up: allow > block > monitor.
 */
import { IntelEntryError } from './errors.js';

export type IntelAction = 'block' | 'monitor' | 'allow';
export const INTEL_ACTIONS: readonly IntelAction[] = ['block', 'monitor', 'allow'];

export const ACTION_NONE = 0;
export const ACTION_MONITOR = 1;
export const ACTION_BLOCK = 2;
export const ACTION_ALLOW = 3;

const NAMES: readonly (IntelAction | 'none')[] = ['none', 'monitor', 'block', 'allow'];

export function actionCode(action: IntelAction): number {
  return action === 'allow' ? ACTION_ALLOW : action === 'block' ? ACTION_BLOCK : ACTION_MONITOR;
}

export function actionName(code: number): IntelAction {
  const name = NAMES[code];
  if (name === undefined || name === 'none') throw new RangeError(`no action has code ${code}`);
  return name;
}

/** Parses an action name (case-insensitive, surrounding spaces ignored); undefined or '' gives `fallback`. */
export function parseAction(value: unknown, fallback: IntelAction = 'block'): IntelAction {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string') throw new IntelEntryError('action', `expected a string, got ${typeof value}`, 'actions are block, monitor, allow');
  const text = value.trim().toLowerCase();
  if (text === '') return fallback;
  if (text === 'block' || text === 'monitor' || text === 'allow') return text;
  throw new IntelEntryError('action', `unknown action ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`, 'actions are block (reset), monitor (alert only), allow (protected asset)');
}
