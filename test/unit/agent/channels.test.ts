import { describe, expect, it } from 'vitest';
import { decideChannels, INITIAL_CHANNELS, isChannelEvent, readChannelEvent, truncateText, type ChannelsAction, type ChannelsInput, type ChannelsState } from '../../../src/agent/channels.js';
import { encodeChecked } from '../../../src/events/codec.js';
import { MAX_CHANNEL_TEXT, SCHEMA_VERSION } from '../../../src/events/index.js';
import { MAIN_CORE_UUID, plainEvents } from './captures.js';

const A_LEG = 'e64dddbd-f757-419c-8e3a-0ed58a9e3b4d';
const B_LEG = '94183bc3-9192-4a70-9864-bafbdd41a17f';
const TWIN = 'e617b973-50cd-4349-ae2e-bf49ff4e83fe';

function run(inputs: readonly ChannelsInput[], from: ChannelsState = INITIAL_CHANNELS) {
  let state = from;
  const actions: ChannelsAction[] = [];
  for (const input of inputs) {
    const d = decideChannels(state, input);
    state = d.state;
    actions.push(...d.actions);
  }
  return { state, actions };
}

/** Every channel event of a capture, read (all must be readable). */
function fed(capture: string): ChannelsInput[] {
  return plainEvents(capture)
    .filter(isChannelEvent)
    .map((h) => {
      const event = readChannelEvent(h);
      if (!event) throw new Error(`${capture}: unreadable channel event ${h['Event-Sequence']}`);
      return { kind: 'channel-event', event };
    });
}

const published = (capture: string, nodeId: string) => run([{ kind: 'node-announced', nodeId }, ...fed(capture)]).actions.map((a) => a.body);

describe('channels: the main run capture, reduced', () => {
  it('every CHANNEL_CREATE, ANSWER, BRIDGE and HANGUP_COMPLETE of the node becomes one channel message the strict writer takes', () => {
    const bodies = published('plain-events-calls', MAIN_CORE_UUID);
    // 16 channels: 16 creates, 16 answers, 1 bridge, 16 hang-ups (fixture README counts).
    const times = (n: number, e: string): string[] => Array.from({ length: n }, () => e);
    expect(bodies.map((b) => b.event).sort()).toEqual([...times(16, 'answer'), 'bridge', ...times(16, 'create'), ...times(16, 'hangup')]);
    for (const [i, body] of bodies.entries()) {
      const checked = encodeChecked('channel', { v: SCHEMA_VERSION, seq: i, sentAt: 1, ...body });
      expect(checked.ok, JSON.stringify(body)).toBe(true);
    }
  });

  it('the 8000 bridged call: both legs and the twin, with Call-ID, other leg and call UUID as captured', () => {
    const call = published('plain-events-calls', MAIN_CORE_UUID).filter((b) => [A_LEG, B_LEG, TWIN].includes(b.uuid));
    const short = call.map((b) => `${b.event} ${b.uuid.slice(0, 8)} ${b.direction} callId=${b.callId ?? '-'} other=${b.otherLeg?.slice(0, 8) ?? '-'} callUuid=${b.callUuid?.slice(0, 8)}`);
    expect(short).toEqual([
      'create e64dddbd inbound callId=1-5894@127.0.0.1 other=- callUuid=e64dddbd',
      // An outbound leg has no Call-ID before its answer; it names the A-leg from its create on.
      'create 94183bc3 outbound callId=- other=e64dddbd callUuid=e64dddbd',
      'create e617b973 inbound callId=94183bc3-9192-4a70-9864-bafbdd41a17f other=- callUuid=e617b973',
      'answer e617b973 inbound callId=94183bc3-9192-4a70-9864-bafbdd41a17f other=- callUuid=e617b973',
      'answer 94183bc3 outbound callId=94183bc3-9192-4a70-9864-bafbdd41a17f other=e64dddbd callUuid=e64dddbd',
      'answer e64dddbd inbound callId=1-5894@127.0.0.1 other=- callUuid=e64dddbd',
      // One CHANNEL_BRIDGE, on the A-leg.
      'bridge e64dddbd inbound callId=1-5894@127.0.0.1 other=94183bc3 callUuid=e64dddbd',
      // The B-leg's Channel-Call-UUID is its own again on hangup.
      'hangup 94183bc3 outbound callId=94183bc3-9192-4a70-9864-bafbdd41a17f other=e64dddbd callUuid=94183bc3',
      'hangup e64dddbd inbound callId=1-5894@127.0.0.1 other=94183bc3 callUuid=e64dddbd',
      'hangup e617b973 inbound callId=94183bc3-9192-4a70-9864-bafbdd41a17f other=- callUuid=e617b973',
    ]);
    const aHangup = call.find((b) => b.event === 'hangup' && b.uuid === A_LEG);
    expect(aHangup).toEqual({
      nodeId: MAIN_CORE_UUID, event: 'hangup', atUs: 1795247281932540, uuid: A_LEG, direction: 'inbound', callId: '1-5894@127.0.0.1',
      otherLeg: B_LEG, callUuid: A_LEG, caller: 'sipp', callee: '8000', cause: 'NORMAL_CLEARING', sipStatus: 200,
    });
    const bHangup = call.find((b) => b.event === 'hangup' && b.uuid === B_LEG);
    expect(bHangup).toMatchObject({ callee: '9000', cause: 'NORMAL_CLEARING' });
    // The B-leg's hang-up has no sip_term_status in the capture: none published.
    expect(bHangup).not.toHaveProperty('sipStatus');
    expect(call.filter((b) => b.event !== 'hangup').every((b) => b.cause === undefined)).toBe(true);
  });

  it('a conference member: room and member id from its hang-up, where FreeSWITCH shows them', () => {
    const member = published('plain-events-calls', MAIN_CORE_UUID).filter((b) => b.uuid === '7d3e7e8f-92af-4233-8e12-0f575d3d1431');
    expect(member.map((b) => [b.event, b.room, b.memberId])).toEqual([
      ['create', undefined, undefined],
      ['answer', undefined, undefined],
      ['hangup', '3000', 1],
    ]);
  });
});

