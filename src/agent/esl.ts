import type { Logger } from 'pino';
import { EslClient, EslCommandError, EslError, EslTimeoutError, type EslConnectionState } from './esl-client.js';
import type { EventHeaders } from './esl-frames.js';
import { SUBSCRIBED_EVENTS, SUBSCRIBED_SUBCLASSES } from './fs-events.js';

/** One api command's outcome; never a rejection. */
export type ApiReply =
  | { readonly ok: true; readonly output: string }
  /**
   * `answered`: FreeSWITCH ran the command and printed `-ERR ...` (unknown command, bad
   * argument). Otherwise no answer came: not connected, the socket closed, or the timeout.
   */
  | {
      readonly ok: false;
      readonly answered: boolean;
      readonly error: string;
      /** No answer within the timeout, the connection still up (a stalled FreeSWITCH), as opposed to no connection. */
      readonly timedOut?: boolean;
    };

export type LinkState = EslConnectionState;

/**
 * The agent's narrow view of one FreeSWITCH Event Socket. The implementation reconnects by
 * itself and reports every connection change, so the agent hears of a closed socket at once.
 * Commands asked while disconnected fail at once; none is kept for a later connection.
 */
export interface FreeSwitchLink {
  /** Runs an api command (as bgapi, so a slow one cannot block the socket); bounded by timeoutMs. */
  api(command: string, timeoutMs: number): Promise<ApiReply>;
  /** Headers of every subscribed event (see SUBSCRIBED_EVENTS). */
  onEvent(listener: (headers: EventHeaders) => void): void;
  /** Every connect and disconnect (and failed attempt), in order. */
  onConnection(listener: (state: LinkState) => void): void;
  connected(): boolean;
  /** Connections made so far; each one is a fresh subscription, so events may have been missed. */
  connections(): number;
  /** Closes the socket for good; pending commands resolve with an error. */
  close(): void;
}

export interface EslOptions {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  readonly logger: Logger;
  /** Bound on one connection attempt (TCP, auth, subscription); default 5 s. */
  readonly handshakeTimeoutMs?: number;
}

/** Opens the link over the project's ESL client and starts connecting. */
export function openFreeSwitchLink(opts: EslOptions): FreeSwitchLink {
  const eventListeners: Array<(headers: EventHeaders) => void> = [];
  const stateListeners: Array<(state: LinkState) => void> = [];
  const client = new EslClient({
    host: opts.host,
    port: opts.port,
    password: opts.password,
    events: SUBSCRIBED_EVENTS,
    subclasses: SUBSCRIBED_SUBCLASSES,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
    logger: opts.logger,
    onEvent: (event) => {
      for (const listener of eventListeners) listener(event.headers);
    },
    onState: (state) => {
      for (const listener of stateListeners) listener(state);
    },
  });
  client.start();
  return {
    async api(command, timeoutMs) {
      try {
        const output = await client.bgapi(command, timeoutMs);
        // FreeSWITCH reports a failed api command in its output, not in the protocol.
        if (output.startsWith('-ERR')) return { ok: false, answered: true, error: output.trim() };
        return { ok: true, output };
      } catch (err) {
        if (err instanceof EslError) {
          return { ok: false, answered: err instanceof EslCommandError, error: `${err.name}: ${err.message}`, ...(err instanceof EslTimeoutError ? { timedOut: true } : {}) };
        }
        throw err;
      }
    },
    onEvent(listener) {
      eventListeners.push(listener);
    },
    onConnection(listener) {
      stateListeners.push(listener);
    },
    connected: () => client.connected,
    connections: () => client.connections,
    close: () => client.close(),
  };
}
