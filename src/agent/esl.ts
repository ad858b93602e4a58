import { FreeSwitchClient } from 'esl-lite';
import type { Logger } from 'pino';
import { SUBSCRIBED_EVENTS, type EventHeaders } from './fs-events.js';

/** One api command's outcome; never a rejection. */
export type ApiReply = { readonly ok: true; readonly output: string } | { readonly ok: false; readonly error: string };

/**
 * The agent's narrow view of one FreeSWITCH Event Socket. The implementation reconnects by
 * itself and hides it, so `connections()` is how the agent learns that events may have
 * been missed.
 */
export interface FreeSwitchLink {
  /** Runs an api command (as bgapi, so a slow one cannot block the socket); bounded by timeoutMs. */
  api(command: string, timeoutMs: number): Promise<ApiReply>;
  /** Headers of every subscribed event (CHANNEL_CREATE, CHANNEL_DESTROY, HEARTBEAT, SHUTDOWN). */
  onEvent(listener: (headers: EventHeaders) => void): void;
  /** How many times the socket has connected so far (FreeSWITCH greets each with auth/request). */
  connections(): number;
  /** Closes the socket for good; pending commands resolve with an error. */
  close(): void;
}

export interface EslOptions {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  readonly logger: Logger;
}

/** Opens the link over esl-lite, which subscribes with `event json <NAME>` on every (re)connect. */
export function openFreeSwitchLink(opts: EslOptions): FreeSwitchLink {
  const client = new FreeSwitchClient({ host: opts.host, port: opts.port, password: opts.password, logger: opts.logger });
  const listeners: Array<(headers: EventHeaders) => void> = [];
  for (const name of SUBSCRIBED_EVENTS) {
    client.on(name, (ev) => {
      for (const listener of listeners) listener(ev.body.data);
    });
  }
  return {
    async api(command, timeoutMs) {
      const res = await client.bgapi(command, timeoutMs);
      if (res instanceof Error) return { ok: false, error: `${res.name}: ${res.message}` };
      const output = res.body.response;
      if (typeof output !== 'string') return { ok: false, error: `no text output for ${command}` };
      // FreeSWITCH reports a failed api command in its output, not in the protocol.
      if (output.startsWith('-ERR')) return { ok: false, error: output.trim() };
      return { ok: true, output };
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    connections: () => Number(client.stats.authRequest),
    close: () => client.end(),
  };
}