describe('channels: the cascade captures', () => {
  it('a cascade link leg carries its link id on both nodes: the dialling leg (dial string variable) and the receiving one (X-SBC-Cascade)', () => {
    const a = published('cascade-a-plain', 'a390bc47-c291-42a6-ab48-b98639106ceb').filter((b) => b.link !== undefined);
    const b = published('cascade-b-plain', '56f6295a-1feb-44f5-8540-4cb4de745c8b').filter((x) => x.link !== undefined);
    expect(new Set(a.map((x) => `${x.direction} ${x.link}`))).toEqual(new Set(['outbound 1']));
    expect(new Set(b.map((x) => `${x.direction} ${x.link}`))).toEqual(new Set(['inbound 1']));
    // Node A dialled it: its create has no Call-ID; node B's leg is the same SIP call (Call-ID = A's UUID).
    const aLegs = new Set(a.map((x) => x.uuid));
    expect(a.filter((x) => x.event === 'create').every((x) => x.callId === undefined)).toBe(true);
    expect(b.filter((x) => x.event === 'create').every((x) => x.callId !== undefined && aLegs.has(x.callId))).toBe(true);
  });
});

describe('channels: the machine', () => {
  const create = fed('plain-events-calls')[0] as Extract<ChannelsInput, { kind: 'channel-event' }>;

  it('publishes nothing before a node is announced, nor for another FreeSWITCH process, nor after stop; counts them', () => {
    const before = run([create]);
    expect(before.actions).toEqual([]);
    const other = run([{ kind: 'node-announced', nodeId: 'def08126-e871-4825-97a6-5297749dd33f' }, create]);
    expect(other.actions).toEqual([]);
    const stopped = run([{ kind: 'node-announced', nodeId: MAIN_CORE_UUID }, { kind: 'stop' }, create]);
    expect(stopped.actions).toEqual([]);
    expect(stopped.state.counts.unannounced).toBe(1);
    expect(run([{ kind: 'node-announced', nodeId: MAIN_CORE_UUID }, create]).actions).toHaveLength(1);
  });

  it('a header whose value does not fit is left out and counted, the event still published', () => {
    const h = { ...plainEvents('plain-events-calls').find(isChannelEvent)! };
    const bad = { ...h, variable_sip_call_id: 'has space', 'variable_sip_h_X-SBC-Decision': 'd'.repeat(97), 'variable_sip_h_X-SBC-Room': 'r1', 'variable_sip_h_X-SBC-Cascade': 'bad/link' };
    const read = readChannelEvent(bad)!;
    expect([...read.malformed].sort()).toEqual(['variable_sip_call_id', 'variable_sip_h_X-SBC-Cascade', 'variable_sip_h_X-SBC-Decision']);
    const { state, actions } = run([{ kind: 'node-announced', nodeId: MAIN_CORE_UUID }, { kind: 'channel-event', event: read }]);
    expect(actions[0]?.body).not.toHaveProperty('callId');
    expect(actions[0]?.body.room).toBe('r1');
    expect(state.counts.malformedFields).toBe(3);
    const ok = readChannelEvent({ ...h, 'variable_sip_h_X-SBC-Decision': 'kam-a.42_x' })!;
    expect(ok.edge.decision).toBe('kam-a.42_x');
  });

  it('an event without Unique-ID, Call-Direction or timestamp is unusable', () => {
    const h = plainEvents('plain-events-calls').find(isChannelEvent)!;
    for (const name of ['Unique-ID', 'Call-Direction', 'Event-Date-Timestamp', 'Core-UUID']) {
      const { [name]: _gone, ...rest } = h;
      expect(readChannelEvent(rest), name).toBeUndefined();
    }
  });

  it('free text is cut to its bound and cleaned of what JSON would escape, a surrogate pair kept whole', () => {
    expect(truncateText('a\u0001b\ud800')).toBe('a\ufffdb\ufffd');
    expect(truncateText('x'.repeat(2000))).toHaveLength(MAX_CHANNEL_TEXT);
    const pairs = `${'x'.repeat(MAX_CHANNEL_TEXT - 1)}\u{1F4DE}`;
    expect(truncateText(pairs)).toBe('x'.repeat(MAX_CHANNEL_TEXT - 1));
    expect(truncateText('\u{1F4DE} ok')).toBe('\u{1F4DE} ok');
  });
});
