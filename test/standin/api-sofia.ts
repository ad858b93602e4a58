/**
 * The `sofia` api command (mod_sofia.c: sofia_function, cmd_status, cmd_profile). Texts whose
 * output a capture holds (`sofia status`, `sofia status profile internal`, api-replies.esl) follow
 * the capture; the others are copied from mod_sofia.c in signalwire/freeswitch (the version the
 * code index holds), each marked `mod_sofia.c` below, since no capture shows them.
 */

export const SEP = '='.repeat(97);

/** The one sofia profile, as the api commands see it. */
export interface SofiaHost {
  /** Profile name (`internal`); the SIP IP is its alias, as in the capture's `sofia status`. */
  readonly profile: string;
  readonly sipHost: string;
  readonly sipPort: number;
  readonly profileCounters: { callsIn: number; failedCallsIn: number };
  /** PFLAG_RUNNING, and profile->started in ms (the 10 s stop/restart rule counts from it). */
  readonly profileRunning: boolean;
  readonly profileStartedMs: number;
  /** cmd_profile's `rsec` (10 in mod_sofia.c); an option so tests need not wait 10 s. */
  readonly profileMinUptimeSec: number;
  activeCalls(): readonly unknown[];
  /** Carries out a profile stop/start/restart after the reply has been written (the profile
   * thread does it in FreeSWITCH); `stop` and `restart` take the profile out of `sofia status` at once. */
  profileCommand(op: 'stop' | 'start' | 'restart'): void;
}

// mod_sofia.c sofia_function(): usage_string, printed for `sofia`, `sofia help`.
const USAGE =
  'USAGE:\n' +
  '--------------------------------------------------------------------------------\n' +
  'sofia global siptrace <on|off>\n' +
  'sofia        capture  <on|off>\n' +
  '             watchdog <on|off>\n\n' +
  'sofia profile <name> [start | stop | restart | rescan] [wait]\n' +
  '                     flush_inbound_reg [<call_id> | <[user]@domain>] [reboot]\n' +
  '                     check_sync [<call_id> | <[user]@domain>]\n' +
  '                     [register | unregister] [<gateway name> | all]\n' +
  '                     killgw <gateway name>\n' +
  '                     [stun-auto-disable | stun-enabled] [true | false]]\n' +
  '                     siptrace <on|off>\n' +
  '                     capture  <on|off>\n' +
  '                     watchdog <on|off>\n\n' +
  'sofia <status|xmlstatus> profile <name> [reg [<contact str>]] | [pres <pres str>] | [user <user@domain>]\n' +
  'sofia <status|xmlstatus> gateway <name>\n\n' +
  'sofia loglevel <all|default|tport|iptsec|nea|nta|nth_client|nth_server|nua|soa|sresolv|stun> [0-9]\n' +
  'sofia tracelevel <console|alert|crit|err|warning|notice|info|debug>\n\n' +
  'sofia help\n' +
  '--------------------------------------------------------------------------------\n';

const eq = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b;

export function sofia(host: SofiaHost, args: string[]): string {
  const [sub, ...rest] = args;
  if (sub === undefined || eq(sub, 'help')) return USAGE;
  if (eq(sub, 'status')) return status(host, rest);
  if (eq(sub, 'profile')) return profile(host, rest);
  // mod_sofia.c: the fall-through for a subcommand it does not know. xmlstatus, jsonstatus,
  // loglevel, tracelevel, global and recover exist in FreeSWITCH but are not emulated here.
  return `Unknown Command [${sub}]\n`;
}

/** sofia_glue_find_profile(): the name or an alias, and only while PFLAG_RUNNING is set. */
function findProfile(host: SofiaHost, name: string | undefined): boolean {
  return host.profileRunning && (name === host.profile || name === host.sipHost);
}

function profileUrl(host: SofiaHost): string {
  return `sip:mod_sofia@${host.sipHost}:${host.sipPort}`;
}

function status(host: SofiaHost, argv: string[]): string {
  if (argv.length === 0) return listing(host);
  if (argv.length === 1) {
    // mod_sofia.c cmd_status(): one argument shows the gateway summary; this profile has none.
    const head = `${'Profile::Gateway-Name'.padStart(25)}\t${'    Data    '.padStart(32)}\tState\t${'Ping Time'.padStart(9)}\tIB Calls(F/T)\tOB Calls(F/T)\n`;
    return `${head}${SEP}\n${SEP}\n0 gateways: Inbound(Failed/Total): 0/0,Outbound(Failed/Total):0/0\n`;
  }
  if (eq(argv[0], 'gateway')) return 'Invalid Gateway!\n'; // mod_sofia.c; there are no gateways
  if (!eq(argv[0], 'profile')) return 'Invalid Syntax!\n'; // mod_sofia.c
  // mod_sofia.c: an unknown (or stopped) profile answers exactly this.
  if (!findProfile(host, argv[1])) return 'Invalid Profile!\n';
  const [, name = '', what, detail] = argv;
  let out = '';
  if (what === undefined || (!eq(what, 'reg') && !eq(what, 'user'))) out += profileDetail(host, name);
  // mod_sofia.c: `reg`, `pres <x>` and `user <x>` list registrations; none exist here.
  if (eq(what, 'reg') || ((eq(what, 'pres') || eq(what, 'user')) && detail !== undefined)) {
    out += `\nRegistrations:\n${SEP}\nTotal items returned: 0\n${SEP}\n`;
  }
  return out;
}

