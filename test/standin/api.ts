import type { Call } from './call.js';
import { conferenceApi, type ConferenceApiHost } from './conference-api.js';
import { sofia, type SofiaHost } from './api-sofia.js';
import { localStamp, type Identity } from './events.js';
import { upTime, type SessionStats } from './stats.js';

export const VERSION = '1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit';
const VERSION_LINE = `FreeSWITCH Version ${VERSION} (git 3f13ad1 2026-08-09 16:23:10Z 64bit)\n`;
const READY_NAME = 'FreeSWITCH (Version 1.11.2-release git 3f13ad1 2026-08-09 16:23:10Z 64bit)';

/**
 * The core's pause flags: SCF_NO_NEW_INBOUND_SESSIONS and SCF_NO_NEW_OUTBOUND_SESSIONS. There is no
 * third flag: SCF_NO_NEW_SESSIONS is both bits together (switch_types.h), so `fsctl pause` sets
 * both, `fsctl resume inbound` after it clears one, and `pause_check` asks whether both are set.
 */
export interface Pause {
  inbound: boolean;
  outbound: boolean;
}

/** switch_core_ready_inbound(): no new inbound sessions while the inbound bit is set. */
export function inboundPaused(p: Pause): boolean {
  return p.inbound;
}

/** switch_core_ready(): false only when both bits are set (`fsctl pause inbound` alone leaves it ready). */
function coreReady(p: Pause): boolean {
  return !(p.inbound && p.outbound);
}

/** What the api commands read from (and do to) the running switch. */
export interface ApiHost extends SofiaHost, ConferenceApiHost {
  readonly identity: Identity;
  readonly maxSessions: number;
  readonly stats: SessionStats;
  /** fsctl pause flags. */
  readonly pause: Pause;
  /** runtime.sps_total: `fsctl sps` reads it, `fsctl sps <n>` (n > 0) sets it. */
  sessionsPerSecondLimit: number;
  uptimeUs(): number;
  activeCalls(): Call[];
  /** `fsctl shutdown`: the reply goes out first, SHUTDOWN follows later (see lifecycle.ts). */
  requestShutdown(): void;
  killChannel(uuid: string, cause: string): boolean;
  /** `hupall`: every channel (calls and dialled legs) hung up with this cause, BYE sent. */
  hangupAll(cause: string): void;
  /** A channel variable of an inbound call or a dialled leg; null: no such channel. */
  channelVar(uuid: string, name: string): string | undefined | null;
}

/** Runs one api command with mod_commands / mod_sofia output formats; undefined if unknown. */
export function runApi(host: ApiHost, cmd: string, arg: string | undefined): string | Promise<string> | undefined {
  const args = (arg ?? '').trim().split(/\s+/).filter((a) => a !== '');
  switch (cmd) {
    case 'version':
      return VERSION_LINE;
    case 'status':
      return status(host);
    case 'hostname':
      return host.identity.hostname;
    case 'global_getvar':
      return globalVar(host, args[0]);
    case 'sofia':
      return sofia(host, args);
    case 'show':
      return show(host, args);
    case 'fsctl':
      return fsctl(host, args);
    case 'uuid_kill':
      return host.killChannel(args[0] ?? '', args[1] ?? 'NORMAL_CLEARING') ? '+OK\n' : '-ERR No such channel!\n';
    case 'uuid_getvar': {
      const v = host.channelVar(args[0] ?? '', args[1] ?? '');
      if (v === null) return '-ERR No such channel!\n';
      return v ?? '_undef_';
    }
    case 'conference':
      return conferenceApi(host, args);
    case 'hupall': {
      // hupall-b-api.esl; mod_commands takes MANAGER_REQUEST when no cause is given.
      const cause = (args[0] ?? 'MANAGER_REQUEST').toUpperCase();
      host.hangupAll(cause);
      return `+OK hangup all channels with cause ${cause}\n`;
    }
    default:
      return undefined;
  }
}

