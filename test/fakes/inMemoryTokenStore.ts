import { LAST_USED_RESOLUTION_MS, TokenNameTakenError, type ApiToken, type NewApiToken, type TokenRecord, type TokenStore } from '../../src/ports/tokenStore.js';
import { answer } from './answer.js';

/**
 * API tokens in memory, for unit tests: the answers of postgres/tokenStore.ts (live names
 * unique, a second revoke keeps the first time, touch at most once a minute), every touch
 * that wrote recorded.
 */
export class InMemoryTokenStore implements TokenStore {
  readonly rows = new Map<string, { token: ApiToken; secretSha256: Uint8Array }>();
  /** [id, at] of every touch that wrote. */
  readonly touches: [string, number][] = [];
  /** Fails every call with this error while set (a store that is down). */
  failWith: Error | undefined;

  create(t: NewApiToken): Promise<ApiToken> {
    return this.answer(() => {
      if ([...this.rows.values()].some((r) => r.token.name === t.name && r.token.revokedAt === null)) throw new TokenNameTakenError(t.name);
      const token: ApiToken = { id: t.id, name: t.name, scopes: [...t.scopes], createdAt: t.createdAt, createdBy: t.createdBy, lastUsedAt: null, revokedAt: null };
      this.rows.set(t.id, { token, secretSha256: Uint8Array.from(t.secretSha256) });
      return { ...token };
    });
  }

  find(id: string): Promise<TokenRecord | undefined> {
    return this.answer(() => {
      const r = this.rows.get(id);
      return r && { token: { ...r.token }, secretSha256: r.secretSha256 };
    });
  }

  list(): Promise<ApiToken[]> {
    return this.answer(() => [...this.rows.values()].map((r) => ({ ...r.token })).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)));
  }

  revoke(id: string, at: number): Promise<ApiToken | undefined> {
    return this.answer(() => {
      const r = this.rows.get(id);
      if (!r) return undefined;
      r.token = { ...r.token, revokedAt: r.token.revokedAt ?? at };
      return { ...r.token };
    });
  }

  touch(id: string, at: number): Promise<void> {
    return this.answer(() => {
      const r = this.rows.get(id);
      if (!r || (r.token.lastUsedAt !== null && r.token.lastUsedAt > at - LAST_USED_RESOLUTION_MS)) return;
      r.token = { ...r.token, lastUsedAt: at };
      this.touches.push([id, at]);
    });
  }

  private answer<T>(work: () => T): Promise<T> {
    return answer(this.failWith, work);
  }
}
