import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { NODE_TRANSITIONS } from '../core/health.js';
import { executableSensor } from './executableSensor.js';
import type { HookConfig } from './hooks.js';
import { sensorNameProblem, type Sensor } from './sensor.js';

/**
 * SBC_HEALTH_PLUGINS_FILE: the operator's custom sensors and transition hooks, one JSON file
 * read once at start and checked whole (every problem listed, none at run time):
 *
 *   {
 *     "sensors": [{ "name": "rtp-loss", "command": "/opt/sensors/rtp-loss", "args": [], "timeoutMs": 2000 }],
 *     "hooks": [
 *       { "name": "pager", "on": ["critical", "gone"], "url": "https://pager.example/hook", "timeoutMs": 3000 },
 *       { "name": "cmdb", "on": ["drained"], "command": "/opt/hooks/cmdb", "timeoutMs": 5000 }
 *     ]
 *   }
 *
 * A sensor prints `{"score": 0..100, "value"?, "detail"?}` (health/executableSensor.ts); a
 * hook is a command or a webhook (health/hooks.ts). Commands run without a shell, with only
 * the env given here plus the node's SBC_NODE_* variables.
 */

const Name = Type.String({ minLength: 1, maxLength: 48 });
const Command = Type.String({ pattern: '^/[^\\0]*$', description: 'Absolute path of the executable' });
const Args = Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64 });
const Env = Type.Record(Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' }), Type.String({ maxLength: 4096 }));
const TimeoutMs = Type.Integer({ minimum: 10, maximum: 600_000 });

const SensorEntry = Type.Object(
  {
    name: Name,
    command: Command,
    args: Type.Optional(Args),
    env: Type.Optional(Env),
    timeoutMs: TimeoutMs,
    maxOutputBytes: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_048_576 })),
  },
  { additionalProperties: false },
);

const HookEntry = Type.Object(
  {
    name: Name,
    on: Type.Array(Type.Union(NODE_TRANSITIONS.map((t) => Type.Literal(t))), { minItems: 1, uniqueItems: true }),
    command: Type.Optional(Command),
    args: Type.Optional(Args),
    env: Type.Optional(Env),
    url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
    headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), Type.String({ maxLength: 4096 }))),
    timeoutMs: TimeoutMs,
  },
  { additionalProperties: false },
);

export const HealthPluginsFile = Type.Object(
  {
    sensors: Type.Optional(Type.Array(SensorEntry, { maxItems: 32 })),
    hooks: Type.Optional(Type.Array(HookEntry, { maxItems: 32 })),
  },
  { additionalProperties: false, $id: 'HealthPluginsV1' },
);
export type HealthPluginsFile = Static<typeof HealthPluginsFile>;
const check = TypeCompiler.Compile(HealthPluginsFile);

export interface HealthPlugins {
  readonly sensors: readonly Sensor[];
  readonly hooks: readonly HookConfig[];
}

export type PluginsResult = { readonly ok: true; readonly plugins: HealthPlugins } | { readonly ok: false; readonly problems: readonly string[] };

/** Pure: the plugins a parsed file describes, or every problem with it. */
export function pluginsFrom(json: unknown): PluginsResult {
  if (!check.Check(json)) {
    return { ok: false, problems: [...check.Errors(json)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`) };
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const s of json.sensors ?? []) {
    const p = sensorNameProblem(s.name);
    if (p) problems.push(`sensors: ${p}`);
    if (seen.has(s.name)) problems.push(`sensors: ${JSON.stringify(s.name)} is listed twice`);
    seen.add(s.name);
  }
  const hookNames = new Set<string>();
  for (const h of json.hooks ?? []) {
    if ((h.command === undefined) === (h.url === undefined)) problems.push(`hooks: ${JSON.stringify(h.name)} needs exactly one of command and url`);
    if (h.url !== undefined && (h.args !== undefined || h.env !== undefined)) problems.push(`hooks: ${JSON.stringify(h.name)}: args and env are for a command`);
    if (h.command !== undefined && h.headers !== undefined) problems.push(`hooks: ${JSON.stringify(h.name)}: headers are for a url`);
    if (hookNames.has(h.name)) problems.push(`hooks: ${JSON.stringify(h.name)} is listed twice`);
    hookNames.add(h.name);
  }
  if (problems.length > 0) return { ok: false, problems };
  const sensors = (json.sensors ?? []).map((s) => executableSensor(s));
  const hooks: HookConfig[] = (json.hooks ?? []).map((h) => ({
    name: h.name,
    on: h.on,
    target:
      h.command !== undefined
        ? { kind: 'command', spec: { command: h.command, timeoutMs: h.timeoutMs, ...(h.args ? { args: h.args } : {}), ...(h.env ? { env: h.env } : {}) } }
        : { kind: 'webhook', url: h.url!, timeoutMs: h.timeoutMs, ...(h.headers ? { headers: h.headers } : {}) },
  }));
  return { ok: true, plugins: { sensors, hooks } };
}

/** Reads and checks SBC_HEALTH_PLUGINS_FILE; '' is none. Problems name the file. */
export function loadHealthPlugins(path: string): PluginsResult {
  if (path === '') return { ok: true, plugins: { sensors: [], hooks: [] } };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { ok: false, problems: [`SBC_HEALTH_PLUGINS_FILE ${path}: ${(err as Error).message}`] };
  }
  const result = pluginsFrom(json);
  return result.ok ? result : { ok: false, problems: result.problems.map((p) => `SBC_HEALTH_PLUGINS_FILE ${path}: ${p}`) };
}
