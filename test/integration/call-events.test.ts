import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../src/agent/agent.js';
import { jetStreamPublisher } from '../../src/agent/callEvents.js';
import { openFreeSwitchLink } from '../../src/agent/esl.js';
import { connectNats, natsBus } from '../../src/agent/nats.js';
import { decodeNodeChannel, subjects, type NodeChannel } from '../../src/events/index.js';
import { AGENT_INBOX_PREFIX } from '../../src/nats/auth.js';
import { callsStreamName, ensureCallsStream, natsJetStreamRequests, readJsAnswer, type JetStreamRequests } from '../../src/nats/callsStream.js';
import { QUICK } from '../standin/fixture.js';
import { startStandin, type Standin } from '../standin/standin.js';
import { SipTestUac } from '../standin/test-clients.js';
import { waitFor } from '../support/process.js';
import { startNats, type NatsService } from '../support/services.js';

/**
 * Call events end to end: a real nats-server with JetStream, the calls stream as the control
 * plane creates it, the FreeSWITCH stand-in's calls, and the real agent publishing with ack.
 */
const quiet = pino({ level: process.env.TEST_AGENT_LOG ?? 'silent' });
const WAIT_MS = 15_000;

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

interface Stored {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly msg: NodeChannel;
}

/** Every message of the stream, read one by one through the JetStream API (STREAM.MSG.GET). */
async function readStream(js: JetStreamRequests, prefix: string): Promise<Stored[]> {
  const name = callsStreamName(prefix);
  const info = readJsAnswer('info', await js.request(`$JS.API.STREAM.INFO.${name}`, new Uint8Array(0), { timeoutMs: 3000 }));
  const last = Number((info.state as Record<string, unknown>).last_seq ?? 0);
  const out: Stored[] = [];
  const s = subjects(prefix);
  for (let seq = 1; seq <= last; seq++) {
    const got = readJsAnswer('get', await js.request(`$JS.API.STREAM.MSG.GET.${name}`, new TextEncoder().encode(JSON.stringify({ seq })), { timeoutMs: 3000 }));
    const m = got.message as { subject: string; data?: string; hdrs?: string };
    const hdrs = m.hdrs ? Buffer.from(m.hdrs, 'base64').toString() : '';
    const decoded = decodeNodeChannel(s, m.subject, Buffer.from(m.data ?? '', 'base64'));
    if (!decoded.ok) throw new Error(`stream message ${seq}: ${decoded.reason} ${decoded.detail}`);
    out.push({ subject: m.subject, msgId: /^Nats-Msg-Id:\s*(\S+)/im.exec(hdrs)?.[1], msg: decoded.value });
  }
  return out;
}

async function setup(opts: { bufferSize?: number } = {}): Promise<{ prefix: string; js: JetStreamRequests; standin: Standin; agent: Agent }> {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const cp: NatsConnection = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  cleanups.push(() => cp.close());
  const js = natsJetStreamRequests(cp);
  expect(await ensureCallsStream(js, prefix)).toMatchObject({ action: 'created' });
  const standin = await startStandin({ ...QUICK });
  cleanups.push(() => standin.stop());
  const nc = await connectNats(nats.url, 'agent-under-test', quiet, undefined, { inboxPrefix: AGENT_INBOX_PREFIX });
  const agent = createAgent(
    {
      natsPrefix: prefix, sipProfile: 'internal', sipUriOverride: undefined, heartbeatMs: 200, sessionRecheckMs: 1000, eslTimeoutMs: 150,
      callEvents: { enabled: true, bufferSize: opts.bufferSize ?? 10_000, maxInFlight: 16, ackTimeoutMs: 1000 },
    },
    {
      openLink: () => openFreeSwitchLink({ host: '127.0.0.1', port: standin.eslPort, password: standin.password, logger: quiet }),
      bus: natsBus(nc),
      calls: jetStreamPublisher(natsJetStreamRequests(nc)),
      logger: quiet,
    },
  );
  cleanups.push(() => nc.close());
  cleanups.push(() => agent.stop('test cleanup'));
  await agent.start();
  await waitFor('node announced', () => agent.status().phase === 'up', WAIT_MS, 20);
  return { prefix, js, standin, agent };
}

