import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { startProcess, waitFor, type RunningProcess } from './process.js';

/**
 * sipp (3.6) as SIP test peers: UAS stand-ins for FreeSWITCH nodes and a UAC that places
 * calls through Kamailio. Every sipp is a bounded child process on free loopback ports
 * (-p for SIP, -cp for its control socket), with its message trace in a temp dir; the
 * trace (-trace_msg, written per message) is what the helpers parse to count and inspect
 * what each peer sent and received.
 */

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'kamailio');
export const SIPP_BIN = process.env.TEST_SIPP_BIN ?? '/usr/bin/sipp';
export const SCENARIOS = {
  uac: join(FIXTURES, 'uac-call.xml'),
  uacCancel: join(FIXTURES, 'uac-cancel.xml'),
  uasRing: join(FIXTURES, 'uas-ring.xml'),
  uasAnswer: join(FIXTURES, 'uas-answer.xml'),
  uasReject: join(FIXTURES, 'uas-reject.xml'),
  uasSilent: join(FIXTURES, 'uas-silent.xml'),
} as const;

// ---------------------------------------------------------------------------------------
// Message trace parsing

export interface SipMessage {
  readonly direction: 'sent' | 'received';
  readonly transport: string;
  readonly firstLine: string;
  readonly method: string | undefined;
  readonly ruri: string | undefined;
  readonly status: number | undefined;
  /** Lower-cased header name -> values in order (comma-joined values are not split). */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly callId: string;
  readonly cseq: number;
  readonly cseqMethod: string;
  readonly raw: string;
}

const COMPACT: Record<string, string> = { i: 'call-id', f: 'from', t: 'to', v: 'via', m: 'contact', l: 'content-length', c: 'content-type' };

export function parseSipMessage(text: string, direction: 'sent' | 'received', transport: string): SipMessage | undefined {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const firstLine = (lines.shift() ?? '').trim();
  if (!firstLine) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    if (line.trim() === '') break;
    const idx = line.indexOf(':');
    if (idx <= 0) continue;
    let name = line.slice(0, idx).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const list = headers.get(name) ?? [];
    list.push(line.slice(idx + 1).trim());
    headers.set(name, list);
  }
  const status = /^SIP\/2\.0 (\d{3})/.exec(firstLine);
  const request = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(firstLine);
  const cseq = /^(\d+)\s+([A-Z]+)/.exec(headers.get('cseq')?.[0] ?? '');
  return {
    direction,
    transport,
    firstLine,
    method: request?.[1],
    ruri: request?.[2],
    status: status?.[1] ? Number(status[1]) : undefined,
    headers,
    callId: headers.get('call-id')?.[0] ?? '',
    cseq: cseq?.[1] ? Number(cseq[1]) : 0,
    cseqMethod: cseq?.[2] ?? '',
    raw: text,
  };
}

/** Parses sipp's -trace_msg file (blocks separated by a line of 47 dashes). */
export function parseSippMessageLog(log: string): SipMessage[] {
  const out: SipMessage[] = [];
  for (const block of log.split(/^-{47}.*$/m)) {
    const trimmed = block.replace(/^\s*\n/, '');
    const nl = trimmed.indexOf('\n');
    if (nl < 0) continue;
    const head = trimmed.slice(0, nl);
    // "UDP message sent (505 bytes):" / "UDP message received [311] bytes :"; skip the
    // "Unexpected UDP message received:" duplicates sipp adds for unexpected messages.
    const m = /^(\w+) message (sent|received)\b/.exec(head);
    if (!m?.[1] || !m[2]) continue;
    const body = trimmed.slice(nl + 1).replace(/^\s*\n/, '');
    const msg = parseSipMessage(body, m[2] as 'sent' | 'received', m[1]);
    if (msg) out.push(msg);
  }
  return out;
}

/** `sip:3000@host:port;x` / `"n" <sip:3000@host>;tag=..` -> "3000" ("" when there is no user). */
export function uriUser(value: string | undefined): string {
  if (!value) return '';
  const m = /sips?:([^@;>\s]+)@/.exec(value);
  return m?.[1] ?? '';
}

function topViaBranch(msg: SipMessage): string {
  return /;branch=([^;,\s]+)/.exec(msg.headers.get('via')?.[0] ?? '')?.[1] ?? '';
}

// ---------------------------------------------------------------------------------------
// Process helpers

/** Whether something listens on this UDP port (from /proc; false where /proc has no answer). */
export function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      if (readFileSync(f, 'utf8').includes(hex)) return true;
    } catch {
      /* not on this system */
    }
  }
  return false;
}

