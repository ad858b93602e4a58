import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { subjects } from '../../src/events/subjects.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { controlPlaneServiceEnv, startMigratedServices, type Service } from '../support/services.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { StandinPool, type PoolMachine } from '../support/standinPool.js';

/** Debian's chromium (install-deps installs it); playwright-core drives it, no browser of its own is downloaded. */
const CHROMIUM = process.env.TEST_CHROMIUM_BIN ?? '/usr/bin/chromium';
/**
 * Where the screenshots go: README's docs/images/ with SBC_UPDATE_SCREENSHOTS=1, else a
 * temporary folder (they are taken either way; a plain test run leaves the checkout clean).
 */
const UPDATE_SCREENSHOTS = process.env.SBC_UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS = UPDATE_SCREENSHOTS ? new URL('../../docs/images/', import.meta.url).pathname : mkdtempSync(join(tmpdir(), 'sbc-console-shots-'));
/** Every wait on the page is bounded by this (the page polls every 2 s). */
const PAGE_WAIT_MS = 15_000;

interface NodeView { nodeId: string; sipUri: string; hostname: string; state: string; sessions: number; capacity: number }
interface Leg { uuid: string; nodeId: string; callId?: string }

/**
 * The operator console in a real browser: headless Chromium driven by playwright-core opens
 * /ui on a control plane with API tokens on (a bootstrap secret, and read and operate tokens
 * made through POST /v1/tokens), real Redis, Postgres, NATS and Kamailio, two FreeSWITCH
 * stand-ins with the shipped agents, sipp callers. What the page shows is checked against what
 * the API answers; a drain clicked on the page is checked in the API and in Kamailio.
 */
