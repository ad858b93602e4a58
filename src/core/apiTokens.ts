import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What an API token is, apart from where it is stored: its scopes and their order, the
 * text a client sends (`sbc_<id>_<secret>`), and how a secret is checked against the digest
 * stored for it. No I/O.
 */
export const API_SCOPES = ['read', 'operate', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** admin implies operate implies read. */
const RANK: Readonly<Record<ApiScope, number>> = { read: 1, operate: 2, admin: 3 };

/** Whether a token holding `held` may use a route that needs `needed`. */
export function grants(held: readonly ApiScope[], needed: ApiScope): boolean {
  return held.some((s) => RANK[s] >= RANK[needed]);
}

export const TOKEN_PREFIX = 'sbc';
export const TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * `sbc_<16 hex id>_<43 base64url characters: 32 random bytes>`. The id has a fixed length, so
 * a `_` inside the secret cannot be taken for the separator. The prefix makes a leaked token
 * recognisable to a secret scanner and to an operator.
 */
const TOKEN_TEXT = /^sbc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface TokenParts {
  readonly id: string;
  readonly secret: string;
}

export function formatToken(parts: TokenParts): string {
  return `${TOKEN_PREFIX}_${parts.id}_${parts.secret}`;
}

/** The id and secret of a token's text; undefined when it has not the shape of one. */
export function parseToken(text: string): TokenParts | undefined {
  const m = TOKEN_TEXT.exec(text);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

/** A new token: 8 random bytes of id, 32 of secret. */
export function mintToken(random: (n: number) => Buffer = randomBytes): TokenParts {
  return { id: random(8).toString('hex'), secret: random(32).toString('base64url') };
}

export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Compares digests in constant time (both are SHA-256, so their lengths never tell anything). */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
