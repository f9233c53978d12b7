/**
 * Token text and its hash. A token is `opk_<id>_<secret>`: the id (16 hex digits) names the token record and is
 * not secret (it appears in lists and the audit trail); the secret is 32 random bytes (base64url). Only the
 * SHA-256 of the whole token is stored, and a presented token is checked by hashing it and comparing the two
 * digests with crypto.timingSafeEqual, so neither the store nor the timing of a check reveals a token.
 * (A fast hash is enough: 256 random bits cannot be guessed, so a slow password hash would add nothing.)
 */
import * as crypto from 'node:crypto';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** crypto.hash (one-shot, Node >= 20.12) is a few microseconds cheaper per request than createHash(). */
const oneShot = (crypto as unknown as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = (text: string): Buffer => (oneShot ? oneShot('sha256', text, 'buffer') : createHash('sha256').update(text).digest());

const TOKEN = /^opk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewToken {
  readonly id: string;
  /** The full token: shown once, never stored. */
  readonly token: string;
  /** Hex SHA-256 of the token. */
  readonly hash: string;
}

export function generateToken(): NewToken {
  const id = randomBytes(8).toString('hex');
  const token = `opk_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return sha256(token).toString('hex');
}

/** The id part of a well-formed token, else null (the secret is not looked at). */
export function tokenId(token: string): string | null {
  const m = TOKEN.exec(token);
  return m ? m[1]! : null;
}

/**
 * Constant-time equality of two strings of the same length (the length of a token is fixed by its format, so it is
 * no secret): every character is looked at whatever the first difference, and no native call is needed.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Constant-time check of a presented token against a stored hex hash. */
export function tokenMatches(token: string, storedHash: string | Buffer): boolean {
  const presented = sha256(token);
  const stored = typeof storedHash === 'string' ? Buffer.from(storedHash, 'hex') : storedHash;
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
