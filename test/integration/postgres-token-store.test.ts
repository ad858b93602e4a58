import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatToken, mintToken, secretDigest, type ApiScope } from '../../src/core/apiTokens.js';
import { TokenNameTakenError, type TokenStore } from '../../src/ports/tokenStore.js';
import { migrate } from '../../src/postgres/migrations.js';
import { PgOperationLog } from '../../src/postgres/operationLog.js';
import { PgTokenStore } from '../../src/postgres/tokenStore.js';
import { InMemoryTokenStore } from '../fakes/inMemoryTokenStore.js';
import { createPostgresDatabase, type Service } from '../support/services.js';

const AT = Date.UTC(2026, 11, 3, 9, 30, 0);

let db: Service;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createPostgresDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  await migrate(pool);
});
afterAll(async () => {
  await pool.end();
  await db.stop();
});

const newToken = (name: string, scopes: ApiScope[] = ['read'], at = AT) => {
  const parts = mintToken();
  return { parts, entry: { id: parts.id, name, scopes, createdAt: at, createdBy: 'token:bootstrap', secretSha256: secretDigest(parts.secret) } };
};

/** The same behaviour from the adapter and the fake: one list of expectations for both. */
describe.each([
  ['PgTokenStore (real Postgres)', () => new PgTokenStore(pool) as TokenStore, 'pg'],
  ['InMemoryTokenStore (the fake)', () => new InMemoryTokenStore() as TokenStore, 'fake'],
])('%s', (_label, make, kind) => {
  it('creates, finds, lists and revokes tokens; a second revoke keeps the first time; an unknown id is undefined', async () => {
    const store = make();
    const prefix = `${kind}-life`;
    const a = newToken(`${prefix}-a`, ['read', 'operate'], AT);
    const b = newToken(`${prefix}-b`, ['admin'], AT + 1000);
    expect(await store.create(a.entry)).toEqual({ id: a.parts.id, name: `${prefix}-a`, scopes: ['read', 'operate'], createdAt: AT, createdBy: 'token:bootstrap', lastUsedAt: null, revokedAt: null });
    await store.create(b.entry);
    const found = await store.find(a.parts.id);
    expect(found?.token.name).toBe(`${prefix}-a`);
    expect(Buffer.from(found!.secretSha256)).toEqual(secretDigest(a.parts.secret));
    expect(await store.find('ffffffffffffffff')).toBeUndefined();
    const mine = (await store.list()).filter((t) => t.name.startsWith(prefix));
    expect(mine.map((t) => t.name)).toEqual([`${prefix}-a`, `${prefix}-b`]);
    expect((await store.revoke(a.parts.id, AT + 5000))?.revokedAt).toBe(AT + 5000);
    expect((await store.revoke(a.parts.id, AT + 9000))?.revokedAt).toBe(AT + 5000);
    expect(await store.revoke('ffffffffffffffff', AT)).toBeUndefined();
  });

  it('a live token\'s name cannot be given twice; once it is revoked, it can', async () => {
    const store = make();
    const first = newToken(`${kind}-dup`);
    await store.create(first.entry);
    await expect(store.create(newToken(`${kind}-dup`).entry)).rejects.toThrow(TokenNameTakenError);
    await store.revoke(first.parts.id, AT);
    const second = newToken(`${kind}-dup`);
    expect((await store.create(second.entry)).id).toBe(second.parts.id);
  });

  it('touch writes lastUsedAt at most once a minute', async () => {
    const store = make();
    const t = newToken(`${kind}-touch`);
    await store.create(t.entry);
    await store.touch(t.parts.id, AT + 10);
    await store.touch(t.parts.id, AT + 59_000);
    expect((await store.find(t.parts.id))?.token.lastUsedAt).toBe(AT + 10);
    await store.touch(t.parts.id, AT + 60_010);
    expect((await store.find(t.parts.id))?.token.lastUsedAt).toBe(AT + 60_010);
  });
});

describe('sbc_api_tokens at rest', () => {
  it('holds the SHA-256 of each secret and never the secret or the token text', async () => {
    const store = new PgTokenStore(pool);
    const t = newToken('at-rest', ['admin']);
    await store.create(t.entry);
    const text = formatToken(t.parts);
    const dump = await pool.query<{ row: string }>('SELECT row_to_json(t)::text AS row FROM sbc_api_tokens t');
    const all = dump.rows.map((r) => r.row).join('\n');
    expect(all).toContain('at-rest');
    expect(all).not.toContain(t.parts.secret);
    expect(all).not.toContain(text);
    const stored = await pool.query<{ secret_sha256: Buffer }>('SELECT secret_sha256 FROM sbc_api_tokens WHERE id = $1', [t.parts.id]);
    expect(stored.rows[0]!.secret_sha256).toEqual(secretDigest(t.parts.secret));
  });

  it('the table refuses what the API would never write: a bad id, name or scope, a digest that is not 32 bytes', async () => {
    const insert = (id: string, name: string, scopes: string[], digest: Buffer) =>
      pool.query('INSERT INTO sbc_api_tokens (id, name, scopes, secret_sha256, created_at, created_by) VALUES ($1, $2, $3, $4, now(), $5)', [id, name, scopes, digest, 'test']);
    const ok = secretDigest('x');
    await expect(insert('XYZ', 'n1', ['read'], ok)).rejects.toThrow(/check constraint/);
    await expect(insert('0000000000000001', 'has space', ['read'], ok)).rejects.toThrow(/check constraint/);
    await expect(insert('0000000000000002', 'n2', ['write'], ok)).rejects.toThrow(/check constraint/);
    await expect(insert('0000000000000003', 'n3', [], ok)).rejects.toThrow(/check constraint/);
    await expect(insert('0000000000000004', 'n4', ['read'], Buffer.alloc(16))).rejects.toThrow(/check constraint/);
  });

  it('the operation log takes the kinds token-create and token-revoke (migration 7 replaced its constraint)', async () => {
    const log = new PgOperationLog(pool);
    for (const kind of ['token-create', 'token-revoke'] as const) {
      expect((await log.record({ kind, actor: 'token:bootstrap', target: '0123456789abcdef', outcome: 'done', detail: { name: 'ci' }, at: AT })).kind).toBe(kind);
    }
    await expect(pool.query("INSERT INTO sbc_operations (at, kind, actor, target, outcome) VALUES (now(), 'token-mint', 'a', 'b', 'done')")).rejects.toThrow(/check constraint/);
  });
});
