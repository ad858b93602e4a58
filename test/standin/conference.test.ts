/**
 * Conferences on one stand-in, driven by real SIP calls, compared with the captures:
 *  - member channels: the same event names and header names, in order, as the captured conference
 *    member 7d3e7e8f… of plain-events-calls.esl (its conference::maintenance events aside);
 *  - conference::maintenance: per action, the header names in the captured order (node A of
 *    cascade-a-plain.esl without verbose-events, node B of cascade-b-plain.esl with it);
 *  - the `conference` api replies: byte-exact where the capture has the same state.
 */
import { describe, expect, it } from 'vitest';
import { captureEvents, captureFrames, captureSent } from './captures.js';
import { cjson } from './conference.js';
import { contentType, type EslEvent } from './esl-frames.js';
import { action, h, isConf, names, nonVarNames } from './conferenceEvents.js';
import { api, useStandins } from './fixture.js';
import { header } from './sip-message.js';
import type { Standin } from './standin.js';
import { SipTestUac, type EslTestClient } from './test-clients.js';

const { standin, client, closeLater } = useStandins();


const mainRun = captureEvents('plain-events-calls');
const nodeA = captureEvents('cascade-a-plain');
const nodeB = captureEvents('cascade-b-plain');
const CAPTURED_MEMBER = '7d3e7e8f-92af-4233-8e12-0f575d3d1431';

/** The first captured event of `list` matching `pred`. */
function captured(list: EslEvent[], what: string, pred: (e: EslEvent) => boolean): EslEvent {
  const e = list.find(pred);
  if (!e) throw new Error(`capture has no ${what}`);
  return e;
}
const sippMember = (e: EslEvent) => h(e, 'Caller-Username') === 'sipp';

/** A SIPp-like caller into `dest`, answered and ACKed. */
async function join(s: Standin, dest = '3000', extra: string[] = []): Promise<SipTestUac> {
  const u = closeLater(await SipTestUac.open(s.sipPort, dest));
  u.invite(extra);
  await u.response(200);
  u.ack();
  return u;
}

async function hangUp(u: SipTestUac): Promise<void> {
  u.bye();
  await u.response(200, 'BYE');
}

const uuidOf = (s: Standin, u: SipTestUac) => s.calls.find((c) => c.callId === u.callId)?.uuid ?? '';

async function waitFor(esl: EslTestClient, pred: (e: EslEvent) => boolean, what: string, from = 0): Promise<EslEvent> {
  return esl.waitForEvent(pred, what, 3000, from);
}

describe('dialplan', () => {
  it('3xxx and X-SBC-Room join a conference; other numbers and bad room names keep the tone extension', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain ALL');
    const a = await join(s, '3000');
    const b = await join(s, '9000', ['X-SBC-Room: sales.eu-1/room_2']);
    const c = await join(s, '9000');
    const d = await join(s, '3001', ['X-SBC-Room: bad room']);
    const e = await join(s, '30000');
    await waitFor(esl, (ev) => h(ev, 'Unique-ID') === uuidOf(s, e) && h(ev, 'Event-Name') === 'PLAYBACK_START', 'tone of 30000');
    expect(s.conferenceList().map((x) => [x.name, x.members.map((m) => m.uuid)])).toEqual([
      ['3000', [uuidOf(s, a)]],
      ['sales.eu-1/room_2', [uuidOf(s, b)]],
    ]);
    for (const u of [c, d, e]) {
      const uuid = uuidOf(s, u);
      await waitFor(esl, (ev) => h(ev, 'Unique-ID') === uuid && h(ev, 'Event-Name') === 'PLAYBACK_START', `tone of ${u.dest}`);
    }
    const rows = (JSON.parse(await api(await client(s), 'show channels as json')) as { rows: Array<Record<string, string>> }).rows;
    expect(rows.find((r) => r['uuid'] === uuidOf(s, a))).toMatchObject({ application: 'conference', application_data: '3000@default', dest: '3000' });
    const confApps = esl.events().filter((ev) => h(ev, 'Event-Name') === 'CHANNEL_EXECUTE' && h(ev, 'Application') === 'conference');
    expect(confApps.map((ev) => h(ev, 'Application-Data'))).toEqual(['3000@default', 'sales.eu-1/room_2@default']);
  });

  it('roomPattern replaces the 3xxx rule', async () => {
    const s = await standin({ roomPattern: /^conf-\d+$/ });
    await join(s, 'conf-7');
    await join(s, '3000');
    expect(s.conferenceList().map((x) => x.name)).toEqual(['conf-7']);
  });
});

