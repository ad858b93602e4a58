import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent, type AgentSettings } from '../../src/agent/agent.js';
import { openFreeSwitchLink } from '../../src/agent/esl.js';
import { connectNats, natsBus } from '../../src/agent/nats.js';
import {
  decodeCommandReply,
  decodeAgentMessage,
  encodeCommandRequest,
  encodeMessage,
  subjects,
  type AgentCommandReply,
  type ConferenceNodeMessage,
  type NodeMessage,
} from '../../src/events/index.js';
import { VERSION } from '../standin/api.js';
import { QUICK } from '../standin/fixture.js';
import { launchStandin, startStandin, type Standin, type StandinOptions } from '../standin/standin.js';
import { EslTestClient } from '../standin/test-clients.js';
import { startProcess, waitFor } from '../support/process.js';
import { startNats, type NatsService } from '../support/services.js';

/**
 * The agent against real NATS and the FreeSWITCH stand-in (real ESL protocol, real SIP UAS),
 * with sipp making the call. Everything a test starts is stopped in afterEach.
 */
const HEARTBEAT_MS = 200;
const ESL_TIMEOUT_MS = 150;
const WAIT_MS = 8000;
const quiet = pino({ level: process.env.TEST_AGENT_LOG ?? 'silent' });
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let nats: NatsService;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats.stop();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Seen {
  readonly kind: NodeMessage['kind'];
  readonly msg: NodeMessage['msg'] & { reason?: string; sessions?: number; heartbeatIntervalMs?: number; blockers?: string[]; sipUri?: string };
}

/** Everything published under one prefix, decoded by the control plane's own decoder. */
class Watcher {
  readonly seen: Seen[] = [];
  readonly invalid: string[] = [];
  readonly conferences: ConferenceNodeMessage[] = [];
  private constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
  ) {}

  static async open(prefix: string): Promise<Watcher> {
    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const w = new Watcher(nc, prefix);
    const subs = subjects(prefix);
    nc.subscribe(`${prefix}.node.>`, {
      callback: (err, m) => {
        if (err) return;
        const d = decodeAgentMessage(subs, m.subject, m.data);
        if (!d.ok) w.invalid.push(`${m.subject}: ${d.reason} ${d.detail}`);
        else if (d.value.family === 'membership') w.seen.push(d.value.message);
        else w.conferences.push(d.value.message);
      },
    });
    await nc.flush();
    cleanups.push(() => nc.close());
    return w;
  }

  label(s: Seen): string {
    return s.msg.reason ? `${s.kind}:${s.msg.reason}` : s.kind;
  }

  async next(what: string, pred: (s: Seen) => boolean, from = 0): Promise<Seen> {
    let found: Seen | undefined;
    await waitFor(what, () => (found = this.seen.slice(from).find(pred)) !== undefined, WAIT_MS, 20);
    return found as Seen;
  }

  reannounce(body: unknown): void {
    this.nc.publish(subjects(this.prefix).reannounce, encodeMessage(body as object));
  }

  /** One command to the agent of `nodeId`, as the control plane sends it; the reply decoded by the shared schema. */
  async command(nodeId: string, command = 'status', bodyNodeId = nodeId): Promise<AgentCommandReply> {
    const encoded = encodeCommandRequest({ v: 1, id: `t${randomBytes(4).toString('hex')}`, nodeId: bodyNodeId, command, sentAt: Date.now() });
    if (!encoded.ok) throw new Error(encoded.detail);
    const msg = await this.nc.request(subjects(this.prefix).command(nodeId), encoded.data, { timeout: WAIT_MS });
    const reply = decodeCommandReply(msg.data);
    if (!reply.ok) throw new Error(`invalid reply: ${reply.reason} ${reply.detail}`);
    return reply.value;
  }
}

async function startAgent(standin: Standin, prefix: string, settings: Partial<AgentSettings> = {}): Promise<Agent> {
  const nc = await connectNats(nats.url, 'agent-under-test', quiet);
  const agent = createAgent(
    {
      natsPrefix: prefix,
      sipProfile: 'internal',
      sipUriOverride: undefined,
      heartbeatMs: HEARTBEAT_MS,
      sessionRecheckMs: 1000,
      eslTimeoutMs: ESL_TIMEOUT_MS,
      ...settings,
    },
    {
      openLink: () => openFreeSwitchLink({ host: '127.0.0.1', port: standin.eslPort, password: standin.password, logger: quiet }),
      bus: natsBus(nc),
      logger: quiet,
    },
  );
  cleanups.push(() => nc.close());
  cleanups.push(() => agent.stop('test cleanup'));
  await agent.start();
  return agent;
}

