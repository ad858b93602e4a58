import { randomUUID } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';
import type { EventBus } from './events.js';
import { conferenceTemplates, fill, type Resolve } from './templates.js';

/**
 * mod_conference as the captures show it: rooms created by their first member and destroyed when
 * the last one leaves, member IDs counting up per process, conference::maintenance events rendered
 * from templates/conference.json, and the `conference` api command's outputs.
 */

/** A channel that sits in a conference: an inbound SIP call (call.ts) or a dialled leg (outbound.ts). */
export interface MemberChannel {
  readonly uuid: string;
  readonly direction: 'inbound' | 'outbound';
  /** Channel-Name, as `conference list` shows it. */
  readonly channelName: string;
  /** caller_id_name / caller_id_number as json_list and list show them. */
  readonly callerIdName: string;
  readonly callerIdNumber: string;
  /** The SIP peer of the channel. */
  readonly peer: { address: string; port: number };
  /** The X-SBC-Cascade value (inbound link) or the dial string's sip_h_X-SBC-Cascade (outbound link). */
  readonly linkId: string | undefined;
  /** True once the channel has hung up (del-member then carries Hangup-Cause). */
  readonly hungUp: boolean;
  /** Placeholder values for the channel headers. */
  value(key: string): string | undefined;
  /** The channel variables, filled, for verbose-events. */
  variables(): HeaderList;
  /** `conference … hup|kick`: the member leaves first, then the channel hangs up with BYE. */
  hupFromConference(action: 'hup-member' | 'kick-member'): void;
}

export interface Member {
  readonly id: number;
  readonly channel: MemberChannel;
  readonly joinedMs: number;
}

export interface ConferenceView {
  name: string;
  uuid: string;
  createdAt: number;
  members: Array<{
    uuid: string;
    memberId: number;
    link: boolean;
    linkId: string | undefined;
    direction: 'inbound' | 'outbound';
    peer: { address: string; port: number };
    floor: boolean;
  }>;
}

export class Conference {
  readonly uuid = randomUUID();
  readonly createdMs = Date.now();
  /** Newest first, as `list` and `json_list` print them. */
  readonly members: Member[] = [];
  floor: Member | undefined;
  constructor(readonly name: string) {}
}

const LIST_FLAGS = 'running|answered|enforce_min|dynamic|exit_sound|enter_sound|json_status';

export class Conferences {
  private nextMemberId = 1;
  readonly rooms = new Map<string, Conference>();

  constructor(
    private readonly bus: EventBus,
    private readonly verbose: boolean,
  ) {}

  /** After a restart: member IDs start again at 1. */
  reset(): void {
    this.rooms.clear();
    this.nextMemberId = 1;
  }

  get(name: string): Conference | undefined {
    return this.rooms.get(name);
  }

  /** The conference app starting: conference-create for a new room (before the member's CODEC event). */
  open(name: string, first: MemberChannel): Conference {
    let conf = this.rooms.get(name);
    if (!conf) {
      conf = new Conference(name);
      this.rooms.set(name, conf);
      this.fire('conference-create', conf, first);
    }
    return conf;
  }

  /** add-member, then floor-change when nobody holds the floor. */
  join(name: string, ch: MemberChannel): Member {
    const conf = this.open(name, ch);
    const m: Member = { id: this.nextMemberId++, channel: ch, joinedMs: Date.now() };
    conf.members.unshift(m);
    this.fire('add-member', conf, ch, m);
    if (!conf.floor) {
      conf.floor = m;
      this.fire('floor-change', conf, ch, m);
    }
    return m;
  }

  /** del-member (with Hangup-Cause when the channel hung up first); the room lives on until settle(). */
  leave(m: Member): void {
    const conf = this.roomOf(m);
    if (!conf) return;
    if (conf.floor === m) {
      conf.floor = undefined;
      this.fire('floor-change-none', conf);
    }
    conf.members.splice(conf.members.indexOf(m), 1);
    this.fire('del-member', conf, m.channel, m);
  }

  /** After the leaving channel's own events: conference-destroy when it was the last member. */
  settle(name: string): void {
    const conf = this.rooms.get(name);
    if (!conf || conf.members.length > 0) return;
    this.rooms.delete(name);
    this.fire('conference-destroy', conf);
  }

  /** hup-member / kick-member (fired by `conference … hup|kick`, before the member leaves). */
  announceHup(m: Member, action: 'hup-member' | 'kick-member'): void {
    const conf = this.roomOf(m);
    if (conf) this.fire(action, conf, m.channel, m);
  }

  bgdialResult(conf: Conference, jobUuid: string, result: string, peerUuid: string): void {
    this.fire('bgdial-result', conf, undefined, undefined, { jobUuid, result, peerUuid });
  }

  roomOf(m: Member): Conference | undefined {
    for (const c of this.rooms.values()) if (c.members.includes(m)) return c;
    return undefined;
  }

  view(): ConferenceView[] {
    return [...this.rooms.values()].map((c) => ({
      name: c.name,
      uuid: c.uuid,
      createdAt: c.createdMs,
      members: c.members.map((m) => ({
        uuid: m.channel.uuid,
        memberId: m.id,
        link: m.channel.linkId !== undefined,
        linkId: m.channel.linkId,
        direction: m.channel.direction,
        peer: { ...m.channel.peer },
        floor: c.floor === m,
      })),
    }));
  }