function status(host: ApiHost): string {
  const s = host.stats;
  const ready = coreReady(host.pause) ? 'is ready' : 'is not ready';
  return (
    `UP ${upTime(host.uptimeUs())}\n` +
    `${READY_NAME} ${ready}\n` +
    `${s.sinceStartup} session(s) since startup\n` +
    `${s.count} session(s) - peak ${s.peak}, last 5min ${s.peakFiveMin()} \n` +
    `${s.perSecLast()} session(s) per Sec out of max 30, peak ${s.perSecMax}, last 5min ${s.perSecFiveMin()} \n` +
    `${host.maxSessions} session(s) max\n` +
    'min idle cpu 0.00/99.00\n' +
    'Current Stack Size/Max 240K/8192K\n'
  );
}

function globalVar(host: ApiHost, name: string | undefined): string {
  const vars: Record<string, string> = {
    core_uuid: host.identity.coreUuid,
    hostname: host.identity.hostname,
    switchname: host.identity.hostname,
    local_ip_v4: host.identity.ipv4,
    local_ip_v6: host.identity.ipv6,
  };
  if (name === undefined) return Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join('');
  return vars[name] ?? '';
}

/** `show calls|channels [count|as json]`: rows as in the capture, `\nN total.\n` counts. */
function show(host: ApiHost, args: string[]): string {
  const what = args[0];
  if (what !== 'calls' && what !== 'channels') return '-USAGE: show calls|channels [count|as json]\n';
  const calls = host.activeCalls();
  if (args[1] === 'count') return `\n${calls.length} total.\n`;
  const rows = calls.map((c) => (what === 'channels' ? channelRow(host, c) : callRow(host, c)));
  if (args[1] === 'as' && args[2] === 'json') {
    return rows.length === 0 ? '{"row_count": 0}\n' : JSON.stringify({ row_count: rows.length, rows });
  }
  if (rows.length === 0) return '\n0 total.\n';
  const cols = Object.keys(rows[0] ?? {});
  return `${cols.join(',')}\n${rows.map((r) => `${cols.map((k) => r[k] ?? '').join(',')}\n`).join('')}\n${rows.length} total.\n`;
}

function common(host: ApiHost, c: Call): Record<string, string> {
  const v = c.values;
  return {
    uuid: c.uuid,
    direction: 'inbound',
    created: localStamp(c.createdMs),
    created_epoch: String(Math.floor(c.createdMs / 1000)),
    name: `sofia/${host.profile}/${v.fromUri ?? ''}`,
    state: 'CS_EXECUTE',
    cid_name: v.callerName ?? '',
    cid_num: v.fromUser ?? '',
    ip_addr: v.remoteIp ?? '',
    dest: v.dest ?? '',
  };
}

function channelRow(host: ApiHost, c: Call): Record<string, string> {
  const v = c.values;
  const media = c.state === 'ringing' ? ['', '', ''] : ['PCMU', '8000', '64000'];
  return {
    ...common(host, c),
    application: c.currentApp,
    application_data: c.currentApp === 'playback' ? 'tone_stream://%(1000,500,440);loops=2' : c.currentApp === 'conference' ? `${c.route?.room ?? ''}@default` : '',
    dialplan: 'XML', context: 'public',
    read_codec: media[0]!, read_rate: media[1]!, read_bit_rate: media[2]!,
    write_codec: media[0]!, write_rate: media[1]!, write_bit_rate: media[2]!,
    secure: '', hostname: host.identity.hostname, presence_id: v.presenceId ?? '', presence_data: '', accountcode: '',
    callstate: c.state === 'ringing' ? 'RINGING' : 'ACTIVE',
    callee_name: '', callee_num: '', callee_direction: '', call_uuid: '', sent_callee_name: '', sent_callee_num: '',
    initial_cid_name: v.callerName ?? '', initial_cid_num: v.fromUser ?? '', initial_ip_addr: v.remoteIp ?? '',
    initial_dest: v.dest ?? '', initial_dialplan: 'XML', initial_context: 'public',
  };
}

