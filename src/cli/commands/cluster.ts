import type { Static } from '@sinclair/typebox';
import type { ClusterView, DispatcherView, ReadyView } from '../../http/schemas.js';
import { defineCommand } from '../command.js';
import { keyValues, table } from '../format.js';

type Cluster = Static<typeof ClusterView>;
type Dispatcher = Static<typeof DispatcherView>;

export function printCluster(c: Cluster): string[] {
  return [
    ...keyValues([
      ['replica', `${c.replicaId} (${c.role})`],
      ['leader', c.leaderId ?? 'none'],
      ['epoch', c.epoch === null ? 'none' : String(c.epoch)],
    ]),
    '',
    ...table(
      ['REPLICA', 'ORDER', 'ROLE', 'LAST-SEEN', 'LIVE'],
      c.replicas.map((r) => [r.replicaId, r.order === null ? '-' : String(r.order), r.role, `${r.lastSeenMsAgo} ms ago`, r.live ? 'yes' : 'no']),
    ),
  ];
}

const count = (xs: readonly unknown[] | undefined) => String(xs?.length ?? 0);

export function printDispatcher(d: Dispatcher): string[] {
  const pass = d.pass ? `${d.pass.id} at ${d.pass.at}${d.pass.ok ? '' : ' (failed)'}` : 'none yet';
  const rows = d.desired.flatMap((s) => s.destinations.map((r) => [String(s.setId), s.purpose, String(s.algorithm), r.destination, String(r.flags), String(r.priority), r.attrs]));
  return [
    ...keyValues([
      ['pass', pass],
      ['kept for unknown nodes', String(d.keptForUnknownNodes)],
    ]),
    '',
    ...(rows.length > 0 ? table(['SET', 'PURPOSE', 'ALG', 'DESTINATION', 'FLAGS', 'PRIORITY', 'ATTRS'], rows) : ['no desired destinations']),
    '',
    ...(d.kamailios.length > 0
      ? table(
          ['KAMAILIO', 'STATUS', 'OBSERVED', 'LOADED', 'MISSING', 'EXTRA', 'CHANGED', 'MARKS', 'ERROR'],
          d.kamailios.map((k) => [k.kamailio, k.status, k.observedAt ?? '-', count(k.loaded), count(k.missing), count(k.extra), count(k.changed), count(k.marks), k.error ?? '-']),
        )
      : ['no Kamailio']),
  ];
}

export const cluster = defineCommand<Cluster>({
  name: 'cluster',
  args: [],
  summary: 'control plane replicas: the leader, the epoch, each replica\'s role and last renew',
  request: () => ({ method: 'GET', path: '/v1/cluster' }),
  print: printCluster,
});

export const dispatcher = defineCommand<Dispatcher>({
  name: 'dispatcher',
  args: [],
  summary: 'the last pass\'s desired dispatcher rows, and what each Kamailio last reported against them',
  request: () => ({ method: 'GET', path: '/v1/dispatcher' }),
  print: printDispatcher,
});

type Ready = Static<typeof ReadyView>;

export function printReady(r: Ready): string[] {
  return [
    r.ready ? 'ready' : 'not ready',
    '',
    ...table(['CHECK', 'OK', 'DETAIL'], Object.entries(r.checks).map(([name, c]) => [name, c.ok ? 'yes' : 'no', c.detail ?? '-'])),
  ];
}

/** `/readyz`: its 503 is an answer (which check failed), printed as such; the exit status says not ready (1). */
export const ready = defineCommand<Ready>({
  name: 'ready',
  args: [],
  summary: 'whether this replica is ready (Redis, Postgres, NATS, the reconciler) and each check; exit 1 when not',
  request: () => ({ method: 'GET', path: '/readyz', answers: [503] }),
  print: printReady,
});
