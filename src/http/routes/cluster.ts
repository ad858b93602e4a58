import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { ClusterStatus } from '../../leader/election.js';
import { ClusterView } from '../schemas.js';

export interface ClusterRoutesDeps {
  /** The election, as this replica's last renew saw it. */
  readonly cluster: { status(): ClusterStatus };
}

/** The cluster resource: `/v1/cluster`, every replica's role, the epoch and the leader, from any replica. */
export const clusterRoutes: FastifyPluginCallbackTypebox<ClusterRoutesDeps> = (app, deps, done) => {
  app.get('/v1/cluster', {
    config: { scope: 'read' },
    schema: { tags: ['cluster'], summary: "Control plane replicas: each one's role, the epoch and the leader's id", response: { 200: ClusterView } },
  }, () => {
    const s = deps.cluster.status();
    return {
      replicaId: s.replicaId,
      role: s.role,
      epoch: s.epoch,
      leaderId: s.leaderId,
      replicas: s.replicas.map((r) => ({ replicaId: r.replicaId, order: r.order, role: r.role, lastSeenMsAgo: Math.round(r.lastSeenMsAgo), live: r.live })),
    };
  });
  done();
};