describe('a room on one node (verboseEvents off, like node A)', () => {
  it('member channel events: the captured conference member channel, event by event', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain ALL');
    const u = await join(s);
    await waitFor(esl, action('add-member'), 'add-member');
    await hangUp(u);
    const uuid = uuidOf(s, u);
    await waitFor(esl, (e) => h(e, 'Unique-ID') === uuid && h(e, 'Channel-State') === 'CS_DESTROY', 'CS_DESTROY');
    const mine = esl.events().filter((e) => h(e, 'Unique-ID') === uuid && !isConf(e));
    const theirs = mainRun.filter((e) => h(e, 'Unique-ID') === CAPTURED_MEMBER && !isConf(e));
    expect(mine.map((e) => h(e, 'Event-Name'))).toEqual(theirs.map((e) => h(e, 'Event-Name')));
    mine.forEach((e, i) => expect(names(e), `${i}: ${h(e, 'Event-Name')}`).toEqual(names(theirs[i]!)));
    // With its conference::maintenance events in between, in the captured order.
    const label = (e: EslEvent) => (isConf(e) ? h(e, 'Action') : h(e, 'Event-Name'));
    const withConf = (list: EslEvent[], id: string) => list.filter((e) => h(e, 'Unique-ID') === id).map(label);
    expect(withConf(esl.events(), uuid)).toEqual(withConf(mainRun, CAPTURED_MEMBER));
    const hangup = mine.find((e) => h(e, 'Event-Name') === 'CHANNEL_HANGUP');
    expect(h(hangup, 'variable_conference_name')).toBe('3000');
    expect(h(hangup, 'variable_conference_member_id')).toBe('1');
    expect(h(hangup, 'variable_conference_uuid')).toBe(h(esl.events().find(action('conference-create')), 'Conference-Unique-ID'));
    expect(h(mine.find((e) => h(e, 'Event-Name') === 'CHANNEL_HANGUP_COMPLETE'), 'variable_last_app')).toBe('conference');
  });

  it('create, add, floor, del (Hangup-Cause after BYE), destroy: captured header names and order; sizes, IDs, UUIDs', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain CUSTOM conference::maintenance');
    const one = await join(s);
    const two = await join(s);
    await waitFor(esl, (e) => action('add-member')(e) && h(e, 'Member-ID') === '2', 'second add-member');
    await hangUp(one);
    await hangUp(two);
    const destroyed = await waitFor(esl, action('conference-destroy'), 'conference-destroy');
    const evs = esl.events();
    expect(evs.map((e) => `${h(e, 'Action')} ${h(e, 'Member-ID') ?? '-'} ${h(e, 'Conference-Size')}`)).toEqual([
      'conference-create - 0',
      'add-member 1 1',
      'floor-change 1 1',
      'add-member 2 2',
      'floor-change - 2', // the floor holder (member 1) leaves: Old-ID none, New-ID none
      'del-member 1 1',
      'del-member 2 0',
      'conference-destroy - 0',
    ]);
    const uuid = h(destroyed, 'Conference-Unique-ID');
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    for (const e of evs) expect(h(e, 'Conference-Unique-ID')).toBe(uuid);
    expect(h(evs[1], 'Unique-ID')).toBe(uuidOf(s, one));
    expect(h(evs[1], 'Channel-Call-UUID')).toBe(uuidOf(s, one));
    expect(h(evs[1], 'Caller-Caller-ID-Number')).toBe('sipp');
    expect(h(evs[1], 'Member-Type')).toBe('member');
    expect(h(evs[2], 'Floor')).toBe('true');
    expect(h(evs[5], 'Hangup-Cause')).toBe('NORMAL_CLEARING');
    expect(h(evs[5], 'Answer-State')).toBe('hangup');

    // Header names, in order, as node A captured them.
    const del = captured(nodeA, 'del-member after BYE', (e) => action('del-member')(e) && sippMember(e) && h(e, 'Hangup-Cause') !== undefined);
    const shapes: Array<[EslEvent | undefined, EslEvent]> = [
      [evs[0], captured(nodeA, 'conference-create', action('conference-create'))],
      [evs[1], captured(nodeA, 'add-member', (e) => action('add-member')(e) && sippMember(e))],
      [evs[2], captured(nodeA, 'floor-change', (e) => action('floor-change')(e) && sippMember(e))],
      [evs[4], captured(nodeA, 'floor-change none', (e) => action('floor-change')(e) && h(e, 'Unique-ID') === undefined)],
      [evs[5], del],
      [evs[7], captured(nodeA, 'conference-destroy', action('conference-destroy'))],
    ];
    for (const [mine, theirs] of shapes) expect(names(mine!), h(theirs, 'Action')).toEqual(names(theirs));

    // A new lifetime: new Conference-Unique-ID; member IDs go on counting.
    const from = esl.events().length;
    await join(s);
    const again = await waitFor(esl, action('add-member'), 'add-member again', from);
    expect(h(again, 'Member-ID')).toBe('3');
    expect(h(again, 'Conference-Unique-ID')).not.toBe(uuid);
  });

  it('member IDs start again at 1 after a restart', async () => {
    const s = await standin();
    await join(s);
    await join(s);
    expect(s.conferenceList()[0]?.members.map((m) => m.memberId)).toEqual([2, 1]);
    await s.restart({ eslReadyDelayMs: 0 });
    expect(s.conferenceList()).toEqual([]);
    await join(s);
    expect(s.conferenceList()[0]?.members.map((m) => m.memberId)).toEqual([1]);
  });

  it('api: list, <name> list, json_list (one and all), not found, dial/bgdial without arguments', async () => {
    const s = await standin();
    const c = await client(s);
    expect(await api(c, 'conference list')).toBe('+OK No active conferences.\n');
    expect(await api(c, 'conference 9999 list')).toBe('-ERR Conference 9999 not found\n');
    const one = await join(s);
    const two = await join(s);
    const [u1, u2] = [uuidOf(s, one), uuidOf(s, two)];
    const line = (id: number, u: SipTestUac, uuid: string, floor: boolean) =>
      `${id};sofia/internal/sipp@127.0.0.1:${u.port};${uuid};sipp;sipp;hear|speak${floor ? '|floor' : ''};0;0;100\n`;
    const members = line(2, two, u2, false) + line(1, one, u1, true);
    expect(await api(c, 'conference 3000 list')).toBe(members);
    expect(await api(c, 'conference list')).toBe(
      '+OK Conference 3000 (2 members rate: 8000 flags: running|answered|enforce_min|dynamic|exit_sound|enter_sound|json_status)\n' + members,
    );
    // json_list: cJSON's layout; the capture's text with this run's values substituted.
    const capturedJson = capturedApi('api-replies', 'api conference 3000 json_list');
    // The printer reproduces the captured text byte for byte from its own values.
    expect(cjson(JSON.parse(capturedJson) as never, 0)).toBe(capturedJson);
    const mine = await api(c, 'conference 3000 json_list');
    const parsed = JSON.parse(mine) as Array<{ conference_uuid: string; members: Array<{ id: number; uuid: string }> }>;
    expect(parsed[0]?.conference_uuid).toBe(s.conferenceList()[0]?.uuid);
    expect(parsed[0]?.members.map((m) => [m.id, m.uuid])).toEqual([[2, u2], [1, u1]]);
    // Same text as the captured three-member reply with its newest member taken out.
    const mask = (t: string) => t.replace(/"(run_time|join_time)":\t\d+/g, '"$1":\t#').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>');
    expect(mask(mine)).toBe(mask(cjsonLike(capturedJson, 2)));
    expect(mask(await api(c, 'conference json_list'))).toBe(mask(mine));
    expect(await api(c, 'conference 3000 dial')).toBe('-ERR Bad Args\ndial <endpoint_module_name>/<destination> <callerid number> <callerid name>');
    expect(await api(c, 'conference 3000 bgdial')).toBe('-ERR Bad Args\nbgdial <endpoint_module_name>/<destination> <callerid number> <callerid name>');
    expect(await api(c, 'conference 3000 hup 99')).toBe('-ERR Non-Existant ID 99\n');
    expect(await api(c, 'conference 3000 hup')).toBe('hup <[member_id|all|last|non_moderator]>');
    expect(await api(c, 'conference 3000 bogus')).toBe("Conference command 'bogus' not found.\n");
    expect(await api(c, 'conference 3000')).toBe("Conference command, not specified.\nTry 'help'\n");
    expect(s.conferenceList()[0]?.members).toHaveLength(2);
  });

  it('hup <id>: hup-member, del-member without Hangup-Cause, then BYE and CHANNEL_HANGUP; hup all: one line per member', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain ALL');
    const c = await client(s);
    const one = await join(s);
    const two = await join(s);
    const three = await join(s);
    await waitFor(esl, (e) => action('add-member')(e) && h(e, 'Member-ID') === '3', 'third member');
    const from = esl.events().length;
    expect(await api(c, 'conference 3000 hup 2')).toBe('+OK hup 2\n');
    const bye = await two.request('BYE');
    expect(header(bye, 'Reason')).toBe('Q.850;cause=16;text="NORMAL_CLEARING"');
    two.answerBye(bye);
    const u2 = uuidOf(s, two);
    await waitFor(esl, (e) => h(e, 'Unique-ID') === u2 && h(e, 'Channel-State') === 'CS_DESTROY', 'CS_DESTROY', from);
    const seq = esl.events().slice(from).filter((e) => h(e, 'Unique-ID') === u2 || isConf(e));
    const labels = seq.map((e) => (isConf(e) ? h(e, 'Action') : h(e, 'Event-Name')));
    expect(labels.slice(0, 5)).toEqual(['hup-member', 'del-member', 'CODEC', 'CHANNEL_EXECUTE_COMPLETE', 'CHANNEL_HANGUP']);
    const hup = seq[0]!;
    const del = seq[1]!;
    expect(h(del, 'Hangup-Cause')).toBeUndefined();
    expect(h(del, 'Conference-Size')).toBe('2');
    expect(h(hup, 'Conference-Size')).toBe('3');
    // Node A's hup was of an outbound leg: compare with its inbound counterpart's header names.
    const inboundShape = (e: EslEvent) => names(e).filter((k) => !/^Caller-(Callee|Dialplan|Username)/.test(k));
    expect(inboundShape(hup)).toEqual(inboundShape(captured(nodeA, 'hup-member', action('hup-member'))));
    expect(inboundShape(del)).toEqual(inboundShape(captured(nodeA, 'del-member after hup', (e) => action('del-member')(e) && h(e, 'Hangup-Cause') === undefined)));
    expect(h(seq[4], 'Hangup-Cause')).toBe('NORMAL_CLEARING');

    const from2 = esl.events().length;
    expect(await api(c, 'conference 3000 hup all')).toBe('+OK hup 3\n+OK hup 1\n');
    for (const u of [one, three]) u.answerBye(await u.request('BYE'));
    await waitFor(esl, action('conference-destroy'), 'conference-destroy', from2);
    expect(await api(c, 'conference list')).toBe('+OK No active conferences.\n');
    expect(s.activeSessions()).toBe(0);
  });

  it('kick <id>: the member leaves with BYE; uuid_kill of a member: BYE, del-member with Hangup-Cause', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain CUSTOM conference::maintenance');
    const c = await client(s);
    const one = await join(s);
    const two = await join(s);
    expect(await api(c, 'conference 3000 kick 1')).toBe('+OK kicked 1\n');
    one.answerBye(await one.request('BYE'));
    const kick = await waitFor(esl, action('kick-member'), 'kick-member');
    expect(h(kick, 'Member-ID')).toBe('1');
    expect(await api(c, `uuid_kill ${uuidOf(s, two)}`)).toBe('+OK\n');
    two.answerBye(await two.request('BYE'));
    const del = await waitFor(esl, (e) => action('del-member')(e) && h(e, 'Member-ID') === '2', 'del-member 2');
    expect(h(del, 'Hangup-Cause')).toBe('NORMAL_CLEARING');
    await waitFor(esl, action('conference-destroy'), 'conference-destroy');
  });
});

