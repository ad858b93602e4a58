import type { CallRecord } from './call.js';
import type { ConferenceView } from './conference.js';
import type { DialedLink } from './outbound.js';
import type { HeaderList } from './esl-frames.js';
import type { Pause } from './api.js';

/** The stand-in's public shape: its options and the handle tests hold (see standin.ts). */

export interface StandinOptions {
  /** ESL password (FreeSWITCH's default: ClueCon). */
  password?: string;
  /** max-sessions: INVITEs beyond it get 503 (default 1000). */
  maxSessions?: number;
  /** HEARTBEAT interval (FreeSWITCH: 20 000 ms), also in its RE_SCHEDULE's Task-Runtime. */
  heartbeatMs?: number;
  /**
   * switch.conf `sessions-per-second` (FreeSWITCH's default 30; the two-node captures: 500): what
   * `fsctl sps` answers and HEARTBEAT `Session-Per-Sec` counts down from. Not enforced: the stand-in
   * never throttles a call.
   */
  sessionsPerSecond?: number;
  /** HEARTBEAT `Idle-CPU` (default 99, the main capture's first HEARTBEAT); see setIdleCpu. */
  idleCpuPercent?: number;
  /** FreeSWITCH-Hostname / `hostname` (default `standin-<eslPort>`, stable across restarts). */
  hostname?: string;
  /** sofia profile name (default `internal`). */
  profile?: string;
  /** Ports to bind (ESL on 127.0.0.1, SIP on sipHost); 0 or absent: the OS picks one (restart keeps it). */
  eslPort?: number;
  sipPort?: number;
  /** Address the SIP socket binds to and announces (Via, Contact, sipUri); default 127.0.0.1 (another, e.g. a container's own IP, for a Kamailio elsewhere). */
  sipHost?: string;
  coreUuid?: string;
  /** Length of the dialplan's tone before the call parks (capture: 3000 ms). */
  toneMs?: number;
  /** Delay between routing and answering; a CANCEL can arrive in this window (default 0). */
  answerDelayMs?: number;
  /** When > 0 the stand-in hangs up (BYE) this long after answering. */
  autoHangupMs?: number;
  /** sofia's `options-respond-503-on-busy`: OPTIONS get 503 while paused or full (default false). */
  optionsRespond503OnBusy?: boolean;
  /**
   * How long after (re)start the event socket starts accepting and the SIP port is bound; until
   * then ESL connections are refused and INVITEs go unanswered. Default 2000, as measured on a
   * real FreeSWITCH; tests that do not care about start-up pass 0.
   */
  eslReadyDelayMs?: number;
  /**
   * Delay between `fsctl shutdown` (or shutdown()) and SHUTDOWN; calls are still taken meanwhile.
   * Default: drawn for each shutdown from the measured 200 to 1050 ms (see lifecycle.ts).
   */
  shutdownDelayMs?: number;
  /** Seeds the shutdown-delay draw (default: Math.random). */
  seed?: number;
  /** `sofia profile <name> stop|restart` refuses until the profile has been up this long (mod_sofia: 10 s). */
  profileMinUptimeSec?: number;
  /** Destinations (R-URI user) that join the conference of that name (default /^3\d{3}$/, the captures' `room`). */
  roomPattern?: RegExp;
  /** The conference profile's verbose-events (node B: true): channel variables on member events. Default false (node A). */
  verboseEvents?: boolean;
  /** How long a `conference … dial|bgdial` (or bridge) INVITE waits for a final response before failing 408 (default 32 000 ms, Timer B). */
  dialTimeoutMs?: number;
  /**
   * Destinations (R-URI user) the dialplan bridges (default /^8(\d{3})$/, the capture's `8xxx`): a B
   * leg is dialled to `bridgeTarget` (or the INVITE's `X-SBC-Bridge-To`), user `9` + the first group.
   */
  bridgePattern?: RegExp;
  /** `sip:[user@]host:port` the bridge dials (default: this stand-in's own SIP URI, as in the capture). */
  bridgeTarget?: string;
}

/** How the next INVITEs are handled (after the pause / max-sessions check, which always wins). */
export type InviteResponse = 'answer' | 'ignore' | { status: number; reason: string };

export interface Standin {
  readonly eslPort: number;
  readonly sipPort: number;
  /** `sip:<sipHost>:<sipPort>` (sipHost default 127.0.0.1) */
  readonly sipUri: string;
  readonly coreUuid: string;
  readonly password: string;
  readonly hostname: string;
  /** Every INVITE received, across restarts, oldest first. */
  readonly calls: readonly CallRecord[];
  /** True from the moment ESL accepts until SHUTDOWN (or kill/stop). */
  readonly running: boolean;
  /**
   * Settles for the latest (re)start: resolves once ESL accepts and the SIP port is bound, rejects
   * if that fails (port taken) or the stand-in is stopped first.
   */
  readonly ready: Promise<void>;
  /** Whether the sofia profile runs (its SIP port bound, listed by `sofia status`). */
  readonly profileRunning: boolean;
  activeSessions(): number;
  /** `fsctl pause|resume [inbound|outbound]` as FreeSWITCH holds them now. */
  readonly pause: Readonly<Pause>;
  /** The idle CPU (0..100) the next HEARTBEATs report, e.g. to make a node look overloaded; kept across restarts. */
  setIdleCpu(percent: number): void;
  setInviteResponse(mode: InviteResponse): void;
  setAnswerDelay(ms: number): void;
  /** Fires an arbitrary event (e.g. CUSTOM with a subclass) to subscribed ESL connections. */
  fireEvent(name: string, headers: HeaderList, opts?: { subclass?: string; body?: string }): void;
  /**
   * Stops (calls hung up MANAGER_REQUEST, SIP port unbound) or starts the sofia profile, like
   * `sofia profile <name> stop|start` without its 10 s rule. Resolves once the port is closed/bound.
   */
  setProfileRunning(running: boolean): Promise<void>;
  /**
   * Graceful, like `fsctl shutdown`: after the shutdown delay SHUTDOWN, calls hung up, MODULE_UNLOAD…,
   * disconnect notices. Resolves once everything is closed.
   */
  shutdown(): Promise<void>;
  /** Like SIGKILL: every socket dropped, no event, no BYE, no notice. */
  kill(): Promise<void>;
  /**
   * Shuts down (gracefully, if running) and starts again on the same ports with a new Core-UUID and
   * fresh counters; resolves once ready (ESL accepts after `eslReadyDelayMs`, default the stand-in's).
   */
  restart(opts?: { coreUuid?: string; eslReadyDelayMs?: number }): Promise<void>;
  /** Every conference now: name, Conference-Unique-ID, members (uuid, memberId, link, linkId, direction, peer, floor). */
  conferenceList(): ConferenceView[];
  /** Every leg this node dialled (`conference … dial|bgdial`), oldest first: target, linkId, X- headers, state, cause. */
  dialedLinks(): readonly DialedLink[];
  /** Test cleanup: releases everything, silently; safe to call twice. */
  stop(): Promise<void>;
}
