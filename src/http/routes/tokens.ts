import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { API_SCOPES, formatToken, mintToken, secretDigest, TOKEN_ID_PATTERN, TOKEN_NAME_PATTERN } from '../../core/apiTokens.js';
import { recordOperation, type OperationLog } from '../../ports/operationLog.js';
import type { ApiToken, TokenStore } from '../../ports/tokenStore.js';
import { actorOf } from '../auth.js';
import { ConflictError, TokenNotFoundError } from '../errors.js';

export interface TokenRoutesDeps {
  /** Absent: every token route answers 409. */
  readonly tokens?: TokenStore;
  readonly operations: Pick<OperationLog, 'record'>;
  readonly now?: () => number;
}

const Scope = Type.Union(API_SCOPES.map((s) => Type.Literal(s)), { description: 'read < operate < admin: each includes the ones before it' });

export const TokenBody = Type.Object(
  {
    name: Type.String({ pattern: TOKEN_NAME_PATTERN.source, description: 'Unique among live tokens; the audit log names its calls `token:<name>`' }),
    scopes: Type.Array(Scope, { minItems: 1, maxItems: API_SCOPES.length, uniqueItems: true }),
  },
  { additionalProperties: false },
);

export const TokenParams = Type.Object({ id: Type.String({ pattern: TOKEN_ID_PATTERN.source, description: 'The token\'s id: the 16 hex digits after `sbc_`' }) }, { additionalProperties: false });

export const TokenView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scopes: Type.Array(Scope),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.String({ description: 'Who created it: `token:<name>` or `api:<client address>`' }),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Last accepted use, to the minute; null: never used' }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'ApiToken' },
);

export const CreatedTokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Scope),
  createdAt: Type.String({ format: 'date-time' }),
  token: Type.String({ description: 'The token, `sbc_<id>_<secret>`: shown this once (only its hash is stored)' }),
});

const iso = (ms: number) => new Date(ms).toISOString();

function tokenView(t: ApiToken): Static<typeof TokenView> {
  return {
    id: t.id,
    name: t.name,
    scopes: [...t.scopes],
    createdAt: iso(t.createdAt),
    createdBy: t.createdBy,
    lastUsedAt: t.lastUsedAt === null ? null : iso(t.lastUsedAt),
    revokedAt: t.revokedAt === null ? null : iso(t.revokedAt),
  };
}

/**
 * The API tokens resource (scope admin): create (the token is in this answer and nowhere
 * else), list, revoke. Creating and revoking are audited (token-create, token-revoke).
 */
export const tokenRoutes: FastifyPluginCallbackTypebox<TokenRoutesDeps> = (app, deps, done) => {
  const now = () => (deps.now ?? Date.now)();
  const store = (): TokenStore => {
    if (!deps.tokens) throw new ConflictError('API tokens are not available on this control plane');
    return deps.tokens;
  };

  app.post('/v1/tokens', {
    config: { scope: 'admin' },
    schema: { tags: ['tokens'], summary: 'Creates an API token with these scopes; the answer holds the token, shown this once', body: TokenBody, response: { 201: CreatedTokenView } },
  }, async (req, reply) => {
    const tokens = store();
    const parts = mintToken();
    const actor = actorOf(req);
    const t = await tokens.create({ id: parts.id, name: req.body.name, scopes: req.body.scopes, createdAt: now(), createdBy: actor, secretSha256: secretDigest(parts.secret) });
    await recordOperation(deps.operations, { kind: 'token-create', actor, target: t.id, outcome: 'done', detail: { name: t.name, scopes: [...t.scopes] }, at: now() }, req.log);
    return reply.code(201).send({ id: t.id, name: t.name, scopes: [...t.scopes], createdAt: iso(t.createdAt), token: formatToken(parts) });
  });

  app.get('/v1/tokens', {
    config: { scope: 'admin' },
    schema: { tags: ['tokens'], summary: 'Every API token, revoked ones too, oldest first (never their secrets)', response: { 200: Type.Object({ tokens: Type.Array(TokenView) }) } },
  }, async () => ({ tokens: (await store().list()).map(tokenView) }));

  app.delete('/v1/tokens/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['tokens'], summary: 'Revokes an API token: refused from now on, on every replica; revoking it again changes nothing', params: TokenParams, response: { 200: TokenView } },
  }, async (req) => {
    const t = await store().revoke(req.params.id, now());
    if (!t) throw new TokenNotFoundError(req.params.id);
    await recordOperation(deps.operations, { kind: 'token-revoke', actor: actorOf(req), target: t.id, outcome: 'done', detail: { name: t.name }, at: now() }, req.log);
    return tokenView(t);
  });
  done();
};
