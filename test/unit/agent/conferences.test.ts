import { describe, expect, it } from 'vitest';
import {
  decideConferences,
  INITIAL_CONFERENCES,
  isConferenceEvent,
  linkCommand,
  linkDialString,
  parseBgdialJob,
  parseJsonList,
  readConferenceEvent,
  type ConferenceEventRead,
  type ConferencesAction,
  type ConferencesInput,
  type ConferencesState,
} from '../../../src/agent/conferences.js';
import type { ApiReply } from '../../../src/agent/esl.js';
import { encodeChecked } from '../../../src/events/codec.js';
import { linkRequest, unlinkRequest, conferencesRequest, encodeConferenceCommandReply, type LinkArgs } from '../../../src/events/commands.js';
import { apiOutput, plainEvents, sentCommands } from './captures.js';

const A = 'a390bc47-c291-42a6-ab48-b98639106ceb';
const B = '56f6295a-1feb-44f5-8540-4cb4de745c8b';
const opts = { sipProfile: 'internal' };

function run(inputs: readonly ConferencesInput[], from: ConferencesState = INITIAL_CONFERENCES) {
  let state = from;
  const actions: ConferencesAction[] = [];
  for (const input of inputs) {
    const d = decideConferences(state, input, opts);
    state = d.state;
    actions.push(...d.actions);
  }
  return { state, actions };
}

/** Every conference::maintenance event of a capture, read; the ones the machine ignores left out. */
function events(capture: string): ConferenceEventRead[] {
  return plainEvents(capture)
    .filter(isConferenceEvent)
    .flatMap((h) => {
      const r = readConferenceEvent(h);
      if (r === undefined) throw new Error(`${capture}: unreadable conference event ${h['Event-Sequence']}`);
      return 'coreUuid' in r ? [r] : [];
    });
}
const fed = (capture: string): ConferencesInput[] => events(capture).map((event) => ({ kind: 'conference-event', event }));

/** The node announced and its first json_list answered (no conference yet, as at the captures' start). */
function announced(nodeId: string): ConferencesState {
  const joined = run([{ kind: 'node-announced', nodeId }]);
  expect(joined.actions).toEqual([{ kind: 'conference-api', token: 1, command: 'conference json_list' }]);
  const read = run([{ kind: 'conference-api-done', token: 1, reply: { ok: true, output: '+OK No active conferences.\n' }, at: 1 }], joined.state);
  expect(read.actions).toEqual([{ kind: 'publish-rooms', nodeId, rooms: [] }]);
  return read.state;
}

/** Each published conference edge as `event room members/links [member id link linkId direction]`. */
const edges = (actions: readonly ConferencesAction[]) =>
  actions.flatMap((a) => {
    if (a.kind !== 'publish-conference') return [];
    const b = a.body;
    const m = b.member ? ` #${b.member.id} ${b.member.direction}${b.member.link ? ` link${b.member.linkId !== undefined ? `=${b.member.linkId}` : ''}` : ''}` : '';
    return [`${b.event} ${b.room} ${b.members}/${b.links}${m}`];
  });

/** Every publish action is a message the strict writer takes. */
function allValid(actions: readonly ConferencesAction[]): void {
  for (const a of actions) {
    if (a.kind === 'publish-conference') expect(encodeChecked('conference', { v: 1, seq: 1, sentAt: 1, ...a.body })).toMatchObject({ ok: true });
    if (a.kind === 'publish-rooms') {
      const { kind: _k, ...body } = a;
      expect(encodeChecked('rooms', { v: 1, seq: 1, sentAt: 1, ...body })).toMatchObject({ ok: true });
    }
    if (a.kind === 'reply-v2') expect(encodeConferenceCommandReply(a.reply)).toMatchObject({ ok: true });
  }
}

