import { channelEventId, type NodeChannel } from '../events/calls.js';
import { routeAttemptId, type RouteAttempt } from '../events/routeDecisions.js';
import type { CallEvent, RouteDetail } from '../ports/callStore.js';

/**
 * The stored form of the two kinds of call event (issue 8): what an agent told about one
 * channel, and one attempt of a Kamailio routing decision. Pure; the ingest consumer
 * (src/nats/callIngest.ts) decodes, maps with these and writes.
 */

/** One channel event of a node: its id is the one the agent sent as Nats-Msg-Id. */
export function channelCallEvent(m: NodeChannel): CallEvent {
  return withoutUndefined({
    id: channelEventId(m),
    atUs: m.atUs,
    source: 'node',
    event: m.event,
    nodeId: m.nodeId,
    uuid: m.uuid,
    callId: m.callId,
    otherLeg: m.otherLeg,
    callUuid: m.callUuid,
    direction: m.direction,
    caller: m.caller,
    callee: m.callee,
    room: m.room,
    memberId: m.memberId,
    decision: m.decision,
    link: m.link,
    cause: m.cause,
    sipStatus: m.sipStatus,
  });
}

/** One attempt of a routing decision by Kamailio `kamailioId` (checked by the decoder against its subject). */
export function routeCallEvent(kamailioId: string, a: RouteAttempt): CallEvent {
  const route: RouteDetail = withoutUndefined({
    attempt: a.attempt,
    kind: a.kind,
    pin: a.pin,
    key: a.key,
    set: a.set,
    alg: a.alg,
    dst: a.dst,
    result: a.result,
    afterStatus: a.after?.status,
    afterTimeout: a.after?.timeout,
  });
  return withoutUndefined({
    id: routeAttemptId(a),
    atUs: a.atUs,
    source: 'kamailio',
    event: 'route',
    kamailioId,
    callId: a.callId,
    room: a.room,
    decision: a.id,
    link: a.link,
    route,
  });
}

/** exactOptionalPropertyTypes: an absent field is left out, never set to undefined. */
export function withoutUndefined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