function callRow(host: ApiHost, c: Call): Record<string, string> {
  const v = c.values;
  const b = ['uuid', 'direction', 'created', 'created_epoch', 'name', 'state', 'cid_name', 'cid_num', 'ip_addr', 'dest',
    'presence_id', 'presence_data', 'accountcode', 'callstate', 'callee_name', 'callee_num', 'callee_direction',
    'sent_callee_name', 'sent_callee_num'];
  return {
    ...common(host, c),
    presence_id: v.presenceId ?? '', presence_data: '', accountcode: '',
    callstate: c.state === 'ringing' ? 'RINGING' : 'ACTIVE',
    callee_name: '', callee_num: '', callee_direction: '', call_uuid: '', hostname: host.identity.hostname,
    sent_callee_name: '', sent_callee_num: '',
    ...Object.fromEntries(b.map((k) => [`b_${k}`, ''])),
    call_created_epoch: '',
  };
}

// mod_commands.c ctl_function(): CTL_SYNTAX as in signalwire/freeswitch (the version the code index
// holds); no capture shows this text, so the 1.11.2 list may differ.
const CTL_SYNTAX =
  '[recover|send_sighup|hupall|pause [inbound|outbound]|resume [inbound|outbound]|shutdown [cancel|elegant|asap|now|restart]|' +
  'sps|sync_clock|sync_clock_when_idle|reclaim_mem|max_sessions|min_dtmf_duration [num]|max_dtmf_duration [num]|' +
  'default_dtmf_duration [num]|min_idle_cpu|loglevel [level]|debug_level [level]]';

/**
 * `fsctl pause|resume|pause_check [inbound|outbound]` and `fsctl shutdown`, as ctl_function()
 * parses them: case-insensitive, and any direction other than inbound/outbound means both.
 * Outputs checked against cascade-a-api.esl (pause) and api-shutdown.esl (shutdown). `fsctl sps`
 * is no capture's: its answer is the source's (ctl_function writes `+OK sessions per second: %d\n`
 * after SCSC_SPS, which sets runtime.sps_total only for an atoi() above 0 and returns it).
 */
/** C's atoi(): leading digits (with a sign), 0 for none. */
function atoi(arg: string | undefined): number {
  const m = /^\s*([+-]?\d+)/.exec(arg ?? '');
  return m ? Number.parseInt(m[1]!, 10) : 0;
}

function fsctl(host: ApiHost, args: string[]): string {
  const [op, dir] = args.map((a) => a.toLowerCase());
  if (op === undefined) return `-USAGE: ${CTL_SYNTAX}\n`;
  const which: Array<keyof Pause> = dir === 'inbound' || dir === 'outbound' ? [dir] : ['inbound', 'outbound'];
  switch (op) {
    case 'pause':
    case 'resume':
      for (const bit of which) host.pause[bit] = op === 'pause';
      return '+OK\n';
    case 'pause_check':
      // SCSC_PAUSE_CHECK tests both bits; the directed checks test their own bit only.
      return which.every((bit) => host.pause[bit]) ? 'true' : 'false';
    case 'sps': {
      const n = atoi(args[1]);
      if (n > 0) host.sessionsPerSecondLimit = n;
      return `+OK sessions per second: ${host.sessionsPerSecondLimit}\n`;
    }
    case 'shutdown':
      // `cancel` only cancels an elegant/asap shutdown (SCF_SHUTDOWN_REQUESTED); it does not undo a
      // plain one. elegant, asap, now and restart are not emulated: they shut down like plain.
      if (!args.slice(1).some((a) => a.toLowerCase() === 'cancel')) host.requestShutdown();
      return '+OK\n';
    default:
      return `-ERR INVALID COMMAND\nUSAGE: fsctl ${CTL_SYNTAX}`;
  }
}