describe('the operator console in Chromium (tokens on, Kamailio, agents, stand-ins)', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let cp: ControlPlane;
  let machines: StandinPool;
  let browser: Browser;
  let page: Page;
  let base: string;
  const prefix = `ui${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sbc-console-it-'));
  const bootstrap = randomBytes(24).toString('hex');
  const calls: Promise<UacResult>[] = [];
  const pageErrors: string[] = [];
  const cspViolations: string[] = [];
  const token = { read: '', operate: '' };
  /** The Call-ID of the call the first test places and the stand-in bridges to a second leg. */
  let bridgedCallId = '';

  /** The API over HTTP, as the page calls it. */
  const apiGet = async <T>(path: string, bearer = token.read): Promise<T> => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${bearer}` }, signal: AbortSignal.timeout(10_000) });
    expect([path, res.status]).toEqual([path, 200]);
    return (await res.json()) as T;
  };
  const nodeOf = async (m: PoolMachine) => (await apiGet<{ nodes: NodeView[] }>('/v1/nodes')).nodes.find((n) => n.sipUri === m.fs.sipUri && n.state !== 'gone')!;
  const row = (nodeId: string) => page.locator(`#nodes tr[data-node-id="${nodeId}"]`);
  const text = async (selector: string) => (await page.locator(selector).textContent({ timeout: PAGE_WAIT_MS })) ?? '';
  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, name), timeout: PAGE_WAIT_MS });
  const useToken = async (value: string) => {
    await page.fill('#token', value);
    await page.click('#token-form button[type=submit]');
  };

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    // Kamailio publishes its routing decisions, so the trace view has them beside the legs.
    k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000, env: { SBC_NATS_URL: nats.url, SBC_KAMAILIO_ID: 'kam-ui', SBC_NATS_ROUTE_SUBJECT: subjects(prefix).kamailioRoute('kam-ui') } });
    const bootstrapFile = join(dir, 'bootstrap-token');
    writeFileSync(bootstrapFile, `${bootstrap}\n`, { mode: 0o600 });
    cp = await startControlPlane(
      loadControlPlaneConfig({
        ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
        SBC_RELOAD_DELTA_MS: '1000',
        SBC_RESYNC_MS: '2000',
        SBC_API_AUTH: 'on',
        SBC_API_BOOTSTRAP_TOKEN_FILE: bootstrapFile,
      }),
      pino({ level: 'silent' }),
    );
    base = await cp.app.listen({ host: '127.0.0.1', port: 0 });
    machines = await StandinPool.start({ natsUrl: nats.url, prefix });
    await Promise.all([machines.startMachine(), machines.startMachine()]);
    await waitFor('both nodes selectable', async () => (await selectableUris(k1, 1)).length === 2, 20_000);
    await waitFor('the control plane leads', () => cp.election.isLeader(), 10_000);

    // Real tokens, made the way an operator makes them: POST /v1/tokens with the bootstrap secret.
    for (const scope of ['read', 'operate'] as const) {
      const res = await fetch(`${base}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `console-${scope}`, scopes: [scope] }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(201);
      token[scope] = ((await res.json()) as { token: string }).token;
    }

    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [], timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(PAGE_WAIT_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.allSettled(calls);
    await machines?.stop();
    await cp?.stop();
    await k1?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
    rmSync(dir, { recursive: true, force: true });
    if (!UPDATE_SCREENSHOTS) rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  it('without a token the page asks for one; with a read token it lists the nodes with state and calls, the rooms with their node, and recent calls', async () => {
    await page.goto(`${base}/ui`, { timeout: PAGE_WAIT_MS });
    await page.locator('#token-needed').waitFor({ state: 'visible' });
    expect(await text('#token-needed')).toBe('This control plane asks for an API token (scope read to look, operate to drain): this route needs an API token: Authorization: Bearer <token>');
    expect(await text('#nodes .error')).toBe('HTTP 401 unauthorized: this route needs an API token: Authorization: Bearer <token>');
    expect(await page.locator('#nodes tbody tr').count()).toBe(0);

    // A caller held in room 3901, and a call the node bridges to a second leg (for the trace view).
    calls.push(runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3901', calls: 1, holdMs: 20_000 }));
    const bridged = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '8000', calls: 1, holdMs: 300 });
    expect(bridged.successful).toBe(1);
    bridgedCallId = bridged.calls[0]!.callId;
    const [m1, m2] = [...machines.machines.values()] as [PoolMachine, PoolMachine];
    await waitFor('the room caller counted on its node', async () => (await nodeOf(m1)).sessions + (await nodeOf(m2)).sessions === 1 && (m1.fs.conferenceList().length + m2.fs.conferenceList().length) === 1, 15_000);

    await useToken(token.read);
    await page.locator('#token-needed').waitFor({ state: 'hidden' });
    expect(await text('#token-state')).toBe('a token is kept for this tab');
    expect(await page.evaluate('sessionStorage.getItem("sbc.console.token")')).toBe(token.read);
    const api = (await apiGet<{ nodes: NodeView[] }>('/v1/nodes')).nodes;
    expect(api.map((n) => n.state)).toEqual(['active', 'active']);
    for (const n of api) {
      await waitFor(`node ${n.hostname} shown active with ${n.sessions} call(s)`, async () => (await row(n.nodeId).locator('.calls').textContent()) === `${n.sessions} / ${n.capacity}`, PAGE_WAIT_MS);
      expect([await row(n.nodeId).locator('.state').textContent(), await row(n.nodeId).locator('td').nth(2).textContent()]).toEqual(['active', n.sipUri]);
      expect(await row(n.nodeId).locator('button').textContent()).toBe('Drain');
    }
    expect(api.map((n) => n.sessions).sort()).toEqual([0, 1]);

    const { rooms } = await apiGet<{ rooms: { room: string; nodes: { nodeId: string }[] }[] }>('/v1/rooms');
    const host = api.find((n) => n.nodeId === rooms.find((r) => r.room === '3901')?.nodes[0]?.nodeId)!;
    expect(host.sessions).toBe(1);
    const roomRow = page.locator('#rooms tr[data-room="3901"]');
    await roomRow.locator(`li[data-node-id="${host.nodeId}"]`).waitFor();
    expect(await roomRow.locator(`li[data-node-id="${host.nodeId}"]`).textContent()).toBe(`${host.hostname} (${host.nodeId.slice(0, 8)}): 1 member, 0 links`);
    expect(await roomRow.locator('td').nth(1).textContent()).toBe(`${host.hostname} (${host.nodeId.slice(0, 8)})`);

    // Recent calls: the bridged call's inbound leg, with a link to its trace.
    await page.locator(`#calls tr[data-call-id="${bridgedCallId}"] a.trace-link`).waitFor();
    await shoot('console.png');
  });

  it('a drain clicked with a read token shows the API\'s 403; with an operate token it drains the node (the API and Kamailio say so), and undrain brings it back', async () => {
    const [m1, m2] = [...machines.machines.values()] as [PoolMachine, PoolMachine];
    // The node without the held room caller: it drains to the end.
    const [idle, busy] = (await nodeOf(m1)).sessions === 0 ? [m1, m2] : [m2, m1];
    const node = await nodeOf(idle);

    await row(node.nodeId).locator('button.drain').click();
    await page.locator('#action-result.failed').waitFor();
    expect(await text('#action-result')).toBe(
      `drain of ${node.hostname} (${node.nodeId.slice(0, 8)}) refused: HTTP 403 forbidden: token console-read (scopes read) may not use POST /v1/nodes/:nodeId/drain: it needs scope operate`,
    );
    expect((await nodeOf(idle)).state).toBe('active');

    await useToken(token.operate);
    expect(await page.evaluate('sessionStorage.getItem("sbc.console.token")')).toBe(token.operate);
    await row(node.nodeId).locator('button.drain').click();
    await page.locator('#action-result:not(.failed)').waitFor();
    expect(await text('#action-result')).toMatch(new RegExp(`^drain of ${node.hostname} \\(${node.nodeId.slice(0, 8)}\\): now (draining|drained), applied$`));
    expect(['draining', 'drained']).toContain((await nodeOf(idle)).state);
    expect(await selectableUris(k1, 1)).toEqual([busy.fs.sipUri]);
    await waitFor('the page shows the node drained', async () => (await row(node.nodeId).getAttribute('data-state')) === 'drained', PAGE_WAIT_MS);
    expect([await row(node.nodeId).locator('.state').textContent(), await row(node.nodeId).locator('button').textContent()]).toEqual(['drained', 'Undrain']);
    expect((await apiGet<{ node: { state: string }; drain: { by: string } | null }>(`/v1/nodes/${node.nodeId}/drain`)).node.state).toBe('drained');
    await shoot('console-draining.png');
    // The audit log names the token that drained it.
    const ops = await apiGet<{ operations: { kind: string; actor: string; target: string }[] }>('/v1/operations?kind=drain');
    expect(ops.operations.map((o) => [o.actor, o.target])).toEqual([['token:console-operate', node.nodeId]]);

    await row(node.nodeId).locator('button.undrain').click();
    await waitFor('the API shows the node active again', async () => (await nodeOf(idle)).state === 'active', PAGE_WAIT_MS);
    await waitFor('the page shows it active, with its Drain button', async () => (await row(node.nodeId).getAttribute('data-state')) === 'active', PAGE_WAIT_MS);
    // Back in Kamailio once its reload window (1 s here) lets the addition through.
    await waitFor('both nodes selectable again', async () => (await selectableUris(k1, 1)).length === 2, 10_000);
    expect((await selectableUris(k1, 1)).sort()).toEqual([m1.fs.sipUri, m2.fs.sipUri].sort());
  });

  it('the trace view shows a call\'s legs and its routing decision, as the API answers them', async () => {
    const { legs } = await apiGet<{ legs: Leg[] }>('/v1/calls?limit=20');
    // The bridged call's first leg: the one sipp's Call-ID names.
    const first = legs.find((l) => l.callId === bridgedCallId)!;
    expect(first).toBeDefined();
    let graph: { legs: Leg[]; decisions: { id: string; kamailioId: string }[] } | undefined;
    await waitFor('the bridged call traced with its three legs', async () => {
      graph = await apiGet(`/v1/calls/${encodeURIComponent(first.uuid)}`);
      return graph!.legs.length === 3 && graph!.decisions.length === 1;
    }, 15_000);
    await page.locator(`#calls tr[data-uuid="${first.uuid}"] a.trace-link`).click();
    expect(new URL(page.url()).hash).toBe(`#trace/${first.uuid}`);
    await page.locator('#trace').waitFor({ state: 'visible' });
    expect(await page.locator('#overview').isHidden()).toBe(true);
    await waitFor('every leg shown', async () => (await page.locator('#trace-legs tbody tr[data-uuid]').count()) === 3, PAGE_WAIT_MS);
    const shown = [];
    for (const r of await page.locator('#trace-legs tbody tr[data-uuid]').all()) shown.push([await r.getAttribute('data-uuid'), await r.locator('td').nth(0).textContent(), await r.locator('td').nth(3).textContent()]);
    expect(shown).toEqual(graph!.legs.map((l) => [l.uuid, l.uuid, l.callId ?? '']));
    expect(await page.locator('#trace-decisions tbody tr td').first().textContent()).toBe(graph!.decisions[0]!.id);
    expect(await text('#trace-summary')).toMatch(/^3 leg\(s\) on 1 node\(s\), 1 routing decision\(s\), from /);
    await shoot('trace.png');

    await page.click('#trace-back');
    await page.locator('#overview').waitFor({ state: 'visible' });
    // Nothing the page did broke its CSP or threw.
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
