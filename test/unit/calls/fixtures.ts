import { channelCallEvent, routeCallEvent } from '../../../src/core/callEvents.js';
import type { NodeChannel } from '../../../src/events/calls.js';
import type { RouteAttempt } from '../../../src/events/routeDecisions.js';
import type { CallEvent } from '../../../src/ports/callStore.js';

/** Node ids are FreeSWITCH Core-UUIDs. */
export const NODE_1 = 'f1000000-0000-4000-8000-000000000001';
export const NODE_2 = 'f2000000-0000-4000-8000-000000000002';
export const LEG_A = 'a0000000-0000-4000-8000-000000000001';
export const LEG_B = 'b0000000-0000-4000-8000-000000000002';
export const CALL_ID = 'c1@10.0.0.9';
export const DECISION = 'kam-a-692e1f3c-0a1b2-1f2e-001';

export const channelEvent = (over: Partial<NodeChannel> & Pick<NodeChannel, 'event' | 'uuid' | 'atUs'>): CallEvent =>
  channelCallEvent({ v: 1, nodeId: NODE_1, seq: 1, sentAt: 1, direction: 'inbound', ...over });

export const routeEvent = (a: Partial<RouteAttempt> & Pick<RouteAttempt, 'attempt' | 'atUs'>, by = 'kam-a'): CallEvent =>
  routeCallEvent(by, { id: DECISION, callId: CALL_ID, kind: 'general', pin: 'none', set: 1, alg: 4, ...a });

/**
 * One call as the store holds it: Kamailio kam-a sent it to node 2, which answered 503, then
 * to node 1, whose dialplan bridged it to an outbound B leg (Call-ID = its UUID, from answer
 * on); the B leg's Channel-Call-UUID changes to its own during the call, as in the captures.
 * Times are µs after `t`.
 */
export function bridgedCall(t: number): CallEvent[] {
  return [
    routeEvent({ attempt: 1, atUs: t, dst: 'sip:10.0.0.2:5060' }),
    routeEvent({ attempt: 2, atUs: t + 900, dst: 'sip:10.0.0.1:5060', after: { status: 503 } }),
    channelEvent({ event: 'create', uuid: LEG_A, atUs: t + 1000, callId: CALL_ID, decision: DECISION, caller: '1000', callee: '8000' }),
    channelEvent({ event: 'create', uuid: LEG_B, atUs: t + 2000, direction: 'outbound', otherLeg: LEG_A, callUuid: LEG_A, caller: '1000', callee: '8000' }),
    channelEvent({ event: 'answer', uuid: LEG_B, atUs: t + 5000, direction: 'outbound', callId: LEG_B, otherLeg: LEG_A, callUuid: LEG_A }),
    channelEvent({ event: 'answer', uuid: LEG_A, atUs: t + 5100, callId: CALL_ID, decision: DECISION }),
    channelEvent({ event: 'bridge', uuid: LEG_A, atUs: t + 5200, callId: CALL_ID, otherLeg: LEG_B, callUuid: LEG_A }),
    channelEvent({ event: 'hangup', uuid: LEG_B, atUs: t + 9000, direction: 'outbound', callId: LEG_B, otherLeg: LEG_A, callUuid: LEG_B, cause: 'NORMAL_CLEARING', sipStatus: 200 }),
    channelEvent({ event: 'hangup', uuid: LEG_A, atUs: t + 9100, callId: CALL_ID, otherLeg: LEG_B, cause: 'NORMAL_CLEARING', sipStatus: 200 }),
  ];
}