/** A stand-in without start-up or shutdown delays unless a test asks for them. */
async function setup(opts: StandinOptions = {}, settings: Partial<AgentSettings> = {}) {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const standin = await startStandin({ ...QUICK, ...opts });
  cleanups.push(() => standin.stop());
  const watcher = await Watcher.open(prefix);
  const agent = await startAgent(standin, prefix, settings);
  return { prefix, standin, watcher, agent };
}

/** Another ESL client, as an operator's fs_cli would be. */
async function operator(standin: Standin): Promise<EslTestClient> {
  const c = await EslTestClient.ready(standin.eslPort, standin.password);
  cleanups.push(() => Promise.resolve(c.close()));
  return c;
}

/** One call made by sipp's built-in uac scenario: INVITE, ACK, hold for `holdMs`, BYE. */
function sippCall(standin: Standin, holdMs: number) {
  const proc = startProcess('sipp', [
    '-sn', 'uac', '-s', '9000', `127.0.0.1:${standin.sipPort}`,
    '-i', '127.0.0.1', '-m', '1', '-d', String(holdMs), '-timeout', '20s', '-nostdin',
  ]);
  cleanups.push(() => proc.stop());
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  return { exited, output: () => proc.output() };
}

function seqsRise(w: Watcher): boolean {
  return w.seen.every((s, i) => i === 0 || s.msg.seq > (w.seen[i - 1]?.msg.seq ?? Infinity));
}

