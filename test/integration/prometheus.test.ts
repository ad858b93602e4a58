import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { subjects } from '../../src/events/subjects.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { freePort } from '../support/ports.js';
import { startProcess, trackLeftover, waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';
import { dashboardQueries, promQuery, queryProblems, readDashboard } from '../support/dashboard.js';

/**
 * The shipped Prometheus config, alert rules and Grafana dashboard against Debian's own
 * Prometheus 2.42 (package `prometheus`): promtool checks and rule unit tests, then a real
 * Prometheus with the shipped rules scraping a control plane (in this process, real Redis,
 * Postgres, NATS and Kamailio) with the shipped agents beside two FreeSWITCH stand-ins, calls
 * and a spilled room, and every query of every dashboard panel asked of it.
 */
const PROMTOOL = process.env.TEST_PROMTOOL_BIN ?? '/usr/bin/promtool';
const PROMETHEUS = process.env.TEST_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const SHIPPED_CONFIG = 'compose/prometheus/prometheus.yml';
const SHIPPED_RULES = 'compose/prometheus/alerts.yml';
const RULE_TESTS = 'test/fixtures/prometheus/alerts.test.yml';
const SHIPPED_TARGETS = '          - control-plane-1:8080\n          - control-plane-2:8080\n';
const HEARTBEAT_MS = 500;

const run = promisify(execFile);
/** A promtool run: its exit status and everything it printed (its message is the failure's). */
async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await run(PROMTOOL, args, { timeout: 60_000 });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

/** The shipped file's text with one exact part replaced; throws when that part is not there once (the file changed shape). */
function replaceOnce(text: string, what: string, by: string, file: string): string {
  const at = text.indexOf(what);
  if (at < 0 || text.indexOf(what, at + 1) >= 0) throw new Error(`${file}: expected exactly one ${JSON.stringify(what)}`);
  return text.slice(0, at) + by + text.slice(at + what.length);
}
const withTargets = (config: string, target: string) => replaceOnce(config, SHIPPED_TARGETS, `          - ${target}\n`, SHIPPED_CONFIG);

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setTimeout(1000);
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => (sock.destroy(), resolve(false)));
  });
}


