import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the control plane exposes; one instance per process (tests make their own). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    natsMessages: new Counter({
      name: 'sbc_nats_messages_total',
      help: 'Node messages accepted, by kind and what they did to the registry',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    natsRejected: new Counter({
      name: 'sbc_nats_messages_rejected_total',
      help: 'Node messages refused at the edge, by reason (subject, unknown-kind, too-large, json, schema, unsupported-version, sip-uri, node-id-mismatch, stale, seq-ahead, address-in-use, kamailio-address, registry-error)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    nodes: new Gauge({
      name: 'sbc_nodes',
      help: 'Nodes in the registry by state, as of the last reconcile',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    nodeSessions: new Gauge({
      name: 'sbc_node_sessions',
      help: "Calls (FreeSWITCH sessions) each live node reported in its last message, as of the last reconcile; a gone node has none",
      labelNames: ['node'] as const,
      registers: [registry],
    }),
    nodeCapacity: new Gauge({
      name: 'sbc_node_capacity',
      help: "Sessions each live node takes at most (its agent's capacity), as of the last reconcile; a gone node has none",
      labelNames: ['node'] as const,
      registers: [registry],
    }),
    nodeHealth: new Gauge({
      name: 'sbc_node_health',
      help: "Each live node's health as the leader's last evaluation found it: 1 for its state (healthy, degraded, critical), 0 for the others",
      labelNames: ['node', 'state'] as const,
      registers: [registry],
    }),
    nodeHealthScore: new Gauge({
      name: 'sbc_node_health_score',
      help: "Each live node's health score (0..100, 100 = fine): its worst sensor's",
      labelNames: ['node'] as const,
      registers: [registry],
    }),
    nodeSensorScore: new Gauge({
      name: 'sbc_node_sensor_score',
      help: "Each live node's score from each sensor that had a reading at the last evaluation (0..100)",
      labelNames: ['node', 'sensor'] as const,
      registers: [registry],
    }),
    nodeSensorValue: new Gauge({
      name: 'sbc_node_sensor_value',
      help: "Each live node's sensor values at the last evaluation, in each sensor's unit (docs: README, Health)",
      labelNames: ['node', 'sensor'] as const,
      registers: [registry],
    }),
    healthTransitions: new Counter({
      name: 'sbc_node_health_transitions_total',
      help: 'Health state changes of nodes, by the state entered',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
    healthAllCritical: new Gauge({
      name: 'sbc_health_all_critical',
      help: 'Set to 1 while every node that could take a new call is critical: they are kept in selection rather than refusing every call (an operator must look)',
      registers: [registry],
    }),
    healthSensorFailures: new Counter({
      name: 'sbc_health_sensor_failures_total',
      help: 'Custom sensor reads that gave no reading, by sensor and reason (timeout, exit, json, schema, too-large, spawn, aborted); the node is scored without it',
      labelNames: ['sensor', 'reason'] as const,
      registers: [registry],
    }),
    healthHookRuns: new Counter({
      name: 'sbc_health_hook_runs_total',
      help: 'Node transition hook runs, by hook, transition and outcome (ok or the failure reason)',
      labelNames: ['hook', 'transition', 'outcome'] as const,
      registers: [registry],
    }),
    autoscalerDesired: new Gauge({
      name: 'sbc_autoscaler_desired_replicas',
      help: 'The pool size the autoscaler\'s N+1 rule asks for now (also in dry-run)',
      registers: [registry],
    }),
    scaleTarget: new Gauge({
      name: 'sbc_scale_target_replicas',
      help: 'The pool size last asked (POST /v1/scale or the autoscaler)',
      registers: [registry],
    }),
    scaleServing: new Gauge({
      name: 'sbc_scale_serving_nodes',
      help: 'Machines serving new calls now (joining or active, not draining or cordoned), as the scale step counted them',
      registers: [registry],
    }),
    provisionerActions: new Counter({
      name: 'sbc_provisioner_requests_total',
      help: 'Requests made of the provisioner by the scale step, by outcome',
      labelNames: ['provisioner', 'outcome'] as const,
      registers: [registry],
    }),
    drainActions: new Counter({
      name: 'sbc_drain_actions_total',
      help: 'What draining asked of FreeSWITCH through the agents: pause-inbound, resume-inbound, hangup-all (at a deadline), by outcome',
      labelNames: ['action', 'outcome'] as const,
      registers: [registry],
    }),
    drainsPastDeadline: new Gauge({
      name: 'sbc_drains_past_deadline',
      help: 'Draining nodes past their deadline with calls left, kept draining (onDeadline keep): an operator must look',
      registers: [registry],
    }),
    nodeTransitions: new Counter({
      name: 'sbc_node_transitions_total',
      help: 'Stored node state changes made by the reconciler',
      labelNames: ['to', 'reason'] as const,
      registers: [registry],
    }),
    reconcileRuns: new Counter({
      name: 'sbc_reconcile_runs_total',
      help: 'Reconcile passes by outcome (ok, error)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'sbc_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconcileStepSeconds: new Histogram({
      name: 'sbc_reconcile_step_duration_seconds',
      help: 'Duration of one step of a reconcile pass, by step',
      labelNames: ['step'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rowChanges: new Counter({
      name: 'sbc_dispatcher_row_changes_total',
      help: 'Rows written to the dispatcher table by kind (insert, update, delete)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    kamailioRpc: new Counter({
      name: 'sbc_kamailio_rpc_total',
      help: 'Kamailio JSON-RPC calls by method and outcome (ok, error, unreachable, pending)',
      labelNames: ['kamailio', 'method', 'outcome'] as const,
      registers: [registry],
    }),
    kamailioRpcSeconds: new Histogram({
      name: 'sbc_kamailio_rpc_duration_seconds',
      help: 'Duration of Kamailio JSON-RPC calls by method, whatever their outcome',
      labelNames: ['kamailio', 'method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    kamailioInSync: new Gauge({
      name: 'sbc_kamailio_in_sync',
      help: '1 when the Kamailio last reported exactly the desired dispatcher sets',
      labelNames: ['kamailio'] as const,
      registers: [registry],
    }),
    kamailioMarked: new Gauge({
      name: 'sbc_kamailio_marked',
      help: "Destinations of a node that a Kamailio marked inactive itself after a failed call, while the mark is respected (SBC_KAMAILIO_MARK_HOLD_MS)",
      labelNames: ['kamailio', 'node'] as const,
      registers: [registry],
    }),
    joinToActiveSeconds: new Histogram({
      name: 'sbc_node_join_to_active_seconds',
      help: 'From a node joining to every Kamailio reporting it',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'sbc_http_requests_total',
      help: 'HTTP requests answered, by route pattern (unmatched for no route), method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    apiAuth: new Counter({
      name: 'sbc_api_auth_total',
      help: 'Token checks of API requests (SBC_API_AUTH=on; open paths are not checked), by outcome: accepted, missing, malformed, unknown, revoked, forbidden (a valid token without the route\'s scope), error (the token store failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    httpRequestSeconds: new Histogram({
      name: 'sbc_http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to its answer, by route pattern (unmatched for no route) and method',
      labelNames: ['route', 'method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'sbc_leader',
      help: '1 while this replica is the leader (runs the reconciler), 0 otherwise',
      registers: [registry],
    }),
    leaderEpoch: new Gauge({
      name: 'sbc_leader_epoch',
      help: 'The epoch this replica took when it was last elected (0 before)',
      registers: [registry],
    }),
    fencedWrites: new Counter({
      name: 'sbc_fenced_writes_total',
      help: 'Writes refused because a newer leader was elected, by store (postgres, redis)',
      labelNames: ['store'] as const,
      registers: [registry],
    }),
    rooms: new Gauge({
      name: 'sbc_rooms',
      help: 'Rooms in the room table as of the last reconcile, by kind (pinned: has a pin; split: hosted by two nodes without a cascade)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    roomPinsEnded: new Counter({
      name: 'sbc_room_pins_ended_total',
      help: 'Room pins the control plane ended, by reason (node-gone, unconfirmed, destroyed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    roomSplits: new Counter({
      name: 'sbc_room_splits_total',
      help: 'Rooms found hosted by two or more nodes without being cascaded (each split counted once, when found)',
      registers: [registry],
    }),
    kamailioPinWrites: new Counter({
      name: 'sbc_kamailio_pin_writes_total',
      help: "Writes to a Kamailio's pins htable by the pin sync, by kamailio and op (set, delete)",
      labelNames: ['kamailio', 'op'] as const,
      registers: [registry],
    }),
    kamailioPinsInSync: new Gauge({
      name: 'sbc_kamailio_pins_in_sync',
      help: "1 when the Kamailio's pins htable equalled the room table after the last pass",
      labelNames: ['kamailio'] as const,
      registers: [registry],
    }),
    conferenceMessages: new Counter({
      name: 'sbc_conference_messages_total',
      help: "Agents' conference messages, by kind (conference, rooms) and outcome (recorded, unknown-node: not a live node of the registry, registry-error)",
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    roomSpills: new Counter({
      name: 'sbc_room_spills_total',
      help: 'Rooms that outgrew one node (SBC_ROOM_MAX_MEMBERS_PER_NODE or a node near capacity) and continued on another, linked',
      registers: [registry],
    }),
    roomLinks: new Counter({
      name: 'sbc_room_links_total',
      help: 'Cascade links the leader made or dropped, by op (make, drop) and outcome (ok, error, broken: dropped because it vanished from a conference)',
      labelNames: ['op', 'outcome'] as const,
      registers: [registry],
    }),
    pinMessages: new Counter({
      name: 'sbc_pin_messages_total',
      help: 'Pin messages heard from Kamailio on NATS, by outcome (taken, kept: an earlier or decided pin stays, rejected-<reason>)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    callEvents: new Counter({
      name: 'sbc_call_events_total',
      help: 'Call events taken from the calls stream, by outcome (inserted, duplicate: a re-sent copy, out-of-window: older than retention or over a day ahead, not written; rejected-<reason>: malformed, terminated)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    callEventFieldsCut: new Counter({
      name: 'sbc_call_event_fields_cut_total',
      help: 'Fields of call events cut to the store\'s bounds (how=truncated) or with characters Postgres cannot hold replaced (how=replaced), by field; the event is still written',
      labelNames: ['field', 'how'] as const,
      registers: [registry],
    }),
    callIngestBatches: new Counter({
      name: 'sbc_call_ingest_batches_total',
      help: 'Batches written to the call store, by outcome (ok, error: handed back to the stream for redelivery)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    callIngestLag: new Histogram({
      name: 'sbc_call_ingest_lag_seconds',
      help: 'From the calls stream storing a call event to its row being written',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
