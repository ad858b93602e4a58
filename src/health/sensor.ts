import { BUILT_IN_SENSORS, type NodeHealthFacts, type SensorReading } from '../core/health.js';

/**
 * The plug-in point for custom sensors (the reference design's sensor engine "can be
 * extended"). The built-in sensors are pure functions in core/health.ts; a custom one may do
 * I/O, so it is asynchronous, takes an AbortSignal (shutdown), and reports a failure as a
 * value the caller counts and logs rather than throwing.
 */

/** Everything a sensor is told about the node it reads. */
export interface SensorNode extends NodeHealthFacts {
  readonly nodeId: string;
  readonly machineId: string;
  readonly hostname: string;
  readonly sipUri: string;
}

/**
 * Why a sensor produced no reading; doubles as a metric label
 * (e.g. `sbc_health_sensor_failures_total{sensor, reason}`).
 */
export const SENSOR_FAILURE_REASONS = ['timeout', 'exit', 'json', 'schema', 'too-large', 'spawn', 'aborted'] as const;
export type SensorFailureReason = (typeof SENSOR_FAILURE_REASONS)[number];

export type SensorResult =
  | { readonly ok: true; readonly reading: SensorReading; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly sensor: string;
      readonly reason: SensorFailureReason;
      /** For the log: exit code, parse error, schema path, stderr's start. Bounded. */
      readonly detail: string;
      readonly durationMs: number;
    };

/**
 * A failed sensor says nothing about the node (the fault may be the sensor's own), so the
 * caller leaves it out of the node's score and counts it; a sensor that should fail a node
 * reports a low score instead.
 */
export interface Sensor {
  readonly name: string;
  read(node: SensorNode, signal: AbortSignal): Promise<SensorResult>;
}

/** A custom sensor's name: a metric label, and never one of the built-in sensors'. */
export const SENSOR_NAME_PATTERN = /^[a-z][a-z0-9-]{0,47}$/;

export function sensorNameProblem(name: string): string | undefined {
  if (!SENSOR_NAME_PATTERN.test(name)) return `sensor name ${JSON.stringify(name)} must match ${String(SENSOR_NAME_PATTERN)}`;
  if ((BUILT_IN_SENSORS as readonly string[]).includes(name)) return `sensor name ${JSON.stringify(name)} is a built-in sensor's`;
  return undefined;
}

/**
 * The node as environment variables for an executable (a sensor or a hook): what a shell
 * script reads most easily. Absent facts are absent variables, never empty strings.
 */
export function nodeEnv(node: SensorNode): Record<string, string> {
  const env: Record<string, string> = {
    SBC_NODE_ID: node.nodeId,
    SBC_NODE_MACHINE_ID: node.machineId,
    SBC_NODE_HOSTNAME: node.hostname,
    SBC_NODE_SIP_URI: node.sipUri,
    SBC_NODE_SESSIONS: String(node.sessions),
    SBC_NODE_CAPACITY: String(node.capacity),
    SBC_NODE_HEARTBEAT_INTERVAL_MS: String(node.heartbeatIntervalMs),
    SBC_NODE_BLOCKERS: node.blockers.join(','),
  };
  const last = node.heartbeatArrivals.at(-1);
  if (last !== undefined) env.SBC_NODE_LAST_HEARTBEAT_AT = String(last);
  if (node.idleCpuPercent !== undefined) env.SBC_NODE_IDLE_CPU = String(node.idleCpuPercent);
  if (node.sessionsPerSecond !== undefined) env.SBC_NODE_SESSIONS_PER_SEC = String(node.sessionsPerSecond);
  if (node.sessionsPerSecondLimit !== undefined) env.SBC_NODE_SESSIONS_PER_SEC_LIMIT = String(node.sessionsPerSecondLimit);
  if (node.kamailioMarks) {
    env.SBC_NODE_KAMAILIO_INACTIVE = String(node.kamailioMarks.inactive);
    env.SBC_NODE_KAMAILIO_TOTAL = String(node.kamailioMarks.total);
  }
  return env;
}
