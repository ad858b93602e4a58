import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';

/**
 * Conference rooms end to end: two real Kamailios sharing pins over a real NATS (nats
 * module), the control plane with its room table in a real Redis, the shipped agent beside
 * each FreeSWITCH stand-in (conferences as mod_conference makes them), sipp callers. A room
 * is split when its participants sit in conferences on more than one node.
 */
const HEARTBEAT_MS = 500;

interface Node {
  fs: Standin;
  agent: RunningProcess;
  dead?: boolean;
  cordoned?: boolean;
}

interface RoomView {
  room: string;
  pin: { uri: string; nodeId: string | null; confirmedAt: string | null } | null;
  members: number;
}

describe('rooms: every caller of a room reaches one node while nodes join and die (2 Kamailios, NATS pins, agents, stand-ins)', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let k2: KamailioInstance;
  let cp: ControlPlane;
  const prefix = `rooms${randomBytes(3).toString('hex')}`;
  const nodes: Node[] = [];
  const background: Promise<UacResult>[] = [];
  /** The control plane's log lines (info and up), shown when a room check fails. */
  const cpLines: string[] = [];
  const cpLog = { write: (line: string) => void (cpLines.push(line), cpLines.length > 4000 && cpLines.splice(0, 1000)) };
  /** What the control plane and the agents logged about one room (for a failed check). */
  const roomLog = (room: string) =>
    [
      ...cpLines.filter((l) => l.includes(`"room":"${room}"`) || l.includes('"level":40') || l.includes('"level":50')),
      ...nodes.flatMap((n, i) => n.agent.output().split('\n').filter((l) => l.includes(room) || l.includes('"level":40') || l.includes('"level":50')).map((l) => `node ${i}: ${l}`)),
    ].join('\n');

  const addNode = async (): Promise<Node> => {
    const fs = await startStandin({ toneMs: 0 });
    const node: Node = { fs, agent: startAgentProcess(fs, {
        natsUrl: nats.url,
        prefix,
        heartbeatMs: HEARTBEAT_MS,
        eslTimeoutMs: 400,
        // As in the acceptance test: a stand-in stalled by the whole suite's load is not lost
        // (and its rooms' links dropped) after one slow probe.
        env: { SBC_PROBES_BEFORE_LOST: '3', SBC_LOG_LEVEL: 'info' },
      }),
    };
    nodes.push(node);
    return node;
  };
  const live = () => nodes.filter((n) => !n.dead);
  /** Live nodes that take new rooms (a cordoned one is listed, disabled). */
  const routable = () => live().filter((n) => !n.cordoned);

  const selectable = (k: KamailioInstance): Promise<string[]> => selectableUris(k, 2);
  const allSelectable = async (uris: readonly string[]) => {
    for (const k of [k1, k2]) {
      const have = await selectable(k);
      if (uris.some((u) => !have.includes(u)) || have.length !== uris.length) return false;
    }
    return true;
  };

  /** room -> nodes (index) whose conference of it holds a participant that is not a link. */
  const hosts = (): Map<string, Set<number>> => {
    const m = new Map<string, Set<number>>();
    nodes.forEach((n, i) => {
      if (n.dead) return;
      for (const c of n.fs.conferenceList()) {
        if (!c.members.some((mem) => !mem.link)) continue;
        m.set(c.name, (m.get(c.name) ?? new Set()).add(i));
      }
    });
    return m;
  };
  const split = () => [...hosts()].filter(([, s]) => s.size > 1).map(([room]) => room);
  /**
   * Rooms whose participants are on more than one node without links joining them: what must
   * never last. A split can happen (a node too slow under load answers a caller that already
   * failed over elsewhere); the control plane must link it within moments.
   */
  const unlinkedSplits = () => split().filter((room) => !isTreeOver([...(hosts().get(room) ?? [])], upLinks(room)));
  const noUnlinkedSplit = () => waitFor('every split room linked', () => unlinkedSplits().length === 0, 15_000).catch(() => expect(unlinkedSplits()).toEqual([]));

  /** Callers that stay in their rooms for `holdMs` (sipp in the background); resolves once all are answered. */
  const join = async (k: KamailioInstance, rooms: readonly string[], perRoom: number, holdMs: number) => {
    const service = Array.from({ length: perRoom }, () => rooms).flat();
    const run = runSippUac({ target: `127.0.0.1:${k.sipPort}`, service, calls: service.length, rate: 50, holdMs });
    background.push(run);
    const before = nodes.reduce((n, x) => n + x.fs.calls.filter((c) => c.answeredAt !== undefined).length, 0);
    await waitFor(`${service.length} callers answered`, () => nodes.reduce((n, x) => n + x.fs.calls.filter((c) => c.answeredAt !== undefined).length, 0) >= before + service.length, 20_000);
  };

  const roomsApi = async () => (await cp.app.inject('/v1/rooms')).json<{ rooms: RoomView[] }>().rooms;

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    const kenv = (id: string) => ({ SBC_NATS_URL: nats.url, SBC_NATS_PINS_SUBSCRIPTION: `${prefix}.kamailio.pins:${id}`, SBC_KAMAILIO_ID: id });
    // A generous fr_timer: a stand-in slowed by a loaded machine is not taken for a dead node.
    [k1, k2] = await Promise.all([startKamailio({ dbUrl: db.url, env: kenv('kam-1'), frTimerMs: 4000 }), startKamailio({ dbUrl: db.url, env: kenv('kam-2'), frTimerMs: 4000 })]);
    const config = loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl, k2.rpcUrl] }),
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
      SBC_ROOM_PIN_GRACE_MS: '5000',
      SBC_ROOM_MAX_MEMBERS_PER_NODE: '6',
    });
    cp = await startControlPlane(config, pino({ level: 'info' }, cpLog));
    for (let i = 0; i < 3; i++) await addNode();
    await waitFor('3 nodes in both Kamailios', () => allSelectable(live().map((n) => n.fs.sipUri)), 20_000);
  });

  afterAll(async () => {
    await Promise.allSettled(background);
    for (const n of nodes) await n.agent.stop('SIGKILL');
    for (const n of nodes) await n.fs.stop();
    await cp?.stop();
    await Promise.allSettled([k1?.stop(), k2?.stop()]);
    await Promise.all([nats?.stop(), redis?.stop(), db?.stop()]);
  });

  const oldRooms = Array.from({ length: 50 }, (_, i) => String(3100 + i));
  /** room -> the node that hosts it (set once the room exists). */
  const placed = new Map<string, number>();
  const expectWhole = async () => {
    await noUnlinkedSplit();
    for (const [room, node] of placed) {
      if (nodes[node]!.dead) continue;
      expect([...(hosts().get(room) ?? [])], room).toContain(node);
    }
  };

  it('50 rooms with 2 callers each: every room on one node, pinned and confirmed in the room table', async () => {
    await join(k1, oldRooms, 2, 45_000);
    await noUnlinkedSplit();
    expect([...hosts().keys()].sort()).toEqual(oldRooms);
    // A room's node is the one its pin names (a linked split has more than one).
    await waitFor('pins recorded', async () => (await roomsApi()).filter((x) => oldRooms.includes(x.room) && x.pin).length === 50, 10_000);
    for (const v of await roomsApi()) {
      const i = nodes.findIndex((n) => n.fs.sipUri === v.pin?.uri);
      if (oldRooms.includes(v.room) && i >= 0) placed.set(v.room, i);
    }
    await waitFor('rooms confirmed', async () => {
      const r = await roomsApi();
      return oldRooms.every((room) => r.some((x) => x.room === room && x.pin?.confirmedAt && x.members === 2));
    }, 15_000);
    const api = await roomsApi();
    for (const room of oldRooms) {
      const view = api.find((x) => x.room === room)!;
      const host = placed.get(room)!;
      expect(view.pin?.uri, room).toBe(nodes[host]!.fs.sipUri);
      expect(view.pin?.nodeId, room).toBe(nodes[host]!.fs.coreUuid);
    }
    // The other Kamailio holds every pin too (heard on NATS, kept by the control plane).
    const k2Keys = async () => ((await k2.rpc('htable.dump', ['pins'])) as { slot: { name: string }[] }[]).flatMap((b) => b.slot.map((x) => x.name));
    await waitFor('k2 holds every pin', async () => {
      const keys = await k2Keys();
      return oldRooms.every((r) => keys.includes(r));
    }, 10_000).catch(() => undefined);
    const keys = await k2Keys();
    for (const room of oldRooms) expect(keys).toContain(room);
  });

  it('3 nodes join one by one; after each, every room\'s next caller (through either Kamailio) joins its room: 0 rooms split', async () => {
    for (let step = 0; step < 3; step++) {
      await addNode();
      await waitFor(`${live().length} nodes in both Kamailios`, () => allSelectable(live().map((n) => n.fs.sipUri)), 20_000);
      await join(step % 2 === 0 ? k2 : k1, oldRooms, 1, 40_000);
      await expectWhole();
    }
    // New rooms are placed over all six nodes (the new ones included).
    const newRooms = Array.from({ length: 20 }, (_, i) => String(3200 + i));
    await join(k1, newRooms, 1, 20_000);
    await expectWhole();
    const newHosts = new Set(newRooms.flatMap((r) => [...(hosts().get(r) ?? [])]));
    expect(newHosts.size).toBeGreaterThanOrEqual(3);
    expect([...newHosts].some((i) => i >= 3)).toBe(true);
    for (const r of newRooms) placed.set(r, [...(hosts().get(r) ?? [])][0]!);
  });

  it('a cordoned (draining) node keeps the callers of its rooms and gets no new room', async () => {
    const index = placed.get(oldRooms[0]!)!;
    const node = nodes[index]!;
    const machineId = (await cp.registry.get(node.fs.coreUuid))!.machineId;
    const machine = (await cp.registry.getMachine(machineId))!;
    expect(await cp.registry.putMachine({ ...machine, cordoned: true, rev: machine.rev + 1 }, machine.rev)).toBe(true);
    node.cordoned = true;
    cp.reconciler.trigger(true);
    await waitFor('cordoned node not selectable in either Kamailio', async () => !(await selectable(k1)).includes(node.fs.sipUri) && !(await selectable(k2)).includes(node.fs.sipUri), 10_000);
    const before = node.fs.calls.length;
    await join(k1, oldRooms, 1, 20_000);
    await expectWhole();
    const itsRooms = oldRooms.filter((r) => placed.get(r) === index).length;
    expect(node.fs.calls.length - before).toBeGreaterThanOrEqual(itsRooms);
    const fresh = Array.from({ length: 20 }, (_, i) => String(3250 + i));
    await join(k2, fresh, 1, 20_000);
    expect(fresh.filter((r) => hosts().get(r)?.has(index) === true)).toEqual([]);
  });

  it('a killed node\'s rooms restart elsewhere with their next caller; the others stay whole', async () => {
    const cordoned = placed.get(oldRooms[0]!)!;
    const victimIndex = [...hosts().values()].map((s) => [...s][0]!).find((i) => i < 3 && i !== cordoned)!;
    const victim = nodes[victimIndex]!;
    const itsRooms = [...hosts()].filter(([, s]) => s.has(victimIndex)).map(([room]) => room);
    expect(itsRooms.length).toBeGreaterThan(0);
    victim.dead = true;
    await victim.agent.stop('SIGKILL');
    await victim.fs.kill();
    await waitFor('killed node out of both Kamailios', () => allSelectable(routable().map((n) => n.fs.sipUri)), 20_000);
    await join(k1, itsRooms, 2, 5000);
    await noUnlinkedSplit();
    for (const room of itsRooms) {
      const h = [...(hosts().get(room) ?? [])];
      expect(h, room).toHaveLength(1);
      expect(h[0], room).not.toBe(victimIndex);
    }
    await waitFor('pins of the killed node moved', async () => {
      const r = await roomsApi();
      return itsRooms.every((room) => r.find((x) => x.room === room)?.pin?.uri !== victim.fs.sipUri);
    }, 10_000);
  });

  it('callers of one new room arriving at both Kamailios at the same moment end on one node', async () => {
    const rooms = Array.from({ length: 8 }, (_, i) => String(3300 + i));
    const both = [runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: rooms, calls: rooms.length, rate: 200, holdMs: 3000 }), runSippUac({ target: `127.0.0.1:${k2.sipPort}`, service: rooms, calls: rooms.length, rate: 200, holdMs: 3000 })];
    background.push(...both);
    await waitFor('16 callers in conferences', () => rooms.every((r) => nodes.some((n) => !n.dead && n.fs.conferenceList().some((c) => c.name === r && c.members.length === 2)) || (hosts().get(r)?.size ?? 0) > 1), 15_000);
    await waitFor('no unlinked split among them', () => unlinkedSplits().filter((r) => rooms.includes(r)).length === 0, 15_000);
  });

  /** Up links each stand-in dialed for `room`: [from index, to index]. */
  const upLinks = (room: string): [number, number][] =>
    nodes.flatMap((n, i) =>
      n.dead
        ? []
        : n.fs
            .dialedLinks()
            .filter((l) => l.state === 'up' && l.headers['X-SBC-Room'] === room)
            .map((l): [number, number] => [i, nodes.findIndex((x) => x.fs.sipUri === l.headers['X-SBC-Target'])]),
    );
  const isTreeOver = (hosting: readonly number[], links: readonly [number, number][]) => {
    if (links.length !== hosting.length - 1) return false;
    const seen = new Set([hosting[0]]);
    for (let changed = true; changed; ) {
      changed = false;
      for (const [a, b] of links) {
        if (seen.has(a) !== seen.has(b)) {
          seen.add(seen.has(a) ? b : a);
          changed = true;
        }
      }
    }
    return hosting.every((h) => seen.has(h));
  };

  it('a split room (a caller reached another node) is linked from its larger half within one event, and the link goes when that half empties', async () => {
    const room = '3400';
    await join(k1, [room], 3, 20_000);
    const [main] = [...(hosts().get(room) ?? [])];
    const other = live().find((n) => nodes.indexOf(n) !== main)!;
    // A caller who reached another node directly: the room is split.
    // Held long enough for the link to be made while it lasts, even with the whole suite
    // running beside it (a 4 s hold once ended before the link was up).
    const stray = runSippUac({ target: `127.0.0.1:${other.fs.sipPort}`, service: room, calls: 1, holdMs: 12_000 });
    background.push(stray);
    await waitFor('the larger half dialed the smaller one', () => upLinks(room).length === 1, 11_000).catch((err: Error) => {
      throw new Error(`${err.message}\nlinks seen: ${JSON.stringify(nodes.map((n) => n.fs.dialedLinks().filter((l) => l.conference === room)))}\n${roomLog(room)}`);
    });
    expect(upLinks(room)).toEqual([[main, nodes.indexOf(other)]]);
    expect(other.fs.conferenceList().find((c) => c.name === room)?.members.some((m) => m.link)).toBe(true);
    const view = (await cp.app.inject(`/v1/rooms/${room}`)).json<{ splitsRepaired: number; pin: { uri: string } }>();
    expect(view.splitsRepaired).toBe(1);
    expect(view.pin.uri).toBe(nodes[main!]!.fs.sipUri);
    // The stray caller hangs up: the other conference holds only the link, which is dropped.
    await stray;
    await waitFor('link dropped', () => upLinks(room).length === 0, 10_000);
  });

  it('a cascaded room with 3 shards spreads 30 callers over 3 nodes linked as a tree, and is relinked when its hub dies', async () => {
    const room = '3500';
    const put = await cp.app.inject({ method: 'PUT', url: `/v1/rooms/${room}/policy`, payload: { mode: 'cascade', shards: 3 } });
    expect(put.statusCode).toBe(200);
    const cascaded = async (k: KamailioInstance) => JSON.stringify(await k.rpcRaw('htable.get', ['cascade', room])).includes('"value":3');
    await waitFor('policy in both Kamailios', async () => (await cascaded(k1)) && (await cascaded(k2)), 10_000);
    const callers = Array.from({ length: 30 }, (_, i) => `member${i + 1}`);
    const run = runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: room, callers, calls: 30, rate: 50, holdMs: 20_000 });
    background.push(run);
    await waitFor('3 nodes host the room', () => (hosts().get(room)?.size ?? 0) === 3, 15_000);
    const hosting = [...(hosts().get(room) ?? [])];
    await waitFor('2 links forming a tree', () => isTreeOver(hosting, upLinks(room)), 15_000);
    // New links start at the largest shard of the moment, so the tree may be a path: kill its hub.
    const degree = (i: number) => upLinks(room).filter(([a, b]) => a === i || b === i).length;
    const root = [...hosting].sort((a, b) => degree(b) - degree(a))[0]!;
    expect(degree(root)).toBe(2);

    const dead = nodes[root]!;
    dead.dead = true;
    await dead.agent.stop('SIGKILL');
    await dead.fs.kill();
    const rest = hosting.filter((i) => i !== root);
    await waitFor('relinked over the survivors', () => isTreeOver(rest, upLinks(room)), 20_000);
    // Never a loop: exactly one link between the two survivors.
    expect(upLinks(room)).toHaveLength(1);
  });

  it('spill-over: a room that reaches 6 participants on its node continues on a second node, linked; its members never move', async () => {
    const room = '3600';
    await join(k1, [room], 6, 20_000);
    const [first] = [...(hosts().get(room) ?? [])];
    const firstUri = nodes[first!]!.fs.sipUri;
    await waitFor('pin moved off the full node', async () => {
      const v = (await cp.app.inject(`/v1/rooms/${room}`)).json<{ pin: { uri: string } | null }>();
      return v.pin !== null && v.pin.uri !== firstUri;
    }, 10_000);
    await join(k2, [room], 3, 20_000);
    const count = (i: number) => nodes[i]!.fs.conferenceList().find((c) => c.name === room)?.members.filter((m) => !m.link).length ?? 0;
    // join() counts answered calls on every node, link legs too (the previous test's room is
    // relinked meanwhile): under the whole suite's load it once returned with the last caller
    // still on its way (2 of 3 seen).
    await waitFor('9 participants in the room', () => [...(hosts().get(room) ?? [])].reduce((n, i) => n + count(i), 0) === 9, 5000).catch(() => undefined);
    const h = [...(hosts().get(room) ?? [])];
    expect(h).toHaveLength(2);
    expect(h).toContain(first);
    expect(count(first!)).toBe(6);
    expect(count(h.find((i) => i !== first)!)).toBe(3);
    await waitFor('the two halves linked', () => isTreeOver(h, upLinks(room)), 10_000);
  });
});
