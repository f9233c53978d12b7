/**
 * Token scopes, ordered: a token with a higher scope may do everything a lower one may.
 *   read   check, list, get, sensors, events, enforcement state
 *   write  + create / update / delete blocks and allowlist entries, bulk import
 *   admin  + the enforcement switch, tokens, the audit trail, over-broad blocks (force)
 */
export type Scope = 'read' | 'write' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/** What a route needs: a scope, or nothing at all (health endpoints only). */
export type RouteAccess = Scope | 'public';

const RANK: Readonly<Record<Scope, number>> = { read: 1, write: 2, admin: 3 };

export function scopeAllows(granted: Scope, needed: Scope): boolean {
  return RANK[granted] >= RANK[needed];
}

export function isScope(value: unknown): value is Scope {
  return value === 'read' || value === 'write' || value === 'admin';
}