describe('hupall (hupall-b-*)', () => {
  it('every member hung up with the cause: BYE, del-member with Hangup-Cause, no hup-member, conference-destroy', async () => {
    const s = await standin({ verboseEvents: true });
    const esl = await client(s, 'event plain ALL');
    const c = await client(s);
    const one = await join(s);
    const two = await join(s);
    const tone = await join(s, '9000');
    expect(await api(c, 'hupall MANAGER_REQUEST')).toBe('+OK hangup all channels with cause MANAGER_REQUEST\n');
    for (const u of [one, two, tone]) {
      const bye = await u.request('BYE');
      expect(header(bye, 'Reason')).toBe('SIP;cause=503;text="MANAGER_REQUEST"');
      u.answerBye(bye);
    }
    await waitFor(esl, action('conference-destroy'), 'conference-destroy');
    const dels = esl.events().filter(action('del-member'));
    expect(dels.map((e) => h(e, 'Hangup-Cause'))).toEqual(['MANAGER_REQUEST', 'MANAGER_REQUEST']);
    expect(esl.events().some(action('hup-member'))).toBe(false);
    const theirs = captured(captureEvents('hupall-b-plain'), 'hupall del-member', (e) => action('del-member')(e) && h(e, 'Hangup-Cause') === 'MANAGER_REQUEST');
    expect(nonVarNames(dels[0]!)).toEqual(nonVarNames(theirs));
    expect(s.activeSessions()).toBe(0);
  });
});