function exited(p: RunningProcess): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

const BIND_ERROR = /bind|Address already in use/i;

// ---------------------------------------------------------------------------------------
// UAS

export interface ReceivedRequest {
  readonly method: string;
  readonly ruri: string;
  readonly ruriUser: string;
  readonly callId: string;
  readonly cseq: number;
  readonly fromUser: string;
  readonly toUser: string;
  /** Number of Via headers (2 = it came through one proxy). */
  readonly viaCount: number;
  readonly route: readonly string[];
  readonly recordRoute: readonly string[];
  readonly message: SipMessage;
}

export interface SippUas {
  readonly port: number;
  /** sip:127.0.0.1:<port>, the destination to put in the dispatcher table. */
  readonly uri: string;
  /** Every distinct request received so far (retransmissions removed). */
  requests(method?: string): ReceivedRequest[];
  /** Distinct INVITEs received so far. */
  invites(): ReceivedRequest[];
  count(method?: string): number;
  /** Waits (bounded) until at least `n` distinct requests of `method` arrived. */
  waitForCount(method: string, n: number, timeoutMs?: number): Promise<void>;
  /** Forgets what was received so far (counts start again from zero). */
  reset(): void;
  output(): string;
  stop(): Promise<void>;
}

export interface StartSippUasOptions {
  /** SIP port; default a free one (and retried on a clash). */
  port?: number;
  /**
   * 200 (default): answer (200 with the Record-Route mirrored, no 180, then ACK and BYE; see uas-answer.xml).
   * 300..699: reject every INVITE with that code. 'none': receive INVITEs, never answer.
   * 'ring': 180, never answer; answer a CANCEL with 200 + 487.
   */
  responseCode?: number | 'none' | 'ring';
  /** Reason phrase for a rejection. */
  reason?: string;
  /** sipp exits on its own after this long (-timeout). Default 300 s. */
  lifetimeMs?: number;
}

const REASONS: Record<number, string> = {
  404: 'Not Found',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  486: 'Busy Here',
  500: 'Server Internal Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  603: 'Decline',
};

