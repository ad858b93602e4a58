/**
 * API tokens (issue 10): who may call the HTTP API, and with which scope. Stored hashed: the
 * store holds the SHA-256 of each token's secret, never the secret, which is shown once, at
 * creation. Adapter: postgres/tokenStore.ts; fake: test/fakes/inMemoryTokenStore.ts.
 */
import type { ApiScope } from '../core/apiTokens.js';

export interface ApiToken {
  /** 16 lowercase hex digits; the part of the token text a lookup goes by. */
  readonly id: string;
  /** Unique among tokens not revoked; the audit log's actor is `token:<name>`. */
  readonly name: string;
  readonly scopes: readonly ApiScope[];
  /** ms since the epoch. */
  readonly createdAt: number;
  /** The actor that created it (`token:<name>`, `api:<address>`). */
  readonly createdBy: string;
  /** Last accepted use, at a resolution of a minute (written at most once a minute); null: never used. */
  readonly lastUsedAt: number | null;
  /** null while it is valid. */
  readonly revokedAt: number | null;
}

export interface NewApiToken {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly ApiScope[];
  readonly createdAt: number;
  readonly createdBy: string;
  /** SHA-256 of the secret (32 bytes). */
  readonly secretSha256: Uint8Array;
}

/** A token with what a request's secret is checked against. */
export interface TokenRecord {
  readonly token: ApiToken;
  readonly secretSha256: Uint8Array;
}

/** Another token that is not revoked already has this name. */
export class TokenNameTakenError extends Error {
  override readonly name = 'TokenNameTakenError';
  constructor(readonly tokenName: string) {
    super(`a token named ${tokenName} exists (revoke it first, or choose another name)`);
  }
}

/** Least time between two writes of one token's lastUsedAt. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenStore {
  /** Throws TokenNameTakenError when a live token has the name. */
  create(token: NewApiToken): Promise<ApiToken>;
  find(id: string): Promise<TokenRecord | undefined>;
  /** Every token, revoked ones too, oldest first. */
  list(): Promise<ApiToken[]>;
  /** The token as revoked (at `at`, or when it was first revoked); undefined when no token has that id. */
  revoke(id: string, at: number): Promise<ApiToken | undefined>;
  /** Records a use at `at`, unless the stored lastUsedAt is less than LAST_USED_RESOLUTION_MS older. */
  touch(id: string, at: number): Promise<void>;
}