  // ---- events ----

  private fire(action: string, conf: Conference, ch?: MemberChannel, m?: Member, extra: Record<string, string> = {}): void {
    const t = conferenceTemplates();
    const shape = (this.verbose ? t.verbose : t.plain)[action === 'kick-member' ? 'hup-member' : action];
    if (!shape) throw new Error(`no conference template for ${action}`);
    const confValue: Resolve = (k) => {
      switch (k) {
        case 'confName': return conf.name;
        case 'confSize': return String(conf.members.length);
        case 'confUuid': return conf.uuid;
        case 'memberId': return m ? String(m.id) : undefined;
        case 'floor': return String(m !== undefined && conf.floor === m);
        default: return extra[k];
      }
    };
    const out: HeaderList = [];
    const add = (list: HeaderList, resolve: Resolve) => {
      for (const [k, v] of list) {
        const filled = fill(v, resolve);
        if (filled !== undefined) out.push([k, filled]);
      }
    };
    for (const part of shape.parts) {
      if (part === '$conf') add(t.conf, confValue);
      else if (part === '$floor') add([['Floor', '{{floor}}']], confValue);
      else if (part === '$member') add(t.member, confValue);
      else if (part === '$channel' && ch) {
        const block = ch.direction === 'inbound' ? (ch.hungUp ? t.channel.inboundHungup : t.channel.inbound) : ch.hungUp ? t.channel.outboundHungup : t.channel.outbound;
        add(block, (k) => ch.value(k));
      } else if (part === '$vars' && ch) out.push(...ch.variables());
      else if (part.startsWith('$')) continue;
      else {
        const block = t.blocks[part];
        if (!block) throw new Error(`conference template block ${part} missing`);
        add(action === 'kick-member' ? block.map(([k, v]) => [k, k === 'Action' ? 'kick-member' : v]) : block, confValue);
      }
    }
    const calling = action === 'kick-member' ? (['conference_api.c', 'conference_api_sub_kick', '0'] as [string, string, string]) : shape.calling;
    this.bus.fire('CUSTOM', calling, out, { subclass: 'conference::maintenance' });
  }

  // ---- api output ----

  /** `conference list` with no room name. */
  listAll(): string {
    if (this.rooms.size === 0) return '+OK No active conferences.\n';
    let out = '';
    for (const c of this.rooms.values()) {
      const n = c.members.length;
      out += `+OK Conference ${c.name} (${n} member${n === 1 ? '' : 's'} rate: 8000 flags: ${LIST_FLAGS})\n${this.list(c)}`;
    }
    return out;
  }

  /** `conference <name> list`: one line per member, newest first. */
  list(c: Conference): string {
    return c.members
      .map((m) => `${m.id};${m.channel.channelName};${m.channel.uuid};${m.channel.callerIdName};${m.channel.callerIdNumber};hear|speak${c.floor === m ? '|floor' : ''};0;0;100\n`)
      .join('');
  }

  /** `conference [<name>] json_list`, printed the way cJSON_Print does (tabs, `key":\tvalue`). */
  jsonList(rooms: Conference[]): string {
    const now = Date.now();
    const secs = (ms: number) => Math.floor((now - ms) / 1000);
    return cjson(
      rooms.map((c) => ({
        conference_name: c.name,
        member_count: c.members.length,
        ghost_count: 0,
        rate: 8000,
        run_time: secs(c.createdMs),
        conference_uuid: c.uuid,
        canvas_count: 0,
        max_bw_in: 0,
        force_bw_in: 0,
        video_floor_packets: 0,
        locked: false,
        destruct: false,
        wait_mod: false,
        audio_always: false,
        running: true,
        answered: true,
        enforce_min: true,
        bridge_to: false,
        dynamic: true,
        exit_sound: true,
        enter_sound: true,
        recording: false,
        video_bridge: false,
        video_floor_only: false,
        video_rfc4579: false,
        variables: {},
        members: c.members.map((m) => ({
          type: 'caller',
          id: m.id,
          flags: {
            can_hear: true, can_see: true, can_speak: true, hold: false, mute_detect: false, talking: false, has_video: false,
            video_bridge: false, has_floor: c.floor === m, is_moderator: false, end_conference: false,
            mandatory_member_end_conference: false, pass_digits: false,
          },
          uuid: m.channel.uuid,
          caller_id_name: m.channel.callerIdName,
          caller_id_number: m.channel.callerIdNumber,
          join_time: secs(m.joinedMs),
          last_talking: 0,
          energy: 100,
          volume_in: 0,
          volume_out: 0,
          'output-volume': 0,
          'input-volume': 0,
        })),
      })),
      0,
    );
  }
}

type Json = string | number | boolean | Json[] | { [k: string]: Json };

/** cJSON_Print's formatted output, as the captured json_list replies show it. */
export function cjson(v: Json, depth: number): string {
  if (Array.isArray(v)) return `[${v.map((x) => cjson(x, depth + 1)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0) return `{\n${'\t'.repeat(depth)}}`;
    const body = entries.map(([k, x]) => `${'\t'.repeat(depth + 1)}${JSON.stringify(k)}:\t${cjson(x, depth + 1)}`).join(',\n');
    return `{\n${body}\n${'\t'.repeat(depth)}}`;
  }
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
