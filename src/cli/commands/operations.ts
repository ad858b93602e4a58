import type { Static } from '@sinclair/typebox';
import type { OperationsPage } from '../../http/routes/operations.js';
import { OPERATION_KINDS } from '../../ports/operationLog.js';
import { defineCommand, UsageError, withQuery } from '../command.js';
import { compactJson, table } from '../format.js';

type Page = Static<typeof OperationsPage>;

export function printOperations(body: Page): string[] {
  if (body.operations.length === 0) return ['no operations'];
  const out = table(
    ['AT', 'KIND', 'ACTOR', 'TARGET', 'OUTCOME', 'DETAIL'],
    body.operations.map((o) => [o.at, o.kind, o.actor, o.target, o.outcome, compactJson(o.detail)]),
  );
  return body.next !== undefined ? [...out, '', `more: --cursor ${body.next}`] : out;
}

export const operations = defineCommand<Page>({
  name: 'operations',
  args: [],
  options: {
    kind: { type: 'string', value: '<kind>', help: `only this kind: ${OPERATION_KINDS.join(', ')}` },
    target: { type: 'string', value: '<target>', help: 'only operations on this target: a node id, a machine id, pool' },
    limit: { type: 'string', value: '<n>', help: 'at most this many, 1 to 500 (default 50)' },
    cursor: { type: 'string', value: '<cursor>', help: 'the page after the one whose last line said more: --cursor <cursor>' },
  },
  summary: 'the audit log, newest first: drains, undrains, scaling, provisioning, pauses, forced hang-ups, tokens created and revoked',
  request: ({ options }) => {
    // Kinds, the bound and cursors are the API's to check (400); a limit that is no number at all is a typo.
    const { limit } = options;
    if (typeof limit === 'string' && !/^[0-9]+$/.test(limit)) throw new UsageError(`--limit: a whole number, not ${JSON.stringify(limit)}`);
    return { method: 'GET', path: withQuery('/v1/operations', options, ['kind', 'target', 'limit', 'cursor']) };
  },
  print: printOperations,
});
