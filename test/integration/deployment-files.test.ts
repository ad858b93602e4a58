import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSpec } from '../../src/config/agent.js';
import { controlPlaneSpec } from '../../src/config/controlPlane.js';
import { writeCredentials } from '../../src/tools/nats-credentials.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

/** What compose/.env must hold (compose/.env.example): docker-compose refuses to start without it. */
const SECRETS = {
  COMPOSE_PROJECT_NAME: 'sbc',
  SBC_API_BOOTSTRAP_TOKEN: 'b'.repeat(40),
  SBC_FS_ESL_PASSWORD: 'esl-secret',
  SBC_PG_PASSWORD: 'pg-secret',
  FREESWITCH_IMAGE: 'example/freeswitch:test',
};

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  command?: string[] | string;
  profiles?: string[];
}

/** `docker-compose config` (Debian's v1) of compose/docker-compose.yml [+ more files] with `env`, parsed (python3-yaml comes with docker-compose). */
function composeConfig(env: Record<string, string> = SECRETS, files: string[] = []): { services: Record<string, ComposeService>; volumes: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-compose-env-'));
  try {
    // An empty env file: a developer's compose/.env must not decide this test.
    writeFileSync(join(dir, 'env'), '');
    const text = execFileSync('docker-compose', ['--env-file', join(dir, 'env'), '-f', 'compose/docker-compose.yml', ...files.flatMap((f) => ['-f', f]), 'config'], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(execFileSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: text, encoding: 'utf8' })) as never;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function composeEnvironments(): Record<string, Record<string, string>> {
  return Object.fromEntries(
    Object.entries(composeConfig().services)
      .filter(([, svc]) => svc.environment !== undefined)
      .map(([name, svc]) => [name, svc.environment ?? {}]),
  );
}

/** The variables a script of docker/ reads for itself: each one named in its header (`NAME` in a comment line). */
const scriptVariables = (file: string) => new Set([...read(file).matchAll(/^#.*?\b([A-Z][A-Z0-9_]+)\b/gm)].map((m) => m[1]!));

const kamailioNames = () => [...read('kamailio/kamailio.cfg').matchAll(/^#!trydefenvs? \w+=(SBC_\w+)/gm)].map((m) => m[1]!);
const luaDefaults = () =>
  Object.fromEntries([...read('lua/routing.lua').matchAll(/env_(?:int|str)\("(SBC_\w+)", "?([^",]*)"?/g)].map((m) => [m[1]!, m[2]!]));

describe('deployment files stay true to the code', () => {
  it('the compose file is valid and sets only variables its programs read', () => {
    const envs = composeEnvironments();
    expect(Object.keys(envs).sort()).toEqual(['control-plane-1', 'control-plane-2', 'freeswitch', 'grafana', 'kamailio-1', 'kamailio-2', 'nats-credentials', 'postgres']);
    const cpReads = Object.keys(controlPlaneSpec);
    for (const svc of ['control-plane-1', 'control-plane-2']) for (const name of Object.keys(envs[svc]!)) expect(cpReads, `${svc}: ${name}`).toContain(name);
    // The agent's variables, and the supervisor's own (named in docker/freeswitch-node.sh's header).
    const supervisor = scriptVariables('docker/freeswitch-node.sh');
    for (const name of Object.keys(envs.freeswitch!)) expect(name in agentConfigSpec || supervisor.has(name), `freeswitch: ${name}`).toBe(true);
    const kamailioReads = new Set([...kamailioNames(), ...Object.keys(luaDefaults()), ...scriptVariables('docker/kamailio-entrypoint.sh')]);
    for (const svc of ['kamailio-1', 'kamailio-2']) for (const name of Object.keys(envs[svc]!)) expect(kamailioReads.has(name), `${svc}: ${name}`).toBe(true);
    // The one-shot's only variable is the one its command writes to the bootstrap token file.
    const oneShot = composeConfig().services['nats-credentials']!;
    expect(Object.keys(envs['nats-credentials']!)).toEqual(['API_BOOTSTRAP_TOKEN']);
    // `config` prints the file's `$$` (a literal `$` for the shell) as written.
    expect([oneShot.command].flat().join(' ')).toContain(`"$$API_BOOTSTRAP_TOKEN" > ${envs['control-plane-1']!.SBC_API_BOOTSTRAP_TOKEN_FILE} `);
    // The control planes reach every Kamailio's RPC port, as its cfg listens.
    expect(envs['control-plane-1']!.SBC_KAMAILIO_RPC_URLS).toBe(['kamailio-1', 'kamailio-2'].map((k) => `http://${k}:${envs[k]!.SBC_RPC_PORT}/RPC`).join(','));
    // Pins: each Kamailio subscribes in a queue group of its own id (routing.lua checks it).
    for (const k of ['kamailio-1', 'kamailio-2']) expect(envs[k]!.SBC_NATS_PINS_SUBSCRIPTION).toBe(`sbc.kamailio.pins:${envs[k]!.SBC_KAMAILIO_ID}`);
  });

  it('the control planes ask for tokens, leave the Prometheus scrape open, and scale the freeswitch service with the docker provisioner', () => {
    const envs = composeEnvironments();
    for (const svc of ['control-plane-1', 'control-plane-2']) {
      const env = envs[svc]!;
      expect(env).toMatchObject({ SBC_API_AUTH: 'on', SBC_PROVISIONER: 'docker', SBC_DOCKER_SERVICE: 'freeswitch', SBC_DOCKER_PROJECT: SECRETS.COMPOSE_PROJECT_NAME, SBC_DOCKER_SOCKET: '/var/run/docker.sock' });
      expect(env.SBC_API_OPEN_PATHS!.split(',')).toContain('/metrics');
    }
    // Prometheus sends no credential, so /metrics must be open (above).
    expect(read('compose/prometheus/prometheus.yml')).not.toMatch(/authorization|bearer_token/);
    expect(read('compose/prometheus/prometheus.yml')).toMatch(/- control-plane-1:8080\n\s+- control-plane-2:8080/);
    expect(envs.freeswitch!.FREESWITCH_NODE_NAME_PREFIX).toBe(`${SECRETS.COMPOSE_PROJECT_NAME}_freeswitch_`);
  });

  it('a missing secret stops docker-compose with its name', () => {
    for (const name of ['SBC_API_BOOTSTRAP_TOKEN', 'SBC_FS_ESL_PASSWORD', 'SBC_PG_PASSWORD', 'FREESWITCH_IMAGE'] as const) {
      const { [name]: _left, ...rest } = SECRETS;
      expect(() => composeConfig(rest), name).toThrow(new RegExp(`set ${name} in compose/.env`));
    }
    for (const name of Object.keys(SECRETS)) expect(read('compose/.env.example')).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('publishes only SIP, the API on loopback and Grafana on loopback; never Redis, Postgres or NATS', () => {
    const published = Object.fromEntries(
      Object.entries(composeConfig().services)
        .filter(([, svc]) => (svc.ports ?? []).length > 0)
        .map(([name, svc]) => [name, (svc.ports ?? []).map((p) => String(p))]),
    );
    expect(Object.keys(published).sort()).toEqual(['control-plane-1', 'control-plane-2', 'grafana', 'kamailio-1', 'kamailio-2']);
    for (const k of ['kamailio-1', 'kamailio-2']) for (const p of published[k]!) expect(p).toMatch(/:5060\/(udp|tcp)$/);
    for (const svc of ['control-plane-1', 'control-plane-2']) expect(published[svc]).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+:8080\/tcp$/)]);
    expect(published.grafana).toEqual(['127.0.0.1:3000:3000/tcp']);
    expect(JSON.stringify(published)).not.toMatch(/:(6379|5432|4222)\b/);
    expect(composeConfig().services.grafana!.profiles).toEqual(['grafana']);
  });

  it('every service but Grafana\'s own runs under an init (a shell as PID 1 would ignore SIGTERM)', () => {
    const services = composeConfig().services as Record<string, ComposeService & { init?: boolean }>;
    expect(Object.entries(services).filter(([name, svc]) => name !== 'grafana' && svc.init !== true).map(([name]) => name)).toEqual([]);
  });

  it('every file the compose files reference exists (build contexts, Dockerfiles, bind mounts)', () => {
    for (const files of [[], ['test/docker/compose.test.yml']]) {
      const { services, volumes } = composeConfig({ ...SECRETS, DOCKER_SOCKET: '/var/run/docker.sock' }, files);
      for (const [name, svc] of Object.entries(services)) {
        if (svc.build) {
          expect(existsSync(svc.build.context), `${name}: ${svc.build.context}`).toBe(true);
          expect(existsSync(join(svc.build.context, svc.build.dockerfile)), `${name}: ${svc.build.dockerfile}`).toBe(true);
        }
        for (const v of svc.volumes ?? []) {
          const source = v.split(':')[0]!;
          if (source in volumes) continue;
          // The engine's socket is the host's, not the repository's.
          if (source === '/var/run/docker.sock') continue;
          expect(source.startsWith('/'), `${name}: ${v}`).toBe(true);
          expect(existsSync(source), `${name}: ${v}`).toBe(true);
        }
      }
    }
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
      for (const svc of ['control-plane-1', 'control-plane-2']) expect(envs[svc]!.SBC_NATS_NKEY_FILE).toBe(`/auth/${basename(files.controlPlane)}`);
      expect(envs.freeswitch!.SBC_NATS_NKEY_FILE).toBe(`/auth/${basename(files.agents.agent!)}`);
      for (const k of ['kamailio-1', 'kamailio-2']) {
        expect(envs[k]!.NATS_PASSWORD_FILE).toBe(`/auth/${basename(files.kamailio)}`);
        expect(envs[k]!.SBC_NATS_URL).toBe('nats://kamailio:{password}@nats:4222');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Kamailio image copies kamailio/ and lua/ unchanged and runs exactly those files', () => {
    const dockerfile = read('docker/kamailio.Dockerfile');
    expect(dockerfile).toMatch(/^COPY kamailio\/ \/etc\/kamailio\/sbc\/kamailio\/$/m);
    expect(dockerfile).toMatch(/^COPY lua\/ \/etc\/kamailio\/sbc\/lua\/$/m);
    expect(dockerfile).toMatch(/^ENV SBC_LUA_SCRIPT=\/etc\/kamailio\/sbc\/lua\/routing\.lua$/m);
    expect(dockerfile).toMatch(/^CMD \["kamailio", "-DD", "-E", "-f", "\/etc\/kamailio\/sbc\/kamailio\/kamailio\.cfg"/m);
    // No step edits them after the copy (sed, a heredoc, another COPY over them).
    expect(dockerfile.split(/^COPY lua\/ .*$/m)[1]).not.toMatch(/^(RUN|ADD)\b|^COPY .*\/etc\/kamailio/m);
    // The packages are the ones scripts/install-deps.sh installs for the tests.
    const pkgs = /apt-get install -y --no-install-recommends \\\n\s+([^\n]+?) \\?\n/.exec(dockerfile)?.[1]?.split(/\s+/) ?? [];
    expect(pkgs.sort()).toEqual(['kamailio', 'kamailio-lua-modules', 'kamailio-nats-modules', 'kamailio-postgres-modules']);
    for (const p of pkgs) expect(read('scripts/install-deps.sh')).toContain(p);
    // The compose test compares the built image's files with these, byte for byte (test/integration/compose.test.ts).
  });

  it('the node image is non-root, without dev dependencies, with source maps and a /readyz healthcheck', () => {
    const dockerfile = read('docker/node.Dockerfile');
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*\/readyz/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/src\/main\.js"\]$/m);
    expect(read('tsconfig.json')).toMatch(/"sourceMap": true/);
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
    for (const k of ['kamailio-1', 'kamailio-2']) {
      for (const cp of ['control-plane-1', 'control-plane-2']) expect(Number(envs[k]!.SBC_DS_RELOAD_DELTA) * 1000).toBeLessThanOrEqual(Number(envs[cp]!.SBC_RELOAD_DELTA_MS));
    }
  });

  it('the control plane\'s default RPC URL points at the port kamailio.cfg listens on by default', () => {
    const port = /^#!define RPC_PORT (\d+)$/m.exec(read('kamailio/kamailio.cfg'))?.[1];
    expect(controlPlaneSpec.SBC_KAMAILIO_RPC_URLS.default).toEqual([`http://127.0.0.1:${port}/RPC`]);
  });
});