export async function startSippUas(opts: StartSippUasOptions = {}): Promise<SippUas> {
  const code = opts.responseCode ?? 200;
  if (typeof code === 'number' && code !== 200 && (code < 300 || code > 699)) throw new Error(`unsupported responseCode ${code}`);
  const dir = mkdtempSync(join(tmpdir(), 'sipp-uas-'));
  const msgFile = join(dir, 'messages.log');
  let scenario: string = code === 'none' ? SCENARIOS.uasSilent : code === 'ring' ? SCENARIOS.uasRing : SCENARIOS.uasAnswer;
  if (typeof code === 'number' && code !== 200) {
    // sipp validates status codes while parsing the scenario, before any -key substitution
    const reason = (opts.reason ?? REASONS[code] ?? 'Failure').replace(/[^\x20-\x7e]/g, '');
    scenario = join(dir, `uas-reject-${code}.xml`);
    writeFileSync(scenario, readFileSync(SCENARIOS.uasReject, 'utf8').replaceAll('@CODE@', String(code)).replaceAll('@REASON@', reason));
  }
  const lifetimeS = Math.ceil((opts.lifetimeMs ?? 300_000) / 1000);

  let proc: RunningProcess | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = opts.port ?? (await freePort());
    const ctrlPort = await freePort();
    const args = [
      '-sf', scenario,
      '-i', '127.0.0.1', '-bind_local',
      '-p', String(port),
      '-cp', String(ctrlPort),
      '-nostdin',
      '-timeout', `${lifetimeS}s`,
      '-trace_msg', '-message_file', msgFile,
    ];
    const p = startProcess(SIPP_BIN, args, { cwd: dir });
    try {
      // (waitFor keeps polling through exceptions, so report an exit as "done" and check after)
      await waitFor(`sipp UAS on udp 127.0.0.1:${port}`, () => exited(p) || udpPortBound(port), 5000, 25);
      await sleep(50);
      if (exited(p)) throw new Error(`sipp exited: ${p.output().slice(-2000)}`);
      proc = p;
      break;
    } catch (err) {
      await p.stop('SIGKILL');
      if (opts.port === undefined && attempt < 2 && BIND_ERROR.test(p.output())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sipp UAS did not start on port ${port}`, { cause: err });
    }
  }
  const running = proc;

  let ignoreBefore = 0;
  const requests = (method?: string): ReceivedRequest[] => {
    let log: string;
    try {
      log = readFileSync(msgFile, 'utf8');
    } catch {
      return [];
    }
    const seen = new Set<string>();
    const out: ReceivedRequest[] = [];
    let index = 0;
    for (const msg of parseSippMessageLog(log)) {
      if (msg.direction !== 'received' || !msg.method) continue;
      const key = `${msg.method}|${msg.callId}|${msg.cseq}|${topViaBranch(msg)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (index++ < ignoreBefore) continue;
      if (method && msg.method !== method) continue;
      out.push({
        method: msg.method,
        ruri: msg.ruri ?? '',
        ruriUser: uriUser(msg.ruri),
        callId: msg.callId,
        cseq: msg.cseq,
        fromUser: uriUser(msg.headers.get('from')?.[0]),
        toUser: uriUser(msg.headers.get('to')?.[0]),
        viaCount: (msg.headers.get('via') ?? []).reduce((n, v) => n + v.split(',').length, 0),
        route: msg.headers.get('route') ?? [],
        recordRoute: msg.headers.get('record-route') ?? [],
        message: msg,
      });
    }
    return out;
  };

  return {
    port,
    uri: `sip:127.0.0.1:${port}`,
    requests,
    invites: () => requests('INVITE'),
    count: (method?: string) => requests(method).length,
    async waitForCount(method: string, n: number, timeoutMs = 5000) {
      await waitFor(`${n} ${method} at sipp UAS :${port}`, () => requests(method).length >= n, timeoutMs, 50);
    },
    reset() {
      ignoreBefore += requests().length;
    },
    output: () => running.output(),
    async stop() {
      await running.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// UAC

export interface RunSippUacOptions {
  /** host:port of the proxy, e.g. `127.0.0.1:${kamailio.sipPort}`. */
  target: string;
  /** Dialed user(s). With several, call i dials service[i % n]. */
  service: string | readonly string[];
  /** From user(s), same rotation as `service`. Default caller1..callerN. */
  callers?: readonly string[];
  calls: number;
  /** Calls per second. Default 20. */
  rate?: number;
  /** 'call' (default): INVITE/200/ACK/BYE. 'cancel': INVITE, 180, CANCEL, 487, ACK. */
  scenario?: 'call' | 'cancel';
  /** Pause between ACK and BYE (or between 180 and CANCEL). Default 50 ms. */
  holdMs?: number;
  /** Max simultaneous calls (-l). Default: sipp's. */
  concurrency?: number;
  /** How long one expected message is waited for (-recv_timeout). Default 8000 ms. */
  recvTimeoutMs?: number;
  /** Hard bound for the whole run. Default: derived from calls, rate and timeouts. */
  timeoutMs?: number;
  transport?: 'udp' | 'tcp';
}

export interface UacCall {
  readonly callNumber: number;
  readonly callId: string;
  readonly service: string;
  readonly caller: string;
  /** Final status of the INVITE; undefined when none arrived. */
  readonly inviteStatus: number | undefined;
  /** Status of the BYE (only for answered calls). */
  readonly byeStatus: number | undefined;
  /** Status of the CANCEL (scenario 'cancel'). */
  readonly cancelStatus: number | undefined;
  /** 'call': 2xx then BYE 200. 'cancel': CANCEL 200 and INVITE 487. */
  readonly ok: boolean;
}

export interface UacResult {
  readonly successful: number;
  readonly failed: number;
  /** Final INVITE status code -> number of calls ('none' = no final reply). */
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly calls: readonly UacCall[];
  readonly exitCode: number | null;
  readonly messages: readonly SipMessage[];
  readonly output: string;
}

export async function runSippUac(opts: RunSippUacOptions): Promise<UacResult> {
  const services = typeof opts.service === 'string' ? [opts.service] : [...opts.service];
  if (services.length === 0) throw new Error('runSippUac: no service');
  if (!Number.isInteger(opts.calls) || opts.calls < 1) throw new Error('runSippUac: calls must be >= 1');
  const n = opts.calls;
  const rate = opts.rate ?? 20;
  const holdMs = opts.holdMs ?? 50;
  const recvTimeoutMs = opts.recvTimeoutMs ?? 8000;
  const timeoutMs = opts.timeoutMs ?? Math.ceil((n / rate) * 1000 + holdMs + 2 * recvTimeoutMs + 5000);
  const callers = opts.callers ?? Array.from({ length: n }, (_, i) => `caller${i + 1}`);
  if (callers.length === 0) throw new Error('runSippUac: no callers');

  const dir = mkdtempSync(join(tmpdir(), 'sipp-uac-'));
  try {
    const rows = Math.max(n, services.length, callers.length);
    const lines = ['SEQUENTIAL'];
    const plan: { service: string; caller: string }[] = [];
    for (let i = 0; i < rows; i++) {
      const service = services[i % services.length] ?? '';
      const caller = callers[i % callers.length] ?? '';
      if (/[;\s]/.test(service + caller)) throw new Error(`runSippUac: bad service/caller ${service}/${caller}`);
      lines.push(`${service};${caller};`);
      plan.push({ service, caller });
    }
    const inf = join(dir, 'calls.csv');
    writeFileSync(inf, `${lines.join('\n')}\n`);
    const msgFile = join(dir, 'messages.log');

    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const ctrlPort = await freePort();
      const args = [
        opts.target,
        '-sf', opts.scenario === 'cancel' ? SCENARIOS.uacCancel : SCENARIOS.uac,
        '-inf', inf,
        '-i', '127.0.0.1', '-bind_local',
        '-p', String(port),
        '-cp', String(ctrlPort),
        '-t', opts.transport === 'tcp' ? 't1' : 'u1',
        '-m', String(n),
        '-r', String(rate), '-rp', '1000',
        '-d', String(holdMs),
        '-recv_timeout', String(recvTimeoutMs),
        '-timeout', `${Math.ceil(timeoutMs / 1000)}s`,
        '-nostdin',
        '-trace_msg', '-message_file', msgFile,
      ];
      if (opts.concurrency) args.push('-l', String(opts.concurrency));
      const proc = startProcess(SIPP_BIN, args, { cwd: dir });
      const finished = new Promise<number | null>((res) => {
        if (exited(proc)) res(proc.child.exitCode);
        else proc.child.once('exit', (code) => res(code));
      });
      const exitCode = await Promise.race([finished, sleep(timeoutMs + 5000).then(() => 'timeout' as const)]);
      if (exitCode === 'timeout') {
        await proc.stop('SIGKILL');
        throw new Error(`sipp UAC did not finish within ${timeoutMs + 5000} ms:\n${proc.output().slice(-3000)}`);
      }
      const log = existsSync(msgFile) ? readFileSync(msgFile, 'utf8') : '';
      if (log === '' && attempt < 2 && BIND_ERROR.test(proc.output())) continue;
      return summarize(parseSippMessageLog(log), plan, n, opts.scenario ?? 'call', exitCode, proc.output());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(
  messages: SipMessage[],
  plan: readonly { service: string; caller: string }[],
  expectedCalls: number,
  scenario: 'call' | 'cancel',
  exitCode: number | null,
  output: string,
): UacResult {
  interface Acc { callId: string; callNumber: number; invite?: number; bye?: number; cancel?: number }
  const byCall = new Map<string, Acc>();
  for (const msg of messages) {
    if (!msg.callId) continue;
    let acc = byCall.get(msg.callId);
    if (!acc) {
      // sipp's default Call-ID is "<call number>-<pid>@<ip>"
      acc = { callId: msg.callId, callNumber: Number(/^(\d+)-/.exec(msg.callId)?.[1] ?? 0) };
      byCall.set(msg.callId, acc);
    }
    if (msg.direction !== 'received' || msg.status === undefined || msg.status < 200) continue;
    if (msg.cseqMethod === 'INVITE' && acc.invite === undefined) acc.invite = msg.status;
    if (msg.cseqMethod === 'BYE' && acc.bye === undefined) acc.bye = msg.status;
    if (msg.cseqMethod === 'CANCEL' && acc.cancel === undefined) acc.cancel = msg.status;
  }
  const calls: UacCall[] = [...byCall.values()]
    .sort((a, b) => a.callNumber - b.callNumber)
    .map((a) => {
      const p = plan[(a.callNumber - 1) % plan.length] ?? { service: '', caller: '' };
      const ok =
        scenario === 'cancel'
          ? a.invite === 487 && a.cancel === 200
          : a.invite !== undefined && a.invite >= 200 && a.invite < 300 && a.bye === 200;
      return {
        callNumber: a.callNumber,
        callId: a.callId,
        service: p.service,
        caller: p.caller,
        inviteStatus: a.invite,
        byeStatus: a.bye,
        cancelStatus: a.cancel,
        ok,
      };
    });
  const statusCodes: Record<string, number> = {};
  for (const c of calls) {
    const k = c.inviteStatus === undefined ? 'none' : String(c.inviteStatus);
    statusCodes[k] = (statusCodes[k] ?? 0) + 1;
  }
  const successful = calls.filter((c) => c.ok).length;
  // calls sipp never started count as failed too
  return { successful, failed: Math.max(expectedCalls, calls.length) - successful, statusCodes, calls, exitCode, messages, output };
}
