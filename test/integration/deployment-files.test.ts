import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSpec } from '../../src/config/agent.js';
import { controlPlaneSpec } from '../../src/config/controlPlane.js';
import { writeCredentials } from '../../src/tools/nats-credentials.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

/** `services.<name>.environment` of the compose file as docker-compose resolves it. */
function composeEnvironments(): Record<string, Record<string, string>> {
  const text = execFileSync('docker-compose', ['-f', 'compose/docker-compose.yml', 'config'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FREESWITCH_IMAGE: 'example/freeswitch:test' },
  });
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  let service = '';
  let inEnv = false;
  for (const line of text.split('\n')) {
    const top = /^(\S[^:]*):/.exec(line);
    if (top) {
      section = top[1]!;
      continue;
    }
    if (section !== 'services') continue;
    const svc = /^ {2}([\w-]+):\s*$/.exec(line);
    if (svc) {
      service = svc[1]!;
      inEnv = false;
      continue;
    }
    if (/^ {4}environment:\s*$/.test(line)) {
      inEnv = true;
      out[service] = {};
      continue;
    }
    if (/^ {4}\S/.test(line)) inEnv = false;
    const kv = /^ {6}(\w+): ?(.*)$/.exec(line);
    if (inEnv && kv) out[service]![kv[1]!] = kv[2]!.replace(/^'(.*)'$/, '$1');
  }
  return out;
}

const kamailioNames = () => [...read('kamailio/kamailio.cfg').matchAll(/^#!trydefenvs? \w+=(SBC_\w+)/gm)].map((m) => m[1]!);
const luaDefaults = () =>
  Object.fromEntries([...read('lua/routing.lua').matchAll(/env_(?:int|str)\("(SBC_\w+)", "?([^",]*)"?/g)].map((m) => [m[1]!, m[2]!]));

describe('deployment files stay true to the code', () => {
  it('the compose file is valid and sets only variables its programs read', () => {
    const envs = composeEnvironments();
    expect(Object.keys(envs).sort()).toEqual(['agent-1', 'agent-2', 'control-plane', 'kamailio', 'postgres']);
    for (const name of Object.keys(envs['control-plane']!)) expect(Object.keys(controlPlaneSpec)).toContain(name);
    for (const svc of ['agent-1', 'agent-2']) {
      for (const name of Object.keys(envs[svc]!)) expect(Object.keys(agentConfigSpec)).toContain(name);
    }
    const kamailioReads = [...kamailioNames(), ...Object.keys(luaDefaults())];
    for (const name of Object.keys(envs.kamailio!)) expect(kamailioReads).toContain(name);
    // The control plane must reach Kamailio's RPC port the cfg listens on.
    expect(envs['control-plane']!.SBC_KAMAILIO_RPC_URLS).toBe(`http://kamailio:${envs.kamailio!.SBC_RPC_PORT}/RPC`);
  });

  it('the compose NATS config is valid with the authorization nats-credentials writes, and each program gets its key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-compose-nats-'));
    try {
      writeFileSync(join(dir, 'nats-server.conf'), read('compose/nats-server.conf'));
      const files = writeCredentials({ dir: join(dir, 'auth'), prefix: 'sbc', agents: [] });
      const check = spawnSync('nats-server', ['-c', join(dir, 'nats-server.conf'), '-t'], { encoding: 'utf8' });
      expect(check.status, check.stderr + check.stdout).toBe(0);
      const envs = composeEnvironments();
      // The compose services mount the nats-auth volume at /auth; the names must be the tool's.
      expect(envs['control-plane']!.SBC_NATS_NKEY_FILE).toBe(`/auth/${basename(files.controlPlane)}`);
      for (const svc of ['agent-1', 'agent-2']) expect(envs[svc]!.SBC_NATS_NKEY_FILE).toBe(`/auth/${basename(files.agents.agent!)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Kamailio\'s routing script and the control plane agree on set ids and algorithms by default', () => {
    const lua = luaDefaults();
    for (const name of ['SBC_DS_SET_GENERAL', 'SBC_DS_ALG_GENERAL', 'SBC_DS_SET_ROOMS', 'SBC_DS_ALG_ROOMS', 'SBC_DS_SET_CASCADE'] as const) {
      expect(lua[name], name).toBe(String(controlPlaneSpec[name].default));
    }
  });

  it('kamailio.cfg gives the dispatcher the RELOAD_DELTA define the control plane reads at start-up, and compose sets the two alike', () => {
    const cfg = read('kamailio/kamailio.cfg');
    expect(cfg).toMatch(/^#!trydefenv RELOAD_DELTA=SBC_DS_RELOAD_DELTA$/m);
    expect(cfg).toMatch(/^modparam\("dispatcher", "reload_delta", RELOAD_DELTA\)$/m);
    const cfgDefault = Number(/^#!define RELOAD_DELTA (\d+)$/m.exec(cfg)?.[1]);
    expect(cfgDefault * 1000).toBeLessThanOrEqual(controlPlaneSpec.SBC_RELOAD_DELTA_MS.default!);
    const envs = composeEnvironments();
    expect(Number(envs.kamailio!.SBC_DS_RELOAD_DELTA) * 1000).toBeLessThanOrEqual(Number(envs['control-plane']!.SBC_RELOAD_DELTA_MS));
  });

  it('the control plane\'s default RPC URL points at the port kamailio.cfg listens on by default', () => {
    const port = /^#!define RPC_PORT (\d+)$/m.exec(read('kamailio/kamailio.cfg'))?.[1];
    expect(controlPlaneSpec.SBC_KAMAILIO_RPC_URLS.default).toEqual([`http://127.0.0.1:${port}/RPC`]);
  });
});
