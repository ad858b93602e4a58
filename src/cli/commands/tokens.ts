import type { Static } from '@sinclair/typebox';
import { API_SCOPES, type ApiScope } from '../../core/apiTokens.js';
import type { CreatedTokenView, TokenView } from '../../http/routes/tokens.js';
import { defineCommand, UsageError } from '../command.js';
import { keyValues, table } from '../format.js';

type Token = Static<typeof TokenView>;
type Created = Static<typeof CreatedTokenView>;

/** `--scope read` or `--scope read,operate`: each a scope the API knows. */
export function scopesOf(raw: string | true | undefined): ApiScope[] {
  if (typeof raw !== 'string') throw new UsageError(`--scope is required: ${API_SCOPES.join(', ')} (comma-separated for several)`);
  const scopes = raw.split(',').map((s) => s.trim());
  const bad = scopes.find((s) => !(API_SCOPES as readonly string[]).includes(s));
  if (bad !== undefined) throw new UsageError(`--scope: ${JSON.stringify(bad)} is not one of ${API_SCOPES.join(', ')}`);
  return [...new Set(scopes as ApiScope[])];
}

const idPath = (id: string | undefined) => `/v1/tokens/${encodeURIComponent(id ?? '')}`;

export function printTokens(body: { tokens: Token[] }): string[] {
  if (body.tokens.length === 0) return ['no tokens'];
  return table(
    ['ID', 'NAME', 'SCOPES', 'CREATED', 'BY', 'LAST-USED', 'REVOKED'],
    body.tokens.map((t) => [t.id, t.name, t.scopes.join(','), t.createdAt, t.createdBy, t.lastUsedAt ?? 'never', t.revokedAt ?? '-']),
  );
}

export const tokenCreate = defineCommand<Created>({
  name: 'token create',
  args: ['name'],
  options: {
    scope: { type: 'string', value: '<scopes>', help: `what it may do: ${API_SCOPES.join(', ')} (each includes the ones before it), comma-separated for several` },
  },
  summary: 'creates an API token (scope admin); prints it this once: only its hash is stored',
  request: ({ args, options }) => ({ method: 'POST', path: '/v1/tokens', body: { name: args.name, scopes: scopesOf(options.scope) } }),
  print: (t) => [
    ...keyValues([
      ['id', t.id],
      ['name', t.name],
      ['scopes', t.scopes.join(', ')],
      ['token', t.token],
    ]),
    '',
    'the token is shown this once: store it now (sbcctl reads it from --token, $SBC_API_TOKEN or its config file)',
  ],
});

export const tokenList = defineCommand<{ tokens: Token[] }>({
  name: 'token list',
  args: [],
  summary: 'every API token, revoked ones too: id, name, scopes, when last used (scope admin)',
  request: () => ({ method: 'GET', path: '/v1/tokens' }),
  print: printTokens,
});

export const tokenRevoke = defineCommand<Token>({
  name: 'token revoke',
  args: ['id'],
  summary: 'revokes an API token by its id: refused from now on (scope admin)',
  request: ({ args }) => ({ method: 'DELETE', path: idPath(args.id) }),
  print: (t) => [`token ${t.id} (${t.name}) revoked at ${t.revokedAt ?? '?'}`],
});
