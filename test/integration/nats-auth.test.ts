import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { migrate } from '../../src/postgres/migrations.js';
import { writeCredentials, type CredentialFiles } from '../../src/tools/nats-credentials.js';
import { jetStreamPublisher } from '../../src/agent/callEvents.js';
import { subjects } from '../../src/events/subjects.js';
import { AGENT_INBOX_PREFIX } from '../../src/nats/auth.js';
import { callsStreamMessages, callsStreamName, ensureCallsStream, natsJetStreamRequests } from '../../src/nats/callsStream.js';
import { freePort } from '../support/ports.js';
import { startProcess, waitFor, type RunningProcess } from '../support/process.js';
import { createPostgresDatabase, startRedis, type Service } from '../support/services.js';
import { VERSION } from '../standin/api.js';
import { startStandin, type Standin } from '../standin/standin.js';

/**
 * A private nats-server configured exactly as README tells operators to: the authorization
 * block `nats-credentials` writes, included from the server config, and nothing else.
 */
describe('NATS least privilege (private nats-server with the generated authorization)', () => {
  const prefix = 'sbc';
  let dir: string;
  let files: CredentialFiles;
  let server: RunningProcess;
  let url: string;
  const open: NatsConnection[] = [];

  const seed = (file: string) => new TextEncoder().encode(readFileSync(file, 'utf8').trim());
  const as = async (file: string, opts: { inboxPrefix?: string } = {}) => {
    const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(seed(file)), maxReconnectAttempts: 0, ...opts });
    open.push(nc);
    return nc;
  };
  /** The next permission error the server reports on this connection (or undefined). */
  const nextError = async (nc: NatsConnection, ms = 2000): Promise<string | undefined> => {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), ms));
    const error = (async () => {
      for await (const s of nc.status()) if (s.type === 'error') return String(s.error);
      return undefined;
    })();
    return Promise.race([error, timeout]);
  };
  const received = (nc: NatsConnection, subject: string, queue?: string) => {
    const got: string[] = [];
    nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (_e, m) => {
        got.push(m.subject);
      },
    });
    return got;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-nats-auth-'));
    files = writeCredentials({ dir, prefix, agents: ['fs1', 'fs2'] });
    const port = await freePort();
    // JetStream on, for the calls stream.
    writeFileSync(join(dir, 'nats-server.conf'), `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }\ninclude auth.conf\n`);
    server = startProcess('nats-server', ['-c', join(dir, 'nats-server.conf')]);
    url = `nats://127.0.0.1:${port}`;
    await waitFor('nats-server with authorization', async () => {
      try {
        await (await as(files.controlPlane)).close();
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  });

  afterAll(async () => {
    await Promise.allSettled(open.map((nc) => nc.close()));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client without credentials, and one whose key is not listed', async () => {
    await expect(connect({ servers: url, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
    const stranger = createUser().getSeed();
    await expect(connect({ servers: url, authenticator: nkeyAuthenticator(stranger), maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
  });

  it('an agent publishes node messages and hears reannounce requests, nothing else', async () => {
    const cp = await as(files.controlPlane);
    const agent = await as(files.agents.fs1 as string);
    const atControlPlane = received(cp, `${prefix}.node.*.*`, 'sbc-control-plane');
    const atAgent = received(agent, `${prefix}.control.reannounce`);
    await cp.flush();
    await agent.flush();

    agent.publish(`${prefix}.node.00000000-0000-4000-8000-000000000001.heartbeat`, '{}');
    cp.publish(`${prefix}.control.reannounce`, '{}');
    await agent.flush();
    await cp.flush();
    await waitFor('both delivered', () => atControlPlane.length === 1 && atAgent.length === 1, 3000);

    // An agent may not speak for the control plane...
    const denied = nextError(agent);
    agent.publish(`${prefix}.control.reannounce`, '{}');
    expect(await denied).toMatch(/Permissions Violation for Publish to "sbc\.control\.reannounce"/);
    // ...nor read other nodes' messages.
    const a2 = await as(files.agents.fs2 as string);
    const subDenied = nextError(a2);
    a2.subscribe(`${prefix}.node.*.*`, { callback: () => undefined });
    expect(await subDenied).toMatch(/Permissions Violation for Subscription to "sbc\.node\.\*\.\*"/);
    expect(atAgent).toHaveLength(1);
  });

  it('the control plane reads node messages only in its queue group, and cannot forge a node', async () => {
    const cp = await as(files.controlPlane);
    const plain = nextError(cp);
    cp.subscribe(`${prefix}.node.*.*`, { callback: () => undefined });
    expect(await plain).toMatch(/Permissions Violation for Subscription to "sbc\.node\.\*\.\*"/);

    const cp2 = await as(files.controlPlane);
    const atControlPlane = received(cp2, `${prefix}.node.*.*`, 'sbc-control-plane');
    await cp2.flush();
    const forged = nextError(cp2);
    cp2.publish(`${prefix}.node.00000000-0000-4000-8000-000000000002.joined`, '{}');
    expect(await forged).toMatch(/Permissions Violation for Publish to "sbc\.node\./);
    expect(atControlPlane).toEqual([]);
  });

  it('a Kamailio (user and password, as its nats module connects) publishes and hears pins only; the control plane hears them in its queue group', async () => {
    const password = readFileSync(files.kamailio, 'utf8').trim();
    const kam = await connect({ servers: url, user: 'kamailio', pass: password, maxReconnectAttempts: 0 });
    open.push(kam);
    await expect(connect({ servers: url, user: 'kamailio', pass: 'wrong-password-123', maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
    const cp = await as(files.controlPlane);
    const atControlPlane = received(cp, `${prefix}.kamailio.pins`, 'sbc-control-plane');
    const atOtherKamailio = received(kam, `${prefix}.kamailio.pins`, 'kam-b');
    await cp.flush();
    await kam.flush();
    kam.publish(`${prefix}.kamailio.pins`, '{}');
    await kam.flush();
    await waitFor('pin delivered to both', () => atControlPlane.length === 1 && atOtherKamailio.length === 1, 3000);
    const denied = nextError(kam);
    kam.publish(`${prefix}.node.00000000-0000-4000-8000-000000000001.joined`, '{}');
    expect(await denied).toMatch(/Permissions Violation for Publish to "sbc\.node\./);
    // An agent cannot forge a pin.
    const agent = await as(files.agents.fs1 as string);
    const forged = nextError(agent);
    agent.publish(`${prefix}.kamailio.pins`, '{}');
    expect(await forged).toMatch(/Permissions Violation for Publish to "sbc\.kamailio\.pins"/);
  });

  it('calls stream: the control plane creates it; an agent publishes a channel event with ack, not a route decision; a Kamailio a route decision, not a channel event', async () => {
    const cp = await as(files.controlPlane);
    const js = natsJetStreamRequests(cp);
    expect((await ensureCallsStream(js, prefix)).action).toMatch(/created|unchanged/);
    const before = await callsStreamMessages(js, prefix);
    const s = subjects(prefix);
    const nodeId = '00000000-0000-4000-8000-000000000005';

    // The agent's PubAck comes to its own inboxes.
    const agent = await as(files.agents.fs1 as string, { inboxPrefix: AGENT_INBOX_PREFIX });
    const publisher = jetStreamPublisher(natsJetStreamRequests(agent));
    const ack = await publisher.publish(s.channel(nodeId), new TextEncoder().encode('{}'), `${nodeId}:1`, 3000);
    expect(ack).toMatchObject({ stream: callsStreamName(prefix), duplicate: false });
    // The same message id again: acknowledged as a duplicate, not stored twice.
    expect(await publisher.publish(s.channel(nodeId), new TextEncoder().encode('{}'), `${nodeId}:1`, 3000)).toMatchObject({ seq: ack.seq, duplicate: true });
    const routeDenied = nextError(agent);
    agent.publish(s.kamailioRoute('kam-a'), '{}');
    expect(await routeDenied).toMatch(/Permissions Violation for Publish to "sbc\.calls\.kamailio\.kam-a\.route"/);

    const password = readFileSync(files.kamailio, 'utf8').trim();
    const kam = await connect({ servers: url, user: 'kamailio', pass: password, maxReconnectAttempts: 0 });
    open.push(kam);
    kam.publish(s.kamailioRoute('kam-a'), '{"v":1}');
    await kam.flush();
    const channelDenied = nextError(kam);
    kam.publish(s.channel(nodeId), '{}');
    expect(await channelDenied).toMatch(/Permissions Violation for Publish to "sbc\.calls\.node\./);
    // In the stream: the agent's event once and the Kamailio's decision.
    await waitFor('two messages in the stream', async () => (await callsStreamMessages(js, prefix)) === before + 2, 3000);
    // A Kamailio cannot use the JetStream API.
    const apiDenied = nextError(kam);
    kam.publish(`$JS.API.STREAM.INFO.${callsStreamName(prefix)}`, '');
    expect(await apiDenied).toMatch(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.INFO/);
  });

  it('the control plane asks one agent a command and gets its answer; the agent answers only requests it received', async () => {
    const cp = await as(files.controlPlane);
    const agent = await as(files.agents.fs1 as string);
    const nodeId = '00000000-0000-4000-8000-000000000003';
    let replyTo = '';
    agent.subscribe(`${prefix}.cmd.${nodeId}`, {
      callback: (_e, m) => {
        replyTo = m.reply ?? '';
        m.respond('answer');
      },
    });
    await agent.flush();
    const answer = await cp.request(`${prefix}.cmd.${nodeId}`, 'status?', { timeout: 3000 });
    expect(answer.string()).toBe('answer');
    expect(replyTo).toMatch(/^_INBOX\./);

    // One reply per request: a second one to the same inbox is refused...
    const again = nextError(agent);
    agent.publish(replyTo, 'second answer');
    expect(await again).toMatch(/Permissions Violation for Publish to "_INBOX\./);
    // ...and so is a "reply" to an inbox no request named.
    const forged = nextError(agent);
    agent.publish('_INBOX.FORGED.1', 'forged answer');
    expect(await forged).toMatch(/Permissions Violation for Publish to "_INBOX\.FORGED\.1"/);
  });

  it('an agent cannot send a command to another agent, nor read anyone\'s replies', async () => {
    const target = await as(files.agents.fs2 as string);
    const commands = received(target, `${prefix}.cmd.*`);
    await target.flush();
    const agent = await as(files.agents.fs1 as string);
    const denied = nextError(agent);
    agent.publish(`${prefix}.cmd.00000000-0000-4000-8000-000000000004`, '{}');
    expect(await denied).toMatch(/Permissions Violation for Publish to "sbc\.cmd\.00000000-0000-4000-8000-000000000004"/);
    // Nor through a request of its own (it may not subscribe to an inbox for the answer).
    const a2 = await as(files.agents.fs1 as string);
    const inbox = nextError(a2);
    a2.subscribe('_INBOX.>', { callback: () => undefined });
    expect(await inbox).toMatch(/Permissions Violation for Subscription to "_INBOX\.>"/);
    await target.flush();
    expect(commands).toEqual([]);
    // Its wildcard would take the later tests' commands.
    await target.close();
  });

  describe('the shipped programs, each with its own key', () => {
    let db: Service;
    let redis: Service;
    let control: ControlPlane;
    let fs: Standin;
    let agent: RunningProcess;

    beforeAll(async () => {
      [db, redis] = await Promise.all([createPostgresDatabase(), startRedis()]);
      const pool = new pg.Pool({ connectionString: db.url });
      await migrate(pool);
      await pool.end();
      const config = loadControlPlaneConfig({
        SBC_NATS_URL: url,
        SBC_NATS_NKEY_FILE: files.controlPlane,
        SBC_REDIS_URL: redis.url,
        SBC_PG_URL: db.url,
        SBC_KAMAILIO_RPC_URLS: `http://127.0.0.1:${await freePort()}/RPC`,
        SBC_API_AUTH: 'off',
      });
      control = await startControlPlane(config, pino({ level: 'silent' }));
      fs = await startStandin({ toneMs: 0, eslReadyDelayMs: 0 });
      agent = startProcess(process.execPath, ['--import', 'tsx', 'src/agent/main.ts'], {
        env: {
          PATH: process.env.PATH,
          SBC_NATS_URL: url,
          SBC_NATS_NKEY_FILE: files.agents.fs1 as string,
          SBC_FS_ESL_PORT: String(fs.eslPort),
          SBC_FS_ESL_PASSWORD: fs.password,
          SBC_HEARTBEAT_MS: '500',
          SBC_ESL_TIMEOUT_MS: '400',
          SBC_LOG_LEVEL: 'warn',
        },
      });
    });

    afterAll(async () => {
      await agent?.stop();
      await fs?.stop();
      await control?.stop();
      await Promise.allSettled([redis?.stop(), db?.stop()]);
    });

    it('an agent announces its node to the control plane through the authorised server', async () => {
      await waitFor('node registered', async () => (await control.registry.get(fs.coreUuid)) !== undefined, 20_000);
      expect(await control.registry.get(fs.coreUuid)).toMatchObject({ sipUri: fs.sipUri, state: expect.stringMatching(/joining|active/) as unknown });
      expect(agent.output()).not.toMatch(/Permissions Violation|Authorization Violation/);
    });

    it('end to end: GET /v1/nodes/{id}/status returns the stand-in\'s live facts, asked of the agent process through the authorised server', async () => {
      await waitFor('node registered', async () => (await control.registry.get(fs.coreUuid)) !== undefined, 20_000);
      const res = await control.app.inject(`/v1/nodes/${fs.coreUuid}/status`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({
        nodeId: fs.coreUuid,
        coreUuid: fs.coreUuid,
        version: VERSION,
        ready: true,
        sessions: 0,
        maxSessions: 1000,
        sipProfile: { name: 'internal', running: true, sipUri: fs.sipUri },
        inboundPaused: false,
        blockers: [],
        readAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      });
      // A node no agent serves: nobody listens on its subject, which NATS says at once (no responders).
      await expect(control.agents.status('00000000-0000-4000-8000-0000000000aa')).rejects.toMatchObject({ name: 'AgentCommandTimeoutError', reason: 'no-responders' });
      expect(agent.output()).not.toMatch(/Permissions Violation|Authorization Violation/);
    });

    it('an agent without a key never gets in, and says so', async () => {
      const keyless = startProcess(process.execPath, ['--import', 'tsx', 'src/agent/main.ts'], {
        env: { PATH: process.env.PATH, SBC_NATS_URL: url, SBC_FS_ESL_PORT: String(fs.eslPort), SBC_FS_ESL_PASSWORD: fs.password, SBC_LOG_LEVEL: 'info' },
      });
      try {
        await waitFor('the refusal', () => /Authorization Violation/i.test(keyless.output()), 15_000);
      } finally {
        await keyless.stop();
      }
    });
  });
});
