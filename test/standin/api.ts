import type { Call } from './call.js';
import { localStamp, type Identity } from './events.js';
import { upTime, type SessionStats } from './stats.js';

export const VERSION = '1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit';
const VERSION_LINE = `FreeSWITCH Version ${VERSION} (git 3f13ad1 2026-08-09 16:23:10Z 64bit)\n`;
const READY_NAME = 'FreeSWITCH (Version 1.11.2-release git 3f13ad1 2026-08-09 16:23:10Z 64bit)';
const SEP = '='.repeat(97);

export interface Pause {
  all: boolean;
  inbound: boolean;
  outbound: boolean;
}

/** switch_core_ready_inbound(): no new inbound sessions while either flag is set. */
export function inboundPaused(p: Pause): boolean {
  return p.all || p.inbound;
}

/** What the api commands read from (and do to) the running switch. */
export interface ApiHost {
  readonly identity: Identity;
  readonly profile: string;
  readonly sipHost: string;
  readonly sipPort: number;
  readonly maxSessions: number;
  readonly stats: SessionStats;
  /** fsctl pause flags: `all` is SCF_NO_NEW_SESSIONS, the others the per-direction flags. */
  readonly pause: Pause;
  readonly profileCounters: { callsIn: number; failedCallsIn: number };
  uptimeUs(): number;
  activeCalls(): Call[];
  /** `fsctl shutdown`: the reply goes out first, the shutdown follows. */
  requestShutdown(): void;
  killChannel(uuid: string, cause: string): boolean;
}

/** Runs one api command with mod_commands / mod_sofia output formats; undefined if unknown. */
export function runApi(host: ApiHost, cmd: string, arg: string | undefined): string | undefined {
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
      const call = host.activeCalls().find((c) => c.uuid === args[0]);
      if (!call) return '-ERR No such channel!\n';
      return call.getVar(args[1] ?? '') ?? '_undef_';
    }
    default:
      return undefined;
  }
}

function status(host: ApiHost): string {
  const s = host.stats;
  const ready = host.pause.all ? 'is not ready' : 'is ready';
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

function profileUrl(host: ApiHost): string {
  return `sip:mod_sofia@${host.sipHost}:${host.sipPort}`;
}

function sofia(host: ApiHost, args: string[]): string {
  if (args[0] !== 'status') return '-ERR Usage: sofia status [profile <name>]\n';
  if (args[1] === undefined) {
    const row = (a: string, b: string, c: string, d: string) => `${a.padStart(25)}\t${b.padStart(7)}\t${c.padStart(42)}\t${d}\n`;
    return (
      row('Name', 'Type', 'Data', 'State') +
      `${SEP}\n` +
      row(host.sipHost, 'alias', host.profile, 'ALIASED') +
      row(host.profile, 'profile', profileUrl(host), `RUNNING (${host.activeCalls().length})`) +
      `${SEP}\n` +
      '1 profile 1 alias\n'
    );
  }
  if (args[1] !== 'profile' || args[2] !== host.profile) return 'Invalid Profile!\n';
  const ip = host.sipHost;
  const rows: Array<[string, string]> = [
    ['Name', host.profile], ['Domain Name', 'N/A'], ['Auto-NAT', 'false'], ['DBName', `sofia_reg_${host.profile}`],
    ['Pres Hosts', `${ip},${ip}`], ['Dialplan', 'XML'], ['Context', 'public'], ['Challenge Realm', 'auto_from'],
    ['RTP-IP', ip], ['Ext-RTP-IP', ip], ['SIP-IP', ip], ['Ext-SIP-IP', ip], ['URL', profileUrl(host)],
    // The stand-in listens on UDP only, so transport=udp where the capture's profile had udp,tcp.
    ['BIND-URL', `${profileUrl(host)};maddr=${ip};transport=udp`], ['HOLD-MUSIC', 'local_stream://moh'],
    ['OUTBOUND-PROXY', 'N/A'], ['CODECS IN', 'PCMU,PCMA'], ['CODECS OUT', 'PCMU,PCMA'], ['TEL-EVENT', '101'],
    ['DTMF-MODE', 'rfc2833'], ['CNG', '13'], ['SESSION-TO', '0'], ['MAX-DIALOG', '0'], ['MAX-RECV-RPS', '1000'],
    ['NOMEDIA', 'false'], ['LATE-NEG', 'true'], ['PROXY-MEDIA', 'false'], ['AGGRESSIVENAT', 'false'],
    ['CALLS-IN', String(host.profileCounters.callsIn)], ['FAILED-CALLS-IN', String(host.profileCounters.failedCallsIn)],
    ['CALLS-OUT', '0'], ['FAILED-CALLS-OUT', '0'], ['REGISTRATIONS', '0'],
  ];
  return `${SEP}\n` + rows.map(([k, v]) => `${k.padEnd(17)}\t${v}\n`).join('');
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
    application_data: c.currentApp === 'playback' ? 'tone_stream://%(1000,500,440);loops=2' : '',
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

function fsctl(host: ApiHost, args: string[]): string {
  const [op, dir] = args;
  const flag: keyof Pause = dir === 'inbound' || dir === 'outbound' ? dir : 'all';
  switch (op) {
    case 'pause':
    case 'resume':
      host.pause[flag] = op === 'pause';
      return '+OK\n';
    case 'pause_check': {
      const p = host.pause;
      const paused = flag === 'inbound' ? inboundPaused(p) : flag === 'outbound' ? p.all || p.outbound : p.all;
      return paused ? 'true' : 'false';
    }
    case 'shutdown':
      host.requestShutdown();
      return '+OK\n';
    default:
      return '-ERR INVALID COMMAND\n';
  }
}