describe('agent with NATS and the FreeSWITCH stand-in', () => {
  it('joins with the stand-in identity, heartbeats with rising seq, counts a sipp call, answers reannounce, leaves on stop', async () => {
    const { standin, watcher, agent } = await setup({ maxSessions: 50 });

    const joined = await watcher.next('joined', (s) => s.kind === 'joined');
    expect(joined.msg).toMatchObject({
      nodeId: standin.coreUuid,
      sipUri: standin.sipUri,
      hostname: standin.hostname,
      capacity: 50,
      sessions: 0,
      reason: 'start',
      heartbeatIntervalMs: HEARTBEAT_MS,
      blockers: [],
    });

    await waitFor('5 heartbeats', () => watcher.seen.filter((s) => s.kind === 'heartbeat').length >= 5, WAIT_MS, 20);
    expect(watcher.seen.slice(0, 6).every((s) => s.msg.nodeId === standin.coreUuid)).toBe(true);
    // Paced by the interval, never in bursts: one tick per interval, each heartbeat sent after
    // a probe that takes at most the ESL timeout (the agent's own clock, so load cannot skew it).
    const sentAt = watcher.seen.filter((s) => s.kind === 'heartbeat').map((s) => s.msg.sentAt);
    const gaps = sentAt.slice(1).map((t, i) => t - (sentAt[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(HEARTBEAT_MS - ESL_TIMEOUT_MS);

    const call = sippCall(standin, 3000);
    const busy = await watcher.next('a heartbeat with the call up', (s) => s.kind === 'heartbeat' && s.msg.sessions === 1);
    expect(busy.msg.nodeId).toBe(standin.coreUuid);
    expect(standin.calls.map((c) => c.destination)).toEqual(['9000']);
    expect(await call.exited).toBe(0);
    await watcher.next('a heartbeat after the call', (s) => s.kind === 'heartbeat' && s.msg.sessions === 0, watcher.seen.indexOf(busy));
    expect(standin.calls[0]?.finalStatus).toBe(200);

    const before = watcher.seen.length;
    watcher.reannounce({ v: 1, requestedAt: Date.now(), requester: 'integration-test' });
    const again = await watcher.next('joined (reannounce)', (s) => s.kind === 'joined', before);
    expect(again.msg).toMatchObject({ nodeId: standin.coreUuid, reason: 'reannounce', sipUri: standin.sipUri });

    watcher.reannounce({ v: 1, requester: 'no timestamp' });
    await waitFor('invalid reannounce counted', () => agent.status().invalidReannounce === 1, WAIT_MS, 20);

    await agent.stop('test');
    const left = await watcher.next('left', (s) => s.kind === 'left');
    expect(left.msg).toMatchObject({ nodeId: standin.coreUuid, reason: 'agent-stopping' });
    await watcher.nc.flush();
    expect(watcher.label(watcher.seen.at(-1) as Seen)).toBe('left:agent-stopping');
    expect(watcher.seen.filter((s) => s.kind === 'joined').map((s) => s.msg.reason)).toEqual(['start', 'reannounce']);
    expect(seqsRise(watcher)).toBe(true);
    expect(watcher.invalid).toEqual([]);
  });

  it('graceful FreeSWITCH shutdown (SHUTDOWN 0.2-1 s after the command): left (freeswitch-shutdown); after restart: joined for the new Core-UUID', async () => {
    const { standin, watcher } = await setup({ shutdownDelayMs: undefined });
    const oldId = standin.coreUuid;
    await watcher.next('joined', (s) => s.kind === 'joined');

    await standin.shutdown();
    const left = await watcher.next('left', (s) => s.kind === 'left');
    expect(left.msg).toMatchObject({ nodeId: oldId, reason: 'freeswitch-shutdown' });

    await standin.restart();
    expect(standin.coreUuid).not.toBe(oldId);
    const rejoined = await watcher.next('joined for the new node', (s) => s.kind === 'joined' && s.msg.nodeId === standin.coreUuid);
    expect(rejoined.msg).toMatchObject({ reason: 'start', sipUri: standin.sipUri });
    await watcher.next('heartbeat of the new node', (s) => s.kind === 'heartbeat' && s.msg.nodeId === standin.coreUuid);

    const afterLeft = watcher.seen.slice(watcher.seen.indexOf(left) + 1);
    expect(afterLeft.some((s) => s.msg.nodeId === oldId)).toBe(false);
    expect(watcher.seen.filter((s) => s.kind === 'left').map((s) => watcher.label(s))).toEqual(['left:freeswitch-shutdown']);
    expect(seqsRise(watcher)).toBe(true);
  });

  it('FreeSWITCH killed: left (esl-lost) from the closed socket, not a probe timeout; nothing while away; restarted: joined for the new Core-UUID', async () => {
    // Probes would wait a minute and four failures would be needed: a `left` within the wait
    // below can only come from the socket closing.
    const { standin, watcher } = await setup({}, { eslTimeoutMs: 60_000, failedProbesBeforeLost: 4 });
    const oldId = standin.coreUuid;
    const beat = await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');

    await standin.kill();
    const left = await watcher.next('left', (s) => s.kind === 'left');
    expect(left.msg).toMatchObject({ nodeId: oldId, reason: 'esl-lost' });
    // Nothing was published between the last heartbeat and the left but heartbeats.
    const between = watcher.seen.slice(watcher.seen.indexOf(beat), watcher.seen.indexOf(left));
    expect(between.every((s) => s.kind === 'heartbeat')).toBe(true);
    // Several heartbeat intervals pass with FreeSWITCH away: nothing more is published.
    const count = watcher.seen.length;
    await new Promise((r) => setTimeout(r, 5 * HEARTBEAT_MS));
    expect(watcher.seen.length).toBe(count);

    await standin.restart();
    const rejoined = await watcher.next('joined for the new node', (s) => s.kind === 'joined' && s.msg.nodeId === standin.coreUuid);
    expect(rejoined.msg.nodeId).not.toBe(oldId);
    expect(watcher.seen.filter((s) => s.kind === 'left').map((s) => watcher.label(s))).toEqual(['left:esl-lost']);
    expect(seqsRise(watcher)).toBe(true);
  });

  it('socket lost, same FreeSWITCH back (same Core-UUID): left (esl-lost), then joined (start) again for the same node', async () => {
    const { standin, watcher } = await setup({}, { eslTimeoutMs: 60_000 });
    const id = standin.coreUuid;
    await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');
    await standin.kill();
    await watcher.next('left', (s) => s.kind === 'left');
    await standin.restart({ coreUuid: id });
    const mark = watcher.seen.length;
    await watcher.next('joined again', (s) => s.kind === 'joined', mark);
    await watcher.next('heartbeat again', (s) => s.kind === 'heartbeat', mark);
    expect(watcher.seen.map((s) => watcher.label(s)).filter((l) => l !== 'heartbeat')).toEqual(['joined:start', 'left:esl-lost', 'joined:start']);
    expect(new Set(watcher.seen.map((s) => s.msg.nodeId))).toEqual(new Set([id]));
    expect(seqsRise(watcher)).toBe(true);
  });

  it('FreeSWITCH still starting when the agent starts (event socket not open yet): joined once it is ready, once', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const standin = await launchStandin({ ...QUICK, eslReadyDelayMs: 1000 });
    cleanups.push(() => standin.stop());
    const watcher = await Watcher.open(prefix);
    await startAgent(standin, prefix);
    await standin.ready;
    const joined = await watcher.next('joined', (s) => s.kind === 'joined');
    expect(joined.msg).toMatchObject({ nodeId: standin.coreUuid, reason: 'start' });
    await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');
    expect(watcher.seen.filter((s) => s.kind !== 'heartbeat').map((s) => watcher.label(s))).toEqual(['joined:start']);
  });

  it('inbound calls paused or the SIP profile stopped by an operator: blockers published at once (an extra heartbeat), and a resume likewise', async () => {
    // A minute between ticks: within this test every heartbeat comes from a readiness change.
    const { standin, watcher } = await setup({ profileMinUptimeSec: 0 }, { heartbeatMs: 60_000, eslTimeoutMs: 2000 });
    await watcher.next('joined', (s) => s.kind === 'joined');
    const fsCli = await operator(standin);
    const after = async (command: string, what: string, blockers: string[]) => {
      const mark = watcher.seen.length;
      await fsCli.command(`api ${command}`, 'api/response');
      const beat = await watcher.next(what, (s) => s.kind === 'heartbeat', mark);
      expect(beat.msg).toMatchObject({ nodeId: standin.coreUuid, blockers, sipUri: standin.sipUri });
    };
    await after('fsctl pause inbound', 'heartbeat: paused', ['inbound-paused']);
    await after('sofia profile internal stop', 'heartbeat: profile down too', ['sip-profile-down', 'inbound-paused']);
    await after('fsctl resume inbound', 'heartbeat: only the profile', ['sip-profile-down']);
    // `sofia profile <name> start` returns before the profile runs (in FreeSWITCH as in the
    // stand-in), so its probe may not see it yet; the next tick does (the test below).
    expect(watcher.seen.map((s) => watcher.label(s))).toEqual(['joined:start', 'heartbeat', 'heartbeat', 'heartbeat']);
  });

  it('SIP profile stopped without an api command: the next tick heartbeat says sip-profile-down; started again: clear', async () => {
    const { standin, watcher } = await setup();
    await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');
    await standin.setProfileRunning(false);
    const down = await watcher.next('heartbeat with the profile down', (s) => s.kind === 'heartbeat' && (s.msg.blockers ?? []).length > 0);
    expect(down.msg.blockers).toEqual(['sip-profile-down']);
    await standin.setProfileRunning(true);
    const up = await watcher.next('heartbeat with the profile up', (s) => s.kind === 'heartbeat' && s.msg.blockers?.length === 0, watcher.seen.indexOf(down));
    expect(up.msg).toMatchObject({ nodeId: standin.coreUuid, sipUri: standin.sipUri });
    expect(watcher.seen.some((s) => s.kind === 'left')).toBe(false);
  });

  it('200 reannounce requests at once: two joined (reannounce), one at once and one at the end of the window; the rest counted', async () => {
    const { watcher, agent } = await setup({}, { reannounceMinIntervalMs: 2000 });
    await watcher.next('joined', (s) => s.kind === 'joined');
    for (let i = 0; i < 200; i++) watcher.reannounce({ v: 1, requestedAt: Date.now(), requester: `flood-${i}` });
    await watcher.nc.flush();
    const reannounced = () => watcher.seen.filter((s) => s.kind === 'joined' && s.msg.reason === 'reannounce').length;
    await waitFor('two reannounce answers', () => reannounced() === 2, WAIT_MS, 20);
    await waitFor('198 ignored', () => agent.status().ignoredReannounce === 198, WAIT_MS, 20);
    // Another window passes: no third answer.
    await new Promise((r) => setTimeout(r, 2500));
    expect(reannounced()).toBe(2);
  });

  it('NATS restarted under the agent: heartbeats resume on the same node', async () => {
    const { standin, watcher } = await setup();
    await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');
    if (!nats.restart) return; // an external NATS (TEST_NATS_URL) cannot be restarted here
    await nats.restart();
    const mark = watcher.seen.length;
    const resumed = await watcher.next('heartbeat after the NATS restart', (s) => s.kind === 'heartbeat', mark);
    expect(resumed.msg.nodeId).toBe(standin.coreUuid);
    expect(watcher.seen.some((s) => s.kind === 'left')).toBe(false);
  });

  it('the agent process: joins naming its SBC_MACHINE_ID, and on SIGTERM publishes left (agent-stopping) and exits 0', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const standin = await startStandin(QUICK);
    cleanups.push(() => standin.stop());
    const watcher = await Watcher.open(prefix);
    const proc = startProcess(process.execPath, ['--import', 'tsx', 'src/agent/main.ts'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        SBC_NATS_URL: nats.url,
        SBC_NATS_PREFIX: prefix,
        SBC_FS_ESL_PORT: String(standin.eslPort),
        SBC_FS_ESL_PASSWORD: standin.password,
        SBC_HEARTBEAT_MS: String(HEARTBEAT_MS),
        SBC_ESL_TIMEOUT_MS: String(ESL_TIMEOUT_MS),
        SBC_LOG_LEVEL: 'warn',
        SBC_MACHINE_ID: 'rack4-fs1',
      },
    });
    cleanups.push(() => proc.stop('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));

    const joined = await watcher.next(`joined (process output: ${proc.output()})`, (s) => s.kind === 'joined');
    const heartbeat = await watcher.next('heartbeat', (s) => s.kind === 'heartbeat');
    expect([joined.msg, heartbeat.msg]).toMatchObject([{ machineId: 'rack4-fs1' }, { machineId: 'rack4-fs1' }]);
    proc.child.kill('SIGTERM');
    const left = await watcher.next('left', (s) => s.kind === 'left');
    expect(left.msg).toMatchObject({ nodeId: standin.coreUuid, reason: 'agent-stopping' });
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), WAIT_MS))]);
    expect(code, proc.output()).toBe(0);
  });
});

