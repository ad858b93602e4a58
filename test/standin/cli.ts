/**
 * Runs one FreeSWITCH stand-in until SIGTERM/SIGINT, which shut it down gracefully (after the
 * shutdown delay: SHUTDOWN and MODULE_UNLOAD events, BYE for live calls, disconnect notices), as
 * SIGTERM does to FreeSWITCH (it sets the same flag as `fsctl shutdown`).
 *
 *   npx tsx test/standin/cli.ts --esl-port 0 --sip-port 0 [--password ClueCon] [--max-sessions 1000]
 *     [--heartbeat-ms 20000] [--hostname h] [--profile internal] [--core-uuid u] [--tone-ms 3000]
 *     [--answer-delay-ms 0] [--auto-hangup-ms 0] [--options-503-on-busy]
 *     [--esl-ready-delay-ms 2000] [--shutdown-delay-ms <drawn from 200..1050>] [--seed n]
 *     [--profile-min-uptime-sec 10] [--bridge-target sip:host:port]
 *
 * Prints one JSON line once ready (ESL accepts, SIP answers; --esl-ready-delay-ms after start):
 * {"eslPort","sipPort","sipUri","coreUuid","password","hostname"}.
 */
import { parseArgs } from 'node:util';
import { startStandin, type StandinOptions } from './standin.js';

const { values } = parseArgs({
  options: {
    'esl-port': { type: 'string' },
    'sip-port': { type: 'string' },
    'sip-host': { type: 'string' },
    password: { type: 'string' },
    'max-sessions': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    hostname: { type: 'string' },
    profile: { type: 'string' },
    'core-uuid': { type: 'string' },
    'tone-ms': { type: 'string' },
    'answer-delay-ms': { type: 'string' },
    'auto-hangup-ms': { type: 'string' },
    'options-503-on-busy': { type: 'boolean' },
    'esl-ready-delay-ms': { type: 'string' },
    'shutdown-delay-ms': { type: 'string' },
    seed: { type: 'string' },
    'profile-min-uptime-sec': { type: 'string' },
    'bridge-target': { type: 'string' },
  },
  strict: true,
});

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    process.stderr.write(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return Number(v);
}

const opts: StandinOptions = {
  eslPort: int('esl-port', values['esl-port']),
  sipPort: int('sip-port', values['sip-port']),
  sipHost: values['sip-host'],
  password: values.password,
  maxSessions: int('max-sessions', values['max-sessions']),
  heartbeatMs: int('heartbeat-ms', values['heartbeat-ms']),
  hostname: values.hostname,
  profile: values.profile,
  coreUuid: values['core-uuid'],
  toneMs: int('tone-ms', values['tone-ms']),
  answerDelayMs: int('answer-delay-ms', values['answer-delay-ms']),
  autoHangupMs: int('auto-hangup-ms', values['auto-hangup-ms']),
  optionsRespond503OnBusy: values['options-503-on-busy'],
  eslReadyDelayMs: int('esl-ready-delay-ms', values['esl-ready-delay-ms']),
  shutdownDelayMs: int('shutdown-delay-ms', values['shutdown-delay-ms']),
  seed: int('seed', values.seed),
  profileMinUptimeSec: int('profile-min-uptime-sec', values['profile-min-uptime-sec']),
  bridgeTarget: values['bridge-target'],
};

const standin = await startStandin(opts);
const { eslPort, sipPort, sipUri, coreUuid, password, hostname } = standin;
process.stdout.write(`${JSON.stringify({ eslPort, sipPort, sipUri, coreUuid, password, hostname })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await standin.shutdown();
  await standin.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// The stand-in's own timers are unref'd; this keeps the process up until a signal arrives.
setInterval(() => undefined, 1 << 30);
