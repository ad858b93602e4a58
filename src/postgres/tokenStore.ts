import type { Pool } from 'pg';
import type { ApiScope } from '../core/apiTokens.js';
import { LAST_USED_RESOLUTION_MS, TokenNameTakenError, type ApiToken, type NewApiToken, type TokenRecord, type TokenStore } from '../ports/tokenStore.js';

/**
 * The schema, as migrations.ts declares its entries (migration 7): the tokens, and the
 * operation log's kind constraint replaced to take token-create and token-revoke (migration 5
 * wrote it out; a shipped migration never changes). The secret is never stored: only its
 * SHA-256, 32 bytes. A name is unique among live tokens, so `token:<name>` in the audit log
 * names one; a revoked token's name can be given again.
 */
export const TOKENS_MIGRATION = {
  id: 7,
  name: 'api tokens',
  sql: `
    CREATE TABLE IF NOT EXISTS sbc_api_tokens (
      id TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
      name TEXT NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
      scopes TEXT[] NOT NULL CHECK (cardinality(scopes) >= 1 AND scopes <@ ARRAY['read', 'operate', 'admin']),
      secret_sha256 BYTEA NOT NULL CHECK (octet_length(secret_sha256) = 32),
      created_at TIMESTAMPTZ NOT NULL,
      created_by TEXT NOT NULL CHECK (char_length(created_by) <= 256),
      last_used_at TIMESTAMPTZ,
      revoked_at TIMESTAMPTZ
    );
    CREATE UNIQUE INDEX IF NOT EXISTS sbc_api_tokens_live_name ON sbc_api_tokens (name) WHERE revoked_at IS NULL;
    ALTER TABLE sbc_operations DROP CONSTRAINT IF EXISTS sbc_operations_kind_check;
    ALTER TABLE sbc_operations ADD CONSTRAINT sbc_operations_kind_check
      CHECK (kind IN ('drain', 'undrain', 'scale', 'provision', 'hangup', 'pause', 'resume', 'token-create', 'token-revoke'));
  `,
} as const;

interface Row {
  id: string;
  name: string;
  scopes: ApiScope[];
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, name, scopes, created_at, created_by, last_used_at, revoked_at';

const toToken = (r: Row): ApiToken => ({
  id: r.id,
  name: r.name,
  scopes: [...r.scopes],
  createdAt: r.created_at.getTime(),
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at ? r.last_used_at.getTime() : null,
  revokedAt: r.revoked_at ? r.revoked_at.getTime() : null,
});

const UNIQUE_VIOLATION = '23505';

/** API tokens in Postgres (`sbc_api_tokens`). Parameterised queries only. */
export class PgTokenStore implements TokenStore {
  constructor(private readonly pool: Pool) {}

  async create(t: NewApiToken): Promise<ApiToken> {
    try {
      const r = await this.pool.query<Row>(
        `INSERT INTO sbc_api_tokens (id, name, scopes, secret_sha256, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
        [t.id, t.name, [...t.scopes], Buffer.from(t.secretSha256), new Date(t.createdAt), t.createdBy.slice(0, 256)],
      );
      return toToken(r.rows[0] as Row);
    } catch (err) {
      if ((err as { code?: unknown }).code === UNIQUE_VIOLATION && (err as { constraint?: unknown }).constraint === 'sbc_api_tokens_live_name') {
        throw new TokenNameTakenError(t.name);
      }
      throw err;
    }
  }

  async find(id: string): Promise<TokenRecord | undefined> {
    const r = (await this.pool.query<Row & { secret_sha256: Buffer }>(`SELECT ${COLUMNS}, secret_sha256 FROM sbc_api_tokens WHERE id = $1`, [id])).rows[0];
    return r && { token: toToken(r), secretSha256: r.secret_sha256 };
  }

  async list(): Promise<ApiToken[]> {
    return (await this.pool.query<Row>(`SELECT ${COLUMNS} FROM sbc_api_tokens ORDER BY created_at, id`)).rows.map(toToken);
  }

  async revoke(id: string, at: number): Promise<ApiToken | undefined> {
    // A second revoke keeps the first time: when it stopped working is the fact worth keeping.
    const r = await this.pool.query<Row>(
      `UPDATE sbc_api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, new Date(at)],
    );
    const row = r.rows[0];
    return row && toToken(row);
  }

  async touch(id: string, at: number): Promise<void> {
    // The condition, not the caller, bounds the writes: replicas touching one token at once write once a minute between them.
    await this.pool.query(
      'UPDATE sbc_api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)',
      [id, new Date(at), new Date(at - LAST_USED_RESOLUTION_MS)],
    );
  }
}
