import { randomUUID } from 'node:crypto';
import type { Conference, Conferences, Member } from './conference.js';

/** What the `conference` api command needs from the switch. */
export interface ConferenceApiHost {
  readonly conferences: Conferences;
  /** Starts a dial into `room`; `onResult` hears SUCCESS (at answer) or the failure cause. */
  dial(
    room: string, dialString: string, cidNumber: string | undefined, cidName: string | undefined, jobId: string | undefined,
    onResult: (cause: string, uuid: string | undefined) => void,
  ): void;
}

const badArgs = (sub: string) => `-ERR Bad Args\n${sub} <endpoint_module_name>/<destination> <callerid number> <callerid name>`;

/**
 * `conference …` as mod_conference answers it. Texts from the captures: `list` (with and without
 * rooms), `<name> list`, `<name> json_list`, `9999 list` (not found), `hup <id>|all`, `dial` /
 * `bgdial` without arguments, `bgdial` (`+OK Job-UUID: …`), `dial` (`+OK Call Requested: result: [...]`).
 * Not captured, from mod_conference's conference_api.c (with the `+OK ` / `-ERR ` prefixes the
 * captured version adds to `hup` and to "Conference … not found"): `kick` (`+OK kicked <id>`), a member
 * id that does not exist (`-ERR Non-Existant ID <id>`); verbatim: a member command without a
 * target (`<cmd> <syntax>`, no newline), an unknown subcommand (`Conference command '<sub>' not
 * found.`), no subcommand (`Conference command, not specified.\nTry 'help'`); `json_list` of no
 * room prints cJSON's `[]`.
 */
export function conferenceApi(host: ConferenceApiHost, args: string[]): string | Promise<string> {
  const confs = host.conferences;
  const [name, sub, ...rest] = args;
  if (name === undefined || name === 'list') return confs.listAll();
  if (name === 'json_list') return confs.jsonList([...confs.rooms.values()]);
  if (sub === 'dial' || sub === 'bgdial') {
    const [dialString, cidNumber, cidName] = rest;
    if (dialString === undefined) return badArgs(sub);
    if (sub === 'bgdial') {
      const job = randomUUID();
      host.dial(name, dialString, cidNumber, cidName, job, (cause, uuid) => {
        const conf = confs.get(name);
        if (conf) confs.bgdialResult(conf, job, cause, uuid ?? '');
      });
      return `+OK Job-UUID: ${job}\n`;
    }
    return new Promise((resolve) => host.dial(name, dialString, cidNumber, cidName, undefined, (cause) => resolve(`+OK Call Requested: result: [${cause}]\n`)));
  }
  const conf = confs.get(name);
  if (!conf) return `-ERR Conference ${name} not found\n`;
  switch (sub) {
    case undefined:
      return "Conference command, not specified.\nTry 'help'\n";
    case 'list':
      return confs.list(conf);
    case 'json_list':
      return confs.jsonList([conf]);
    case 'hup':
    case 'kick':
      return memberCmd(conf, sub, rest[0], (m) => {
        m.channel.hupFromConference(sub === 'hup' ? 'hup-member' : 'kick-member');
        return sub === 'hup' ? `+OK hup ${m.id}\n` : `+OK kicked ${m.id}\n`;
      });
    default:
      return `Conference command '${sub}' not found.\n`;
  }
}

const SYNTAX: Record<string, string> = {
  hup: 'hup <[member_id|all|last|non_moderator]>',
  kick: 'kick <[member_id|all|last|non_moderator]> [<optional sound file>]',
};

/** conference_api_dispatch()'s CONF_API_SUB_MEMBER_TARGET: a member id, `all`, or `last` (the highest id). */
function memberCmd(conf: Conference, sub: string, which: string | undefined, run: (m: Member) => string): string {
  const id = Number.parseInt(which ?? '', 10) || 0;
  if (id === 0 && which?.toLowerCase() === 'all') return [...conf.members].map(run).join('');
  if (id === 0 && which?.toLowerCase() === 'last') {
    const m = conf.members[0];
    return m ? run(m) : '';
  }
  if (id === 0) return SYNTAX[sub] ?? '';
  const m = conf.members.find((x) => x.id === id);
  return m ? run(m) : `-ERR Non-Existant ID ${id}\n`;
}