describe('Prometheus: the shipped config, rules and dashboard (Debian prometheus 2.42)', () => {
  const tools = existsSync(PROMTOOL) && existsSync(PROMETHEUS);
  const dir = mkdtempSync(join(tmpdir(), 'sbc-prometheus-'));
  const untrackDir = trackLeftover('Prometheus test dir', () => rmSync(dir, { recursive: true, force: true }));

  it('the tools are installed (Debian package prometheus: scripts/install-deps.sh)', () => {
    expect(tools, `${PROMTOOL} and ${PROMETHEUS} are needed: apt-get install -y --no-install-recommends prometheus`).toBe(true);
  });

  it("installing Debian's prometheus started no service: nothing listens on 127.0.0.1:9090", async () => {
    expect(await listening(9090), 'something listens on 9090: the package must not start a Prometheus here (no systemd), and the test uses its own port').toBe(false);
  });

  it('promtool check config: the shipped prometheus.yml (only its targets rewritten) and the rules it names', async () => {
    const cdir = mkdtempSync(join(dir, 'check-'));
    const config = readFileSync(SHIPPED_CONFIG, 'utf8');
    writeFileSync(join(cdir, 'prometheus.yml'), withTargets(config, '127.0.0.1:9'));
    copyFileSync(SHIPPED_RULES, join(cdir, 'alerts.yml'));
    const r = await promtool(['check', 'config', join(cdir, 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS: 1 rule files found');
  });

  it('promtool check rules: the shipped alerts.yml, byte for byte', async () => {
    const r = await promtool(['check', 'rules', SHIPPED_RULES]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: each alert fires on the input that should fire it and not on a healthy cluster', async () => {
    const r = await promtool(['test', 'rules', RULE_TESTS]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
    // Every alert of the shipped file is exercised by the unit tests, firing and silent.
    const alerts = [...readFileSync(SHIPPED_RULES, 'utf8').matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
    const tests = readFileSync(RULE_TESTS, 'utf8');
    const untested = alerts.filter((a) => !new RegExp(`alertname: ${a}\\b[^\\n]*\\n\\s+exp_alerts:\\n\\s+- exp_labels`).test(tests) || !new RegExp(`alertname: ${a}, exp_alerts: \\[\\]`).test(tests));
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    expect(untested).toEqual([]);
  });

  describe('a real Prometheus scraping a control plane with stand-in nodes', () => {
    let db: Service;
    let redis: Service;
    let nats: Service;
    let nc: NatsConnection | undefined;
    let k1: KamailioInstance;
    let cp: ControlPlane;
    let prom: RunningProcess | undefined;
    let promUrl = '';
    let scrapedSince = 0;
    const prefix = `prom${randomBytes(3).toString('hex')}`;
    const nodes: { fs: Standin; agent: RunningProcess }[] = [];
    const background: Promise<UacResult>[] = [];

    const query = (expr: string) => promQuery(promUrl, expr);
    const metricsText = async () => (await cp.app.inject('/metrics')).body;

    beforeAll(async () => {
      if (!tools) return;
      ({ db, redis, nats } = await startMigratedServices());
      // Kamailio shares its pins on NATS, so the control plane hears them (pin metrics).
      k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000, env: { SBC_NATS_URL: nats.url, SBC_NATS_PINS_SUBSCRIPTION: `${prefix}.kamailio.pins:kam-1`, SBC_KAMAILIO_ID: 'kam-1' } });
      const config = loadControlPlaneConfig({
        ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
        SBC_RELOAD_DELTA_MS: '1000',
        SBC_RESYNC_MS: '2000',
        SBC_ROOM_PIN_GRACE_MS: '5000',
        // A room's third caller spills to the second node, and the halves are linked.
        SBC_ROOM_MAX_MEMBERS_PER_NODE: '2',
      });
      cp = await startControlPlane(config, pino({ level: 'silent' }));
      await cp.app.listen({ host: '127.0.0.1', port: 0 });
      const cpPort = (cp.app.server.address() as { port: number }).port;

      // Prometheus first, so that every counter and histogram moves while it scrapes.
      const pdir = mkdtempSync(join(dir, 'run-'));
      let config2 = withTargets(readFileSync(SHIPPED_CONFIG, 'utf8'), `127.0.0.1:${cpPort}`);
      config2 = replaceOnce(config2, 'scrape_interval: 10s', 'scrape_interval: 1s', SHIPPED_CONFIG);
      config2 = replaceOnce(config2, 'scrape_timeout: 5s', 'scrape_timeout: 1s', SHIPPED_CONFIG);
      config2 = replaceOnce(config2, 'evaluation_interval: 10s', 'evaluation_interval: 1s', SHIPPED_CONFIG);
      writeFileSync(join(pdir, 'prometheus.yml'), config2);
      copyFileSync(SHIPPED_RULES, join(pdir, 'alerts.yml'));
      for (let attempt = 0; ; attempt++) {
        const port = await freePort();
        const p = startProcess(PROMETHEUS, [`--config.file=${join(pdir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(pdir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { env: { PATH: process.env.PATH } });
        promUrl = `http://127.0.0.1:${port}`;
        const ready = await waitFor('Prometheus ready', async () => p.child.exitCode === null && (await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok, 20_000, 100).then(() => true, () => false);
        if (ready) {
          prom = p;
          break;
        }
        await p.stop('SIGKILL');
        if (attempt >= 2) throw new Error(`Prometheus did not start: ${p.output().slice(-2000)}`);
      }
      await waitFor('Prometheus scraped the control plane', async () => (await query('up{job="sbc-control-plane"} == 1')).data?.result.length === 1, 15_000, 200);
      scrapedSince = Date.now();

      for (let i = 0; i < 2; i++) {
        const fs = await startStandin({ toneMs: 0 });
        nodes.push({ fs, agent: startAgentProcess(fs, { natsUrl: nats.url, prefix, heartbeatMs: HEARTBEAT_MS, eslTimeoutMs: 400, env: { SBC_PROBES_BEFORE_LOST: '3' } }) });
      }
      await waitFor('both nodes selectable', async () => (await selectableUris(k1, 1)).length === 2, 20_000);
      await waitFor('the control plane leads', () => cp.election.isLeader(), 10_000);

      // Ordinary calls and one room of 3 callers: 2 on its node, the third spilled and linked.
      background.push(runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 6, rate: 20, holdMs: 6000 }));
      background.push(runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: ['3700', '3700'], calls: 2, rate: 20, holdMs: 9000 }));
      await waitFor('the room on one node with 2 callers', () => nodes.some((n) => (n.fs.conferenceList().find((c) => c.name === '3700')?.members.length ?? 0) >= 2), 10_000);
      const full = nodes.find((n) => (n.fs.conferenceList().find((c) => c.name === '3700')?.members.length ?? 0) >= 2)!;
      await waitFor('the pin moved off the full node', async () => {
        const v = (await cp.app.inject('/v1/rooms/3700')).json<{ pin: { uri: string } | null }>();
        return v.pin !== null && v.pin.uri !== full.fs.sipUri;
      }, 10_000, 200);
      background.push(runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3700', calls: 1, holdMs: 7000 }));
      await waitFor('the spilled room linked', async () => /sbc_room_links_total\{op="make",outcome="ok"\} [1-9]/.test(await metricsText()), 15_000, 200);

      // One of each kind of refused message: a node message, a pin, a call event.
      nc = await connect({ servers: nats.url });
      const s = subjects(prefix);
      nc.publish(s.node(randomUUID(), 'heartbeat'), 'not json');
      nc.publish(s.kamailioPins, 'not json');
      nc.publish(s.channel(randomUUID()), 'not json');
      await nc.flush();
      await waitFor('the refusals counted', async () => {
        const text = await metricsText();
        return text.includes('sbc_nats_messages_rejected_total{') && /sbc_pin_messages_total\{outcome="rejected-/.test(text) && /sbc_call_events_total\{outcome="rejected-/.test(text);
      }, 15_000, 200);

      // Every call ends: the room's conferences go, and so do its pin and link.
      for (const r of background.splice(0)) expect((await r).failed, 'a sipp call failed').toBe(0);
      await waitFor('the room pin ended', async () => (await metricsText()).includes('sbc_room_pins_ended_total{'), 20_000, 200);
      await waitFor('call events ingested', async () => /sbc_call_events_total\{outcome="inserted"\} [1-9]/.test(await metricsText()), 15_000, 200);
    });

    afterAll(async () => {
      await Promise.allSettled(background);
      await nc?.close();
      for (const n of nodes) await n.agent.stop('SIGKILL');
      for (const n of nodes) await n.fs.stop();
      await prom?.stop();
      await cp?.stop();
      await k1?.stop();
      await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
      rmSync(dir, { recursive: true, force: true });
      untrackDir();
    });

    it('Prometheus loaded every shipped rule, each evaluates without error, and the healthy cluster fires none', async () => {
      expect(tools).toBe(true);
      const res = (await (await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(5000) })).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string; state: string }[] }[] } };
      const rules = res.data.groups.flatMap((g) => g.rules);
      const shipped = [...readFileSync(SHIPPED_RULES, 'utf8').matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
      expect(rules.map((r) => r.name).sort()).toEqual([...shipped].sort());
      await waitFor('every rule evaluated', async () => {
        const again = (await (await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(5000) })).json()) as typeof res;
        return again.data.groups.flatMap((g) => g.rules).every((r) => r.health === 'ok');
      }, 10_000, 200).catch(() => undefined);
      const after = ((await (await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(5000) })).json()) as typeof res).data.groups.flatMap((g) => g.rules);
      expect(after.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
      expect(after.filter((r) => r.state !== 'inactive').map((r) => `${r.name}: ${r.state}`)).toEqual([]);
    });

    it('every query of every dashboard panel returns data (the $node variable as All and as one node)', async () => {
      expect(tools).toBe(true);
      const dashboard = readDashboard();
      // The variable's own query, as Grafana asks it: label values of the series it names.
      const variable = dashboard.templating.list.find((v) => v.name === 'node');
      const [, series, label] = /^label_values\((\w+), (\w+)\)$/.exec(variable?.definition ?? '') ?? [];
      expect(series, 'the node variable is label_values(<metric>, <label>)').toBeTruthy();
      const values = (await (await fetch(`${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': series! }).toString()}`, { signal: AbortSignal.timeout(5000) })).json()) as { data: string[] };
      const live = (await cp.app.inject('/v1/nodes')).json<{ nodes: { nodeId: string; state: string }[] }>().nodes.filter((n) => n.state !== 'gone').map((n) => n.nodeId);
      expect(values.data.sort()).toEqual(live.sort());
      const oneNode = live[0]!;

      // Grafana's own variables: a window over the whole time Prometheus has scraped this
      // cluster (recomputed at each try, so that it never slides past what happened).
      const queries = () => dashboardQueries(dashboard, (Date.now() - scrapedSince) / 1000 + 5, oneNode);
      expect(queries().length).toBeGreaterThan(20);
      const problems = () => queryProblems(promUrl, queries());
      let last: string[] = [];
      await waitFor('every panel query answered with data', async () => (last = await problems()).length === 0, 20_000, 1000).catch(() => undefined);
      expect(last).toEqual([]);
    });
  });
});