const linkArgs: LinkArgs = { room: '3000', linkId: 'l1', target: 'sip:127.0.0.1:5280', via: 'sip:127.0.0.1:5280' };
const linkCmd = (args: Partial<LinkArgs> = {}, id = 'c1', nodeId = A): ConferencesInput => ({
  kind: 'conference-command',
  request: linkRequest({ id, nodeId, sentAt: 1, args: { ...linkArgs, ...args } }),
  replyTo: '_INBOX.1',
});
const replies = (actions: readonly ConferencesAction[]) =>
  actions.flatMap((a) => (a.kind === 'reply-v2' ? [a.reply.ok ? `ok ${JSON.stringify(a.reply.result)}` : a.reply.error.code] : []));

describe('conference events, read from the real captures', () => {
  it('reads the four edges and bgdial-result with the captured header names; ignores the rest', () => {
    const read = events('cascade-a-plain');
    expect(read.map((e) => e.action)).toEqual([
      'conference-create', 'add-member', 'add-member', 'bgdial-result', 'add-member', 'add-member', 'del-member', 'del-member',
      'add-member', 'del-member', 'del-member', 'del-member', 'conference-destroy',
    ]);
    expect(read[3]).toEqual({ action: 'bgdial-result', coreUuid: A, jobUuid: '240ebe9d-67b8-43b8-8030-72e02179ed66', peerUuid: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6', result: 'SUCCESS' });
    // A, verbose-events off: the link is marked only by Caller-Orig-Caller-ID-Name; no variables, no Call-ID.
    expect(read[4]).toMatchObject({ action: 'add-member', member: { id: 3, uuid: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6', link: true, direction: 'outbound' } });
    expect(read[4]).not.toHaveProperty('member.linkId');
    expect(read[4]).not.toHaveProperty('member.callId');
    // B, verbose-events on: X-SBC-Cascade gives the link id, sip_call_id the Call-ID (A's leg UUID).
    const b = events('cascade-b-plain').find((e) => e.action === 'add-member' && e.member?.id === 3);
    expect(b).toMatchObject({ member: { link: true, linkId: '1', direction: 'inbound', callId: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6' } });
    expect(events('cascade-b-plain').find((e) => e.action === 'add-member' && e.member?.id === 1)).toMatchObject({ member: { link: false, callId: '1-29188@127.0.0.1' } });
    expect(readConferenceEvent({ 'Core-UUID': A, Action: 'add-member', 'Conference-Name': '3000' })).toBeUndefined();
    expect(readConferenceEvent({ 'Core-UUID': A, Action: 'floor-change' })).toEqual({ action: 'ignored' });
  });

  it('node A (no verbose-events): creates, member counts, both links detected, a link-only conference stays, destroy', () => {
    const r = run(fed('cascade-a-plain'), announced(A));
    expect(edges(r.actions)).toEqual([
      'create 3000 0/0',
      'add-member 3000 1/0 #1 inbound',
      'add-member 3000 2/0 #2 inbound',
      'add-member 3000 3/1 #3 outbound link',
      'add-member 3000 4/1 #4 outbound', // conference dial to 9001: not a link
      'del-member 3000 3/1 #4 outbound',
      'del-member 3000 2/0 #3 outbound link',
      'add-member 3000 3/1 #5 outbound link', // the synchronous re-dial
      'del-member 3000 2/1 #1 inbound',
      'del-member 3000 1/1 #2 inbound', // only the link left: the conference stays
      'del-member 3000 0/0 #5 outbound link',
      'destroy 3000 0/0',
    ]);
    allValid(r.actions);
    expect(r.state.conferences).toEqual({});
  });

  it('node B (verbose-events): the inbound links carry their link id and Call-ID', () => {
    const r = run(fed('cascade-b-plain'), announced(B));
    expect(edges(r.actions)).toEqual([
      'create 3000 0/0',
      'add-member 3000 1/0 #1 inbound',
      'add-member 3000 2/0 #2 inbound',
      'add-member 3000 3/1 #3 inbound link=1',
      'del-member 3000 2/0 #3 inbound link=1',
      'add-member 3000 3/1 #4 inbound link=1',
      'del-member 3000 2/1 #1 inbound',
      'del-member 3000 1/1 #2 inbound',
      'del-member 3000 0/0 #4 inbound link=1',
      'destroy 3000 0/0',
    ]);
    const linkEdge = r.actions.find((a) => a.kind === 'publish-conference' && a.body.member?.id === 3);
    expect(linkEdge).toMatchObject({ body: { member: { callId: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6' } } });
    allValid(r.actions);
  });

  it('hupall on B: two conferences, each created and destroyed', () => {
    const r = run(fed('hupall-b-plain'), announced(B));
    expect(edges(r.actions)).toEqual([
      'create 3000 0/0',
      'add-member 3000 1/0 #5 inbound',
      'add-member 3000 2/0 #6 inbound',
      'del-member 3000 1/0 #6 inbound', // hupall hung up the later caller first
      'del-member 3000 0/0 #5 inbound',
      'destroy 3000 0/0',
      'create 3001 0/0',
      'add-member 3001 1/0 #7 inbound',
      'del-member 3001 0/0 #7 inbound',
      'destroy 3001 0/0',
    ]);
  });

  it('events before the node is announced, or of another FreeSWITCH, are tracked but not published', () => {
    const before = run(fed('cascade-b-plain').slice(0, 3));
    expect(before.actions).toEqual([]);
    expect(Object.values(before.state.conferences)[0]).toMatchObject({ room: '3000', size: 2 });
    const other = run(fed('cascade-b-plain').slice(0, 3), announced(A));
    expect(other.actions).toEqual([]);
  });

  it('a conference whose name is not a room name is not published, only counted', () => {
    const bad = events('hupall-b-plain').slice(0, 2).map((e) => ({ ...e, room: 'room with space' }));
    const r = run(bad.map((event) => ({ kind: 'conference-event' as const, event })), announced(B));
    expect(r.actions).toEqual([]);
    expect(r.state.counts.unpublishable).toBe(2);
  });
});

describe('links this agent dials (bgdial-result)', () => {
  const job = '240ebe9d-67b8-43b8-8030-72e02179ed66';
  const upTo = (n: number) => fed('cascade-a-plain').slice(0, n);

  it('the bgdial-result names the leg: published with link:true and its link id on the dialling node', () => {
    const hosting = run(upTo(3), announced(A)).state; // create, members 1 and 2
    const asked = run([linkCmd()], hosting);
    expect(asked.actions).toEqual([
      {
        kind: 'conference-api',
        token: 2,
        command:
          'conference 3000 bgdial {sip_h_X-SBC-Cascade=l1,sip_h_X-SBC-Target=sip:127.0.0.1:5280,sip_h_X-SBC-Room=3000,origination_caller_id_name=cascade,origination_caller_id_number=3000,conference_member_flags=nomoh,conference_enter_sound=silence_stream://20,conference_exit_sound=silence_stream://20,media_timeout=10000}sofia/internal/3000@127.0.0.1:5280 3000 cascade',
      },
    ]);
    // The BACKGROUND_JOB body captured for that bgapi.
    const answered = run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: `+OK Job-UUID: ${job}\n` }, at: 5 }], asked.state);
    expect(replies(answered.actions)).toEqual([`ok {"jobUuid":"${job}"}`]);
    const rest = run(fed('cascade-a-plain').slice(3, 5), answered.state); // bgdial-result, add-member 3
    expect(edges(rest.actions)).toEqual(['add-member 3000 3/1 #3 outbound link=l1']);
    allValid([...answered.actions, ...rest.actions]);
    // The next snapshot lists the link id.
    expect(run([{ kind: 'conference-tick' }], rest.state).actions).toEqual([
      { kind: 'publish-rooms', nodeId: A, rooms: [{ room: '3000', conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e', members: 3, links: 1, linkIds: ['l1'] }] },
    ]);
  });

  it('a bgdial-result that arrives before the bgapi answer is matched when the answer comes', () => {
    const asked = run([linkCmd()], run(upTo(3), announced(A)).state);
    const early = run(upTo(4).slice(3), asked.state); // the bgdial-result first
    const answered = run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: `+OK Job-UUID: ${job}\n` }, at: 5 }], early.state);
    expect(edges(run(upTo(5).slice(4), answered.state).actions)).toEqual(['add-member 3000 3/1 #3 outbound link=l1']);
  });

  it('kill-a: the link dialled with api bgdial is matched the same way', () => {
    const all = fed('kill-a-plain');
    const result = events('kill-a-plain').findIndex((e) => e.action === 'bgdial-result');
    const hosting = run(all.slice(0, result), announced(A));
    const asked = run([linkCmd({ linkId: 'k1' })], hosting.state);
    const answered = run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: '+OK Job-UUID: 08e82e43-a2d2-4d4f-b1b4-ea3dd6d1d089\n' }, at: 5 }], asked.state);
    const r = run(all.slice(result), answered.state);
    expect(edges([...hosting.actions, ...r.actions])).toEqual([
      'create 3000 0/0',
      'add-member 3000 1/0 #6 inbound',
      'add-member 3000 2/1 #7 outbound link=k1',
      'del-member 3000 1/0 #7 outbound link=k1',
      'del-member 3000 0/0 #6 inbound',
      'destroy 3000 0/0',
    ]);
  });
});

describe('json_list', () => {
  it('reads the captured replies: conferences, member counts, uuids; the inbound link by its caller id name', () => {
    const a = parseJsonList(apiOutput('cascade-a-api', 'conference 3000 json_list'));
    expect(a).toEqual({
      ok: true,
      conferences: [
        {
          room: '3000',
          conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e',
          size: 2,
          members: [
            { id: 2, uuid: 'a209b148-1f60-4cd0-ac3c-9e494b0be6ef', link: false },
            { id: 1, uuid: '15e1d03d-26f8-4c36-9926-e7544f244479', link: false },
          ],
        },
      ],
    });
    // On A the link's caller id is flipped to the far end's ("3000"): json_list alone does not mark it.
    const aLink = parseJsonList(apiOutput('cascade-a-api', 'conference 3000 json_list', 1));
    expect(aLink.ok && aLink.conferences[0]?.members.find((m) => m.id === 3)).toEqual({ id: 3, uuid: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6', link: false });
    const bLink = parseJsonList(apiOutput('cascade-b-api', 'conference 3000 json_list', 1));
    expect(bLink.ok && bLink.conferences[0]).toMatchObject({ conferenceUuid: '2d02aade-f358-4b78-b596-f698e242eea6', size: 3 });
    expect(bLink.ok && bLink.conferences[0]?.members.find((m) => m.id === 3)).toEqual({ id: 3, uuid: 'd508f0b5-2287-4a4b-8b30-fa2a3dbcb89a', link: true, direction: 'inbound' });
  });

  it('no conferences: an empty array, or the `conference list` answer; anything else is an error', () => {
    expect(parseJsonList('[]\n')).toEqual({ ok: true, conferences: [] });
    expect(parseJsonList(apiOutput('cascade-a-api', 'conference list', 2))).toEqual({ ok: true, conferences: [] });
    expect(parseJsonList('Conference json_list not found\n')).toMatchObject({ ok: false });
    expect(parseJsonList('{"conference_name":"3000"}')).toMatchObject({ ok: false, detail: 'not a JSON array' });
    expect(parseJsonList('[{"conference_name":"3000"}]')).toMatchObject({ ok: false });
  });

  it('after a (re)join the truth replaces what events built, keeping what only events and bgdial told', () => {
    // Events up to A's link (member 3, marked by Caller-Orig-Caller-ID-Name), then the agent re-joins.
    const before = run(fed('cascade-a-plain').slice(0, 5), announced(A));
    // No variables on A: the link's id is asked of FreeSWITCH.
    expect(before.actions.filter((a) => a.kind === 'conference-api')).toEqual([
      { kind: 'conference-api', token: 2, command: 'uuid_getvar 8ffbcdcd-7346-4fee-aa63-d364aa74fbf6 sip_h_X-SBC-Cascade' },
    ]);
    const rejoin = run([{ kind: 'node-announced', nodeId: undefined }, { kind: 'node-announced', nodeId: A }], before.state);
    expect(rejoin.actions).toEqual([{ kind: 'conference-api', token: 3, command: 'conference json_list' }]);
    const read = run([{ kind: 'conference-api-done', token: 3, reply: { ok: true, output: apiOutput('cascade-a-api', 'conference 3000 json_list', 1) }, at: 9 }], rejoin.state);
    // The look-up in flight is not asked twice.
    expect(read.actions).toEqual([{ kind: 'publish-rooms', nodeId: A, rooms: [{ room: '3000', conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e', members: 3, links: 1, linkIds: [] }] }]);
    // The captured answer to that very uuid_getvar on A.
    const answer = apiOutput('cascade-a-api', 'uuid_getvar 8ffbcdcd-7346-4fee-aa63-d364aa74fbf6 sip_h_X-SBC-Cascade');
    const learned = run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: answer }, at: 10 }, { kind: 'conference-tick' }], read.state);
    expect(learned.actions).toEqual([{ kind: 'publish-rooms', nodeId: A, rooms: [{ room: '3000', conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e', members: 3, links: 1, linkIds: ['1'] }] }]);
  });

  it('a fresh agent on a node with a link up: json_list does not show the dialling side as a link, the header look-up does', () => {
    const joined = run([{ kind: 'node-announced', nodeId: A }]);
    const read = run([{ kind: 'conference-api-done', token: 1, reply: { ok: true, output: apiOutput('cascade-a-api', 'conference 3000 json_list', 1) }, at: 1 }], joined.state);
    const asked = read.actions.flatMap((a) => (a.kind === 'conference-api' ? [a.command] : []));
    // Every member this agent never saw an event of (all three here).
    expect([...asked].sort()).toEqual([
      'uuid_getvar 15e1d03d-26f8-4c36-9926-e7544f244479 sip_h_X-SBC-Cascade',
      'uuid_getvar 8ffbcdcd-7346-4fee-aa63-d364aa74fbf6 sip_h_X-SBC-Cascade',
      'uuid_getvar a209b148-1f60-4cd0-ac3c-9e494b0be6ef sip_h_X-SBC-Cascade',
    ]);
    const tokens = read.actions.flatMap((a): Array<[number, string]> => (a.kind === 'conference-api' ? [[a.token, a.command]] : []));
    const answers = tokens.map(([token, command]): ConferencesInput => ({
      kind: 'conference-api-done',
      token,
      reply: { ok: true, output: command.includes('8ffbcdcd') ? apiOutput('cascade-a-api', 'uuid_getvar 8ffbcdcd-7346-4fee-aa63-d364aa74fbf6 sip_h_X-SBC-Cascade') : '_undef_' },
      at: 2,
    }));
    const r = run([...answers, { kind: 'conference-tick' }], read.state);
    expect(r.actions).toEqual([{ kind: 'publish-rooms', nodeId: A, rooms: [{ room: '3000', conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e', members: 3, links: 1, linkIds: ['1'] }] }]);
    // Now an unlink finds it by its id.
    const unlink = run([{ kind: 'conference-command', request: unlinkRequest({ id: 'u', nodeId: A, sentAt: 1, args: { room: '3000', linkId: '1' } }), replyTo: '_INBOX.u' }], r.state);
    expect(unlink.actions).toEqual([{ kind: 'conference-api', token: 5, command: 'conference 3000 hup 3' }]);
  });

  it('a json_list that fails at a join still publishes what the events built, and is counted', () => {
    const joined = run([{ kind: 'node-announced', nodeId: B }]);
    const r = run([{ kind: 'conference-api-done', token: 1, reply: { ok: false, answered: false, error: 'timeout', timedOut: true }, at: 1 }], joined.state);
    expect(r.actions).toEqual([{ kind: 'publish-rooms', nodeId: B, rooms: [] }]);
    expect(r.state.counts.failedReads).toBe(1);
  });
});

describe('the rooms snapshot: level-triggered', () => {
  it('once per tick while the node has a conference, once more when it becomes empty, then nothing', () => {
    const ev = fed('hupall-b-plain');
    let s = run(ev.slice(0, 2), announced(B)).state; // create, one member
    expect(run([{ kind: 'conference-tick' }], s).actions).toEqual([
      { kind: 'publish-rooms', nodeId: B, rooms: [{ room: '3000', conferenceUuid: '496339db-cd28-4467-a018-26d018727a9b', members: 1, links: 0, linkIds: [] }] },
    ]);
    s = run([{ kind: 'conference-tick' }, ...ev.slice(2, 6)], s).state; // to destroy
    const empty = run([{ kind: 'conference-tick' }, { kind: 'conference-tick' }], s);
    expect(empty.actions).toEqual([{ kind: 'publish-rooms', nodeId: B, rooms: [] }]);
  });

  it('bounded: beyond 500 rooms the first 500 by name are listed and the rest counted', () => {
    const many = Array.from({ length: 503 }, (_, i) => ({
      conference_name: `r${String(i).padStart(4, '0')}`,
      conference_uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      member_count: 1,
      members: [],
    }));
    const joined = run([{ kind: 'node-announced', nodeId: B }]);
    const r = run([{ kind: 'conference-api-done', token: 1, reply: { ok: true, output: JSON.stringify(many) }, at: 1 }], joined.state);
    const pub = r.actions[0];
    expect(pub?.kind === 'publish-rooms' && [pub.rooms.length, pub.rooms[499]?.room, pub.omitted]).toEqual([500, 'r0499', 3]);
    allValid(r.actions);
  });
});

describe('link commands', () => {
  const hostingA = () => run(fed('cascade-a-plain').slice(0, 3), announced(A)).state;

  it('the dial string is the captured one, byte for byte, apart from our extra variables', () => {
    const captured = sentCommands('cascade-a-api').find((c) => c.startsWith('bgapi conference 3000 bgdial '))!.slice('bgapi conference 3000 bgdial '.length);
    const ours = linkDialString({ room: '3000', linkId: '1', target: 'sip:127.0.0.1:5280', via: 'sip:127.0.0.1:5280' }, 'internal');
    if (!ours.ok) throw new Error(ours.detail);
    const withoutExtras = ours.dial.replace(/sip_h_X-SBC-(Target|Room)=[^,]*,/g, '').replace(/,media_timeout=\d+\}/, '}');
    expect(withoutExtras).toBe(captured.trim());
    expect(ours.dial).not.toMatch(/\s/);
    // kill-mt added media_timeout=10000 as the last variable, as we do by default.
    expect(ours.dial).toMatch(/,media_timeout=10000\}sofia\//);
    expect(linkCommand({ ...linkArgs, mediaTimeoutMs: 2500 }, 'internal')).toMatchObject({ ok: true, command: expect.stringMatching(/^conference 3000 bgdial \{\S+media_timeout=2500\}sofia\/internal\/3000@127\.0\.0\.1:5280 3000 cascade$/) as unknown });
  });

  it('refuses anything that would need quoting in the dial string', () => {
    expect(linkDialString({ ...linkArgs, target: 'sip:a,b:5060' }, 'internal')).toMatchObject({ ok: false });
    expect(linkDialString({ ...linkArgs, via: 'sips:x' }, 'internal')).toMatchObject({ ok: false });
    expect(linkDialString(linkArgs, 'in ternal')).toMatchObject({ ok: false });
  });

  it('parses the job id of a bgdial answer', () => {
    expect(parseBgdialJob('+OK Job-UUID: 240ebe9d-67b8-43b8-8030-72e02179ed66\n')).toBe('240ebe9d-67b8-43b8-8030-72e02179ed66');
    expect(parseBgdialJob('-ERR Bad Args')).toBeUndefined();
  });

  it('refuses a room this node does not host, a link already up or being dialled', () => {
    expect(replies(run([linkCmd({ room: '3999' })], hostingA()).actions)).toEqual(['bad-request']);
    const dialling = run([linkCmd()], hostingA());
    expect(replies(run([linkCmd({}, 'c2')], dialling.state).actions)).toEqual(['bad-request']);
    const withLink = run(fed('cascade-b-plain').slice(0, 4), announced(B)).state;
    const dup = run([linkCmd({ linkId: '1' }, 'c3', B)], withLink);
    expect(dup.actions[0]).toMatchObject({ reply: { ok: false, error: { code: 'bad-request', message: expect.stringContaining('already member 3') as unknown } } });
  });

  it('never dials out for a room whose only members are links that arrived here (cascade-loop)', () => {
    const ev = fed('cascade-b-plain');
    const linkOnly = run(ev.slice(0, 8), announced(B)).state; // callers gone, link 2 (member 4) left
    expect(Object.values(linkOnly.conferences)[0]?.members.map((m) => m.id)).toEqual([4]);
    const r = run([linkCmd({}, 'c1', B)], linkOnly);
    expect(replies(r.actions)).toEqual(['cascade-loop']);
    expect(r.actions.some((a) => a.kind === 'conference-api')).toBe(false);
    // With a caller still there, the same node may dial.
    const withCaller = run(ev.slice(0, 7), announced(B)).state;
    expect(run([linkCmd({ linkId: 'x' }, 'c1', B)], withCaller).actions[0]).toMatchObject({ kind: 'conference-api' });
  });

  it('a bgdial FreeSWITCH refuses or does not answer is told apart', () => {
    const asked = run([linkCmd()], hostingA()).state;
    const done = (reply: ApiReply) => replies(run([{ kind: 'conference-api-done', token: 2, reply, at: 1 }], asked).actions);
    expect(done({ ok: false, answered: true, error: '-ERR Bad Args' })).toEqual(['freeswitch-error']);
    expect(done({ ok: false, answered: false, error: 'timeout', timedOut: true })).toEqual(['timeout']);
    expect(done({ ok: false, answered: false, error: 'not connected' })).toEqual(['not-ready']);
    expect(done({ ok: true, output: 'Conference 3000 not found\n' })).toEqual(['freeswitch-error']);
  });

  it('unlink hangs the link member up (either direction); an unknown link is found:false', () => {
    const withLink = run(fed('cascade-b-plain').slice(0, 4), announced(B)).state;
    const unlink = (linkId: string): ConferencesInput => ({ kind: 'conference-command', request: unlinkRequest({ id: 'u1', nodeId: B, sentAt: 1, args: { room: '3000', linkId } }), replyTo: '_INBOX.u' });
    expect(replies(run([unlink('nope')], withLink).actions)).toEqual(['ok {"found":false}']);
    const asked = run([unlink('1')], withLink);
    expect(asked.actions).toEqual([{ kind: 'conference-api', token: 2, command: 'conference 3000 hup 3' }]);
    // The captured answer to that very command on B.
    const hup = apiOutput('cascade-b-api', 'conference 3000 hup 3');
    expect(replies(run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: hup }, at: 1 }], asked.state).actions)).toEqual(['ok {"found":true,"memberId":3}']);
    expect(replies(run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: 'Non-Existant ID 3\n' }, at: 1 }], asked.state).actions)).toEqual(['ok {"found":false}']);
  });

  it('conferences reads json_list fresh and answers the snapshot; requests during a reading share it', () => {
    const cmd = (id: string): ConferencesInput => ({ kind: 'conference-command', request: conferencesRequest({ id, nodeId: B, sentAt: 1 }), replyTo: `_INBOX.${id}` });
    const asked = run([cmd('q1'), cmd('q2')], announced(B));
    expect(asked.actions).toEqual([{ kind: 'conference-api', token: 2, command: 'conference json_list' }]);
    const done = run([{ kind: 'conference-api-done', token: 2, reply: { ok: true, output: apiOutput('cascade-b-api', 'conference 3000 json_list', 1) }, at: 77 }], asked.state);
    expect(replies(done.actions)).toEqual([
      'ok {"rooms":[{"room":"3000","conferenceUuid":"2d02aade-f358-4b78-b596-f698e242eea6","members":3,"links":1,"linkIds":[]}],"readAt":77}',
      'ok {"rooms":[{"room":"3000","conferenceUuid":"2d02aade-f358-4b78-b596-f698e242eea6","members":3,"links":1,"linkIds":[]}],"readAt":77}',
    ]);
    allValid(done.actions);
  });

  it('stop refuses what is waiting', () => {
    const asked = run([linkCmd()], hostingA());
    const stopped = run([{ kind: 'stop' }, linkCmd({}, 'c9')], asked.state);
    expect(replies(stopped.actions)).toEqual(['not-ready', 'not-ready']);
  });
});
