import { errors, type Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import type { StatusResult } from '../../../src/events/commands.js';
import { subjects } from '../../../src/events/subjects.js';
import { AgentCommandRefusedError, AgentCommandTimeoutError, NatsAgentCommands } from '../../../src/nats/agentCommands.js';

const s = subjects('sbc');
const id = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
const result: StatusResult = {
  coreUuid: id,
  version: '1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit',
  uptimeMs: 5164,
  ready: true,
  sessions: 2,
  maxSessions: 1000,
  sessionsSinceStartup: 7,
  sessionsPeak: 3,
  sipProfile: { name: 'internal', running: true, sipUri: 'sip:127.0.0.1:5080' },
  inboundPaused: false,
  blockers: [],
  readAt: 5,
};

/** A NATS connection whose only request answers with `answer` (or fails with it), recording what was asked. */
function requester(answer: (request: Record<string, unknown>) => unknown) {
  const asked: Array<{ subject: string; body: Record<string, unknown>; timeout: number | undefined }> = [];
  const nats = {
    request(subject: string, payload?: unknown, opts?: { timeout?: number }): Promise<Msg> {
      const body = JSON.parse(new TextDecoder().decode(payload as Uint8Array)) as Record<string, unknown>;
      asked.push({ subject, body, timeout: opts?.timeout });
      // What `answer` throws becomes the rejection, as the client's own errors are.
      return Promise.resolve(body).then((b) => {
        const reply = answer(b);
        return { data: new TextEncoder().encode(typeof reply === 'string' ? reply : JSON.stringify(reply)) } as Msg;
      });
    },
  };
  const commands = new NatsAgentCommands({ nats, subjects: s, timeoutMs: 1500, newId: () => 'req-1', now: () => 42 });
  return { commands, asked };
}

const ok = (req: Record<string, unknown>) => ({ v: 1, id: req.id, nodeId: id, ok: true, command: 'status', result });

describe('agent commands: the control plane\'s requester', () => {
  it('asks on the node\'s command subject with a valid request and the timeout; returns the result', async () => {
    const { commands, asked } = requester(ok);
    expect(await commands.status(id)).toEqual(result);
    expect(asked).toEqual([{ subject: `sbc.cmd.${id}`, body: { v: 1, id: 'req-1', nodeId: id, command: 'status', sentAt: 42 }, timeout: 1500 }]);
  });

  it('no answer in time, or nobody listening: AgentCommandTimeoutError saying which', async () => {
    const timeout = requester(() => {
      throw new errors.TimeoutError();
    });
    const late = await timeout.commands.status(id).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(AgentCommandTimeoutError);
    expect(late).toMatchObject({ reason: 'no-answer', nodeId: id, message: `the agent of node ${id} did not answer status within 1500 ms` });
    const nobody = requester(() => {
      throw new errors.RequestError('no responders', { cause: new errors.NoRespondersError(`sbc.cmd.${id}`) });
    });
    expect(await nobody.commands.status(id).catch((e: unknown) => e)).toMatchObject({ name: 'AgentCommandTimeoutError', reason: 'no-responders' });
  });

  it('an error reply: AgentCommandRefusedError with the agent\'s code and message', async () => {
    const { commands } = requester((req) => ({ v: 1, id: req.id, nodeId: id, ok: false, error: { code: 'not-ready', message: 'node is not announced now' } }));
    const err = await commands.status(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentCommandRefusedError);
    expect(err).toMatchObject({ code: 'not-ready', detail: 'node is not announced now' });
  });

  it('a reply that is not valid, answers another request or speaks for another node: invalid-reply', async () => {
    const cases: Array<[string, (req: Record<string, unknown>) => unknown, RegExp]> = [
      ['not JSON', () => '{', /^json: /],
      ['not the schema', (req) => ({ ...ok(req), result: { ...result, sessions: 'two' } }), /^schema: /],
      ['another request id', (req) => ({ ...ok(req), id: 'req-0' }), /answers request req-0, not req-1/],
      ['another node', (req) => ({ ...ok(req), nodeId: '00000000-0000-4000-8000-000000000001' }), /for node 00000000-/],
    ];
    for (const [what, answer, detail] of cases) {
      const err = await requester(answer).commands.status(id).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(AgentCommandRefusedError);
      expect((err as AgentCommandRefusedError).code, what).toBe('invalid-reply');
      expect((err as AgentCommandRefusedError).detail, what).toMatch(detail);
    }
  });

  it('any other failure (a closed connection) is passed on as it is', async () => {
    const closed = new errors.ClosedConnectionError();
    const err = await requester(() => {
      throw closed;
    }).commands.status(id).catch((e: unknown) => e);
    expect(err).toBe(closed);
  });
});
