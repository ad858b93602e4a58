import { afterEach, describe, expect, it } from 'vitest';
import { AgentCommandRefusedError, AgentCommandTimeoutError } from '../../../src/nats/agentCommands.js';
import { node } from '../core/fixtures.js';
import { liveStatus, testApp, type TestApp } from './harness.js';

const id = node(1).nodeId;
const unknown = '11111111-1111-4111-8111-111111111111';

describe('GET /v1/nodes/{nodeId}/status', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  it('answers with the live facts the node\'s agent read, its read time as ISO', async () => {
    t = await testApp();
    const res = await t.app.inject(`/v1/nodes/${id}/status`);
    expect(res.statusCode).toBe(200);
    const { readAt: _ms, ...facts } = liveStatus(id);
    expect(res.json()).toEqual({ nodeId: id, ...facts, readAt: '2026-12-01T12:00:00.000Z' });
    expect(t.agents.asked).toEqual([id]);
  });

  it('a node the registry does not know is 404, and no agent is asked; a malformed id is 400', async () => {
    t = await testApp();
    const res = await t.app.inject(`/v1/nodes/${unknown}/status`);
    expect([res.statusCode, res.json<unknown>()]).toEqual([404, { error: 'not-found', message: `no node ${unknown}` }]);
    expect((await t.app.inject('/v1/nodes/not-a-uuid/status')).statusCode).toBe(400);
    expect(t.agents.asked).toEqual([]);
  });

  it('no answer in time is 504 agent-timeout; an error reply is 502 agent-error; each says why', async () => {
    t = await testApp();
    t.agents.answers.set(id, new AgentCommandTimeoutError(id, 'status', 'no-answer', 3000));
    const late = await t.app.inject(`/v1/nodes/${id}/status`);
    expect([late.statusCode, late.json<unknown>()]).toEqual([
      504,
      { error: 'agent-timeout', message: `the agent of node ${id} did not answer status within 3000 ms`, requestId: 'req-1' },
    ]);
    t.agents.answers.set(id, new AgentCommandRefusedError(id, 'status', 'not-ready', `node ${id} is not announced now`));
    const refused = await t.app.inject(`/v1/nodes/${id}/status`);
    expect([refused.statusCode, refused.json<unknown>()]).toEqual([
      502,
      { error: 'agent-error', message: `the agent of node ${id} could not answer status: not-ready: node ${id} is not announced now`, requestId: 'req-2' },
    ]);
  });

  it('any other failure is 500 internal, its message kept in the log', async () => {
    t = await testApp();
    t.agents.answers.set(id, new Error('NATS connection closed (secret detail)'));
    const res = await t.app.inject(`/v1/nodes/${id}/status`);
    expect([res.statusCode, res.json<unknown>()]).toEqual([500, { error: 'internal', message: 'internal error; see the control plane log', requestId: 'req-1' }]);
  });

  it('is in the OpenAPI document, and answers GET and HEAD only', async () => {
    t = await testApp();
    const doc = (await t.app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(doc.paths['/v1/nodes/{nodeId}/status'] ?? {})).toEqual(['get']);
    expect((await t.app.inject({ method: 'HEAD', url: `/v1/nodes/${id}/status` })).statusCode).toBe(200);
    const post = await t.app.inject({ method: 'POST', url: `/v1/nodes/${id}/status` });
    expect([post.statusCode, post.headers.allow]).toEqual([405, 'GET, HEAD']);
  });
});