describe('verboseEvents (like node B)', () => {
  it('member events carry the channel variables, X- headers among them; conference-create the first member', async () => {
    const s = await standin({ verboseEvents: true });
    const esl = await client(s, 'event plain CUSTOM conference::maintenance');
    const u = await join(s, '3000', ['X-SBC-Cascade: link-7']);
    const add = await waitFor(esl, action('add-member'), 'add-member');
    const create = esl.events().find(action('conference-create'));
    expect(h(add, 'variable_sip_h_X-SBC-Cascade')).toBe('link-7');
    expect(h(add, 'variable_conference_member_flags')).toBe('nomoh');
    expect(h(add, 'variable_sip_call_id')).toBe(u.callId);
    expect(h(create, 'Unique-ID')).toBe(uuidOf(s, u));
    const theirAdd = captured(nodeB, 'B add-member of the link', (e) => action('add-member')(e) && h(e, 'variable_sip_h_X-SBC-Cascade') !== undefined);
    expect(nonVarNames(add)).toEqual(nonVarNames(theirAdd));
    expect(nonVarNames(create!)).toEqual(nonVarNames(captured(nodeB, 'B conference-create', action('conference-create'))));
    // Variables sit where node B has them: after the channel headers, before Video.
    const firstVar = names(add).findIndex((k) => k.startsWith('variable_'));
    expect(names(add)[firstVar - 1]).toBe('Caller-Privacy-Hide-Number');
    expect(s.conferenceList()[0]?.members[0]).toMatchObject({ link: true, linkId: 'link-7', direction: 'inbound' });
    const c = await client(s);
    expect(await api(c, `uuid_getvar ${uuidOf(s, u)} sip_h_X-SBC-Cascade`)).toBe('link-7');
  });

  it('without verboseEvents no variable is shown, even for a link', async () => {
    const s = await standin();
    const esl = await client(s, 'event plain CUSTOM conference::maintenance');
    await join(s, '3000', ['X-SBC-Cascade: 1']);
    const add = await waitFor(esl, action('add-member'), 'add-member');
    expect(names(add).some((k) => k.startsWith('variable_'))).toBe(false);
  });
});

/** The first api/response body of a capture for exactly this command. */
function capturedApi(file: string, cmd: string): string {
  const sent = captureSent(file).filter((c) => c.startsWith('api '));
  const outs = captureFrames(file).filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
  const i = sent.indexOf(cmd);
  if (i < 0) throw new Error(`${file} has no ${cmd}`);
  return outs[i] ?? '';
}

/** The captured json_list reply reprinted with only its last `keep` members (cJSON layout). */
function cjsonLike(text: string, keep: number): string {
  const v = JSON.parse(text) as Array<{ member_count: number; members: unknown[] }>;
  for (const c of v) {
    c.members = c.members.slice(-keep);
    c.member_count = keep;
  }
  return cjson(v as never, 0);
}