/** `sofia status`: the capture's table (api-replies.esl), formats from cmd_status(). */
function listing(host: SofiaHost): string {
  const row = (a: string, b: string, c: string, d: string) => `${a.padStart(25)}\t${b}\t  ${c.padStart(40)}\t${d}\n`;
  let out = row('Name', '   Type', 'Data', 'State') + `${SEP}\n`;
  let profiles = 0;
  let aliases = 0;
  // Only profiles with PFLAG_RUNNING are listed, their aliases with them.
  if (host.profileRunning) {
    out += row(host.sipHost, '  alias', host.profile, 'ALIASED');
    out += row(host.profile, 'profile', profileUrl(host), `RUNNING (${host.activeCalls().length})`);
    profiles = 1;
    aliases = 1;
  }
  return `${out}${SEP}\n${profiles} profile${profiles === 1 ? '' : 's'} ${aliases} alias${aliases === 1 ? '' : 'es'}\n`;
}

/** `sofia status profile internal`, row by row as in api-replies.esl. */
function profileDetail(host: SofiaHost, asked: string): string {
  const ip = host.sipHost;
  const rows: Array<[string, string]> = [['Name', asked], ['Domain Name', 'N/A']];
  // mod_sofia.c: a profile looked up by its alias says whose alias it is.
  if (asked.toLowerCase() !== host.profile.toLowerCase()) rows.push(['Alias Of', host.profile]);
  rows.push(
    ['Auto-NAT', 'false'], ['DBName', `sofia_reg_${host.profile}`],
    ['Pres Hosts', `${ip},${ip}`], ['Dialplan', 'XML'], ['Context', 'public'], ['Challenge Realm', 'auto_from'],
    ['RTP-IP', ip], ['Ext-RTP-IP', ip], ['SIP-IP', ip], ['Ext-SIP-IP', ip], ['URL', profileUrl(host)],
    // The stand-in listens on UDP only, so transport=udp where the capture's profile had udp,tcp.
    ['BIND-URL', `${profileUrl(host)};maddr=${ip};transport=udp`], ['HOLD-MUSIC', 'local_stream://moh'],
    ['OUTBOUND-PROXY', 'N/A'], ['CODECS IN', 'PCMU,PCMA'], ['CODECS OUT', 'PCMU,PCMA'], ['TEL-EVENT', '101'],
    ['DTMF-MODE', 'rfc2833'], ['CNG', '13'], ['SESSION-TO', '0'], ['MAX-DIALOG', '0'], ['MAX-RECV-RPS', '1000'],
    ['NOMEDIA', 'false'], ['LATE-NEG', 'true'], ['PROXY-MEDIA', 'false'], ['AGGRESSIVENAT', 'false'],
    ['CALLS-IN', String(host.profileCounters.callsIn)], ['FAILED-CALLS-IN', String(host.profileCounters.failedCallsIn)],
    ['CALLS-OUT', '0'], ['FAILED-CALLS-OUT', '0'], ['REGISTRATIONS', '0'],
  );
  return `${SEP}\n` + rows.map(([k, v]) => `${k.padEnd(17)}\t${v}\n`).join('');
}

/** mod_sofia.c cmd_profile(): `sofia profile <name> start|stop|restart`. */
function profile(host: SofiaHost, argv: string[]): string {
  const [name = '', op] = argv;
  if (op === undefined) return 'Invalid Args!\n';
  // switch_xml_reload() reports "Success" (switch_xml.c); every branch below that reloads says so.
  const reload = 'Reload XML [Success]\n';
  if (eq(op, 'start')) {
    // config_sofia(SOFIA_CONFIG_RESCAN, name) matches the configured profile case-insensitively;
    // on a running profile it is a rescan, which zeroes the call counters.
    if (name.toLowerCase() !== host.profile.toLowerCase()) return `${reload}Failure starting ${name}\n`;
    host.profileCommand('start');
    return `${reload}${name} started successfully\n`;
  }
  if (name === 'restart' && eq(op, 'all')) {
    // sofia_glue_restart_all_profiles() writes nothing (mod_event_socket then answers -ERR no reply).
    if (host.profileRunning) host.profileCommand('restart');
    return '';
  }
  if (!findProfile(host, name)) return `Invalid Profile [${name}]`;
  if (eq(op, 'stop') || eq(op, 'restart')) {
    const rsec = host.profileMinUptimeSec;
    const diff = Math.floor(Date.now() / 1000) - Math.floor(host.profileStartedMs / 1000);
    const remain = rsec - diff;
    if (diff < rsec) {
      return `Profile ${host.profile} must be up for at least ${rsec} seconds to stop/restart.\nPlease wait ${remain} second${remain === 1 ? '' : 's'}\n`;
    }
    const stop = eq(op, 'stop');
    host.profileCommand(stop ? 'stop' : 'restart');
    // No newline after these two, as in mod_sofia.c.
    return `${reload}${stop ? 'stopping' : 'restarting'}: ${host.profile}`;
  }
  // killgw, startgw, rescan, check_sync, flush_inbound_reg, recover, (un)register, siptrace,
  // capture, watchdog and gwlist exist in FreeSWITCH but are not emulated: they get the
  // answer mod_sofia.c gives an unknown one.
  return '-ERR Unknown command!\n';
}