describe('agent commands over NATS, answered from the FreeSWITCH stand-in', () => {
  it('status: the live facts of the stand-in, read when asked (an operator\'s pause shows at once)', async () => {
    const { standin, watcher } = await setup({ maxSessions: 50 }, { heartbeatMs: 60_000, eslTimeoutMs: 2000 });
    await watcher.next('joined', (s) => s.kind === 'joined');
    const first = await watcher.command(standin.coreUuid);
    expect(first).toMatchObject({
      ok: true,
      nodeId: standin.coreUuid,
      command: 'status',
      result: {
        coreUuid: standin.coreUuid,
        version: VERSION,
        ready: true,
        sessions: 0,
        maxSessions: 50,
        sipProfile: { name: 'internal', running: true, sipUri: standin.sipUri },
        inboundPaused: false,
        blockers: [],
      },
    });
    const fsCli = await operator(standin);
    await fsCli.command('api fsctl pause inbound', 'api/response');
    const paused = await watcher.command(standin.coreUuid);
    expect(paused.ok && paused.result).toMatchObject({ inboundPaused: true, blockers: ['inbound-paused'] });
    // Uptime is FreeSWITCH's own, and it moves on between two readings.
    expect(first.ok && paused.ok && paused.result.uptimeMs >= first.result.uptimeMs).toBe(true);
  });

  it('refuses a request naming another node (wrong-node) and an unknown command (unknown-command)', async () => {
    const { standin, watcher } = await setup({}, { heartbeatMs: 60_000 });
    await watcher.next('joined', (s) => s.kind === 'joined');
    const other = '00000000-0000-4000-8000-000000000009';
    expect(await watcher.command(standin.coreUuid, 'status', other)).toEqual({
      v: 1,
      id: expect.any(String) as unknown,
      nodeId: standin.coreUuid,
      ok: false,
      error: { code: 'wrong-node', message: `this agent serves node ${standin.coreUuid}, not ${other}` },
    });
    expect(await watcher.command(standin.coreUuid, 'reboot')).toMatchObject({
      ok: false,
      nodeId: standin.coreUuid,
      error: { code: 'unknown-command', message: 'unknown command "reboot"; this agent takes status' },
    });
  });

  it('after a FreeSWITCH restart: answers on the new node id\'s subject with the new facts; nobody listens on the old one', async () => {
    const { standin, watcher } = await setup({ shutdownDelayMs: 0 });
    const oldId = standin.coreUuid;
    await watcher.next('joined', (s) => s.kind === 'joined');
    expect(await watcher.command(oldId)).toMatchObject({ ok: true, result: { coreUuid: oldId } });
    await standin.restart();
    await watcher.next('joined for the new node', (s) => s.kind === 'joined' && s.msg.nodeId === standin.coreUuid);
    expect(await watcher.command(standin.coreUuid)).toMatchObject({ ok: true, nodeId: standin.coreUuid, result: { coreUuid: standin.coreUuid } });
    await expect(watcher.command(oldId)).rejects.toThrow(/no responders/);
  });
});