/** One call answered and hung up by the caller; its Call-ID. */
async function call(standin: Standin, dest: string, headers: string[] = []): Promise<string> {
  const u = await SipTestUac.open(standin.sipPort, dest);
  try {
    u.invite(headers);
    await u.response(200);
    u.ack();
    u.bye();
    await u.response(200, 'BYE');
    return u.callId;
  } finally {
    u.close();
  }
}

const eventsOf = (stored: readonly Stored[], callId: string) => stored.filter((s) => s.msg.callId === callId).map((s) => s.msg.event);

describe('call events into the calls stream', () => {
  it('each channel edge of each call is in the stream once, with its Nats-Msg-Id, Call-ID and Kamailio headers', async () => {
    const { prefix, js, standin, agent } = await setup();
    const tone = await call(standin, '9000');
    const room = await call(standin, '3000', ['X-SBC-Room: 3000', 'X-SBC-Decision: kam-a.17']);
    const nodeId = standin.coreUuid;
    await waitFor('every event acknowledged', () => agent.status().callEvents?.acked === 6 && agent.status().callEvents?.buffered === 0, WAIT_MS, 20);
    const stored = await readStream(js, prefix);
    expect(stored.map((s) => s.msgId)).toEqual(stored.map((s) => `${nodeId}:${s.msg.uuid}:${s.msg.event}:${s.msg.atUs}`));
    expect(new Set(stored.map((s) => s.msgId)).size).toBe(stored.length);
    expect(stored.every((s) => s.subject === subjects(prefix).channel(nodeId))).toBe(true);
    expect(eventsOf(stored, tone)).toEqual(['create', 'answer', 'hangup']);
    expect(eventsOf(stored, room)).toEqual(['create', 'answer', 'hangup']);
    const toneUuid = standin.calls.find((c) => c.callId === tone)?.uuid;
    const hangup = stored.find((s) => s.msg.callId === tone && s.msg.event === 'hangup')?.msg;
    expect(hangup).toMatchObject({ nodeId, uuid: toneUuid, direction: 'inbound', callee: '9000', cause: 'NORMAL_CLEARING', callUuid: toneUuid });
    const roomEvents = stored.filter((s) => s.msg.callId === room).map((s) => s.msg);
    expect(roomEvents.every((m) => m.decision === 'kam-a.17' && m.room === '3000')).toBe(true);
    expect(agent.status().callEvents).toMatchObject({ published: 6, acked: 6, dropped: 0, refused: 0 });
  });

  it('NATS killed mid-calls and back 1.5 s later: every event is in the stream exactly once, none dropped', async () => {
    const restart = nats.restart?.bind(nats);
    expect(restart, 'needs a restartable private nats-server').toBeDefined();
    const { prefix, js, standin, agent } = await setup();
    const before = [await call(standin, '9000'), await call(standin, '9001')];
    const outage = restart!(1500);
    // Calls while the server is away: their events wait in the agent's buffer.
    const during: string[] = [];
    for (let i = 0; i < 3; i++) during.push(await call(standin, `900${i + 2}`));
    await outage;
    const after = [await call(standin, '9009')];
    const all = [...before, ...during, ...after];
    await waitFor('every event acknowledged', () => agent.status().callEvents?.acked !== undefined && agent.status().callEvents!.buffered === 0 && agent.status().callEvents!.published === all.length * 3, 30_000, 50);
    const stored = await readStream(js, prefix);
    const ids = stored.map((s) => s.msgId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(stored).toHaveLength(all.length * 3);
    for (const c of all) expect(eventsOf(stored, c).sort(), c).toEqual(['answer', 'create', 'hangup']);
    const counts = agent.status().callEvents!;
    expect(counts.dropped).toBe(0);
    expect(counts.published).toBe(all.length * 3);
    // The outage made the agent hold and re-send.
    expect(counts.retried).toBeGreaterThan(0);
  });
});
