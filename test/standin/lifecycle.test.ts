/**
 * Start-up and shutdown timing as measured on a real FreeSWITCH 1.11.3: the event socket (and the
 * SIP port) open about 2 s after the process starts; SHUTDOWN fires 0.2-1.05 s after
 * `fsctl shutdown`, and calls are still taken until then. Asserted as orderings, not durations.
 */
import { describe, expect, it } from 'vitest';
import { captureEvents, captureFrames } from './captures.js';
import { contentType, getHeader, type EslEvent } from './esl-frames.js';
import { api, useStandins } from './fixture.js';
import { drawShutdownDelayMs, ESL_READY_DELAY_MS, SHUTDOWN_DELAY_RANGE_MS, seededRandom } from './lifecycle.js';
import { header } from './sip-message.js';
import { launchStandin } from './standin.js';
import { SipTestUac, tcpConnectOutcome, udpProbe } from './test-clients.js';

const { standin, closeLater, client, answeredCall } = useStandins();

const evName = (e: EslEvent) => getHeader(e.headers, 'Event-Name');
const shape = (e: EslEvent) => e.headers.slice(13);


describe('start-up: ESL and SIP open only once FreeSWITCH is ready', () => {
  it('launchStandin (default delay): ports known at once, ESL refused and SIP unbound until ready, then both on those ports', async () => {
    expect(ESL_READY_DELAY_MS).toBe(2000);
    const s = await launchStandin({ toneMs: 200 });
    let ready = false;
    const readyOrStopped = s.ready.then(() => (ready = true));
    try {
      const { eslPort, sipPort } = s;
      expect(eslPort).toBeGreaterThan(0);
      expect(sipPort).toBeGreaterThan(0);
      const [esl, sip] = [await tcpConnectOutcome(eslPort), await udpProbe(sipPort)];
      expect(ready, 'probes ran before ready').toBe(false);
      expect(esl).toBe('refused');
      expect(sip).toBe('refused');
      expect(s.running).toBe(false);

      await readyOrStopped;
      expect([s.eslPort, s.sipPort]).toEqual([eslPort, sipPort]);
      expect(s.running).toBe(true);
      const c = await client(s);
      // Up-Time counts from process start, so it already includes the wait for readiness.
      const up = /(\d+) seconds?, (\d+) milliseconds?/.exec(await api(c, 'status'));
      expect(Number(up?.[1]) * 1000 + Number(up?.[2])).toBeGreaterThanOrEqual(ESL_READY_DELAY_MS);
      expect(await udpProbe(sipPort)).toBe('answered');
      await answeredCall(s);
    } finally {
      await s.stop();
    }
  });

  it('startStandin resolves only once ESL accepts', async () => {
    const s = await standin({ eslReadyDelayMs: 300 });
    expect(await tcpConnectOutcome(s.eslPort)).toBe('accepted');
    expect(await udpProbe(s.sipPort)).toBe('answered');
  });

  it('stop() before ready: ready rejects, nothing ever listens', async () => {
    const s = await launchStandin({ eslReadyDelayMs: 5000 });
    const port = s.eslPort;
    await s.stop();
    await expect(s.ready).rejects.toThrow(/stopped before it was ready/);
    expect(await tcpConnectOutcome(port)).toBe('refused');
  });

  it('restart() of a running stand-in: SHUTDOWN and the notice, refused while the new process starts, then a new Core-UUID on the same ports', async () => {
    const s = await standin({ eslReadyDelayMs: 0, shutdownDelayMs: 0 });
    const { eslPort, sipPort, coreUuid } = s;
    const events = await client(s, 'event plain ALL');
    let restarted = false;
    const restarting = s.restart({ eslReadyDelayMs: 1500 }).then(() => (restarted = true));
    await events.waitClosed();
    expect(events.events().map(evName)).toContain('SHUTDOWN');
    expect(events.frames.at(-1)?.body.toString()).toBe('The system is being shut down.\n');
    const refused = await tcpConnectOutcome(eslPort);
    expect(restarted, 'probe ran before the restart completed').toBe(false);
    expect(refused).toBe('refused');
    await restarting;
    expect([s.eslPort, s.sipPort]).toEqual([eslPort, sipPort]);
    expect(s.coreUuid).not.toBe(coreUuid);
    expect(await api(await client(s), 'global_getvar core_uuid')).toBe(s.coreUuid);
  });
});

describe('shutdown: SHUTDOWN comes late, calls keep coming until then', () => {
  it('the delay is drawn from the measured 200-1050 ms, the same for the same seed', () => {
    expect(SHUTDOWN_DELAY_RANGE_MS).toEqual([200, 1050]);
    const draws = Array.from({ length: 200 }, (_, i) => drawShutdownDelayMs(seededRandom(i)));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...draws)).toBeLessThanOrEqual(1050);
    expect(Math.min(...draws)).toBeLessThan(400); // spread over the range, not one value
    expect(Math.max(...draws)).toBeGreaterThan(850);
    const a = seededRandom(42);
    const b = seededRandom(42);
    expect([drawShutdownDelayMs(a), drawShutdownDelayMs(a)]).toEqual([drawShutdownDelayMs(b), drawShutdownDelayMs(b)]);
  });

  it('fsctl shutdown: +OK now; ESL still answers and a new call is answered; then SHUTDOWN, both calls hung up SYSTEM_SHUTDOWN, MODULE_UNLOAD, notice', async () => {
    // 1 s is inside the measured range and leaves room for the call placed after +OK.
    const s = await standin({ eslReadyDelayMs: 0, shutdownDelayMs: 1000, hostname: 'vm' });
    const events = await client(s, 'event plain ALL');
    const c = await client(s);
    const early = await answeredCall(s);
    expect(await api(c, 'fsctl shutdown')).toBe('+OK\n');
    expect(await api(c, 'status')).toContain(' is ready\n');
    const late = await answeredCall(s);
    const lateUuid = s.calls.find((r) => r.callId === late.callId)?.uuid;
    expect(s.calls.find((r) => r.callId === late.callId)?.answeredAt).toBeDefined();

    const [byeEarly, byeLate] = [await early.request('BYE'), await late.request('BYE')];
    for (const bye of [byeEarly, byeLate]) expect(header(bye, 'Reason')).toBe('SIP;cause=501;text="SYSTEM_SHUTDOWN"');
    await Promise.all([events.waitClosed(), c.waitClosed()]);

    const evs = events.events();
    const shutdownAt = evs.findIndex((e) => evName(e) === 'SHUTDOWN');
    const apiFsctl = evs.findIndex((e) => getHeader(e.headers, 'API-Command') === 'fsctl');
    const lateAnswer = evs.findIndex((e) => evName(e) === 'CHANNEL_ANSWER' && getHeader(e.headers, 'Unique-ID') === lateUuid);
    expect(apiFsctl).toBeGreaterThanOrEqual(0);
    expect(lateAnswer).toBeGreaterThan(apiFsctl);
    expect(shutdownAt).toBeGreaterThan(lateAnswer);
    const completes = evs.flatMap((e, i) => (evName(e) === 'CHANNEL_HANGUP_COMPLETE' ? [{ e, i }] : []));
    expect(completes.map(({ e }) => getHeader(e.headers, 'Hangup-Cause'))).toEqual(['SYSTEM_SHUTDOWN', 'SYSTEM_SHUTDOWN']);
    expect(completes.map(({ e }) => getHeader(e.headers, 'variable_hangup_cause_q850'))).toEqual(['16', '16']);
    for (const { i } of completes) expect(i).toBeGreaterThan(shutdownAt);
    // The tail as in plain-events-shutdown.esl: SHUTDOWN … 42 MODULE_UNLOAD, then the notice.
    const real = captureEvents('plain-events-shutdown');
    expect(shape(evs[shutdownAt]!)).toEqual(shape(real.find((e) => evName(e) === 'SHUTDOWN')!));
    expect(evs.slice(-42).map(shape)).toEqual(real.filter((e) => evName(e) === 'MODULE_UNLOAD').map(shape));
    for (const conn of [events, c]) {
      expect(conn.frames.at(-1)?.body.toString()).toBe('The system is being shut down.\n');
      expect(conn.frames.some((f) => getHeader(f.headers, 'Reply-Text') === '+OK bye')).toBe(false);
    }
    expect(c.frames.at(-1)).toEqual(captureFrames('api-shutdown').at(-1));
    expect(s.calls.filter((r) => r.uuid).map((r) => r.hangupCause)).toEqual(['SYSTEM_SHUTDOWN', 'SYSTEM_SHUTDOWN']);
  });

  it('a call still ringing at SHUTDOWN is refused 480 with the Reason; its channel says send_refuse', async () => {
    const s = await standin({ eslReadyDelayMs: 0, shutdownDelayMs: 0 });
    const events = await client(s, 'event plain CHANNEL_HANGUP_COMPLETE');
    s.setAnswerDelay(60_000);
    const u = closeLater(await SipTestUac.open(s.sipPort));
    u.invite();
    await u.response(100);
    await s.shutdown();
    const refusal = await u.response(480);
    expect(refusal.reason).toBe('Temporarily Unavailable');
    expect(header(refusal, 'Reason')).toBe('SIP;cause=501;text="SYSTEM_SHUTDOWN"');
    const done = events.events().find((e) => evName(e) === 'CHANNEL_HANGUP_COMPLETE');
    expect(getHeader(done?.headers ?? [], 'variable_sip_hangup_disposition')).toBe('send_refuse');
    expect(getHeader(done?.headers ?? [], 'Hangup-Cause')).toBe('SYSTEM_SHUTDOWN');
  });

  it('kill() during the delay: the pending shutdown settles, no SHUTDOWN is sent', async () => {
    const s = await standin({ eslReadyDelayMs: 0, shutdownDelayMs: 30_000 });
    const events = await client(s, 'event plain ALL');
    const pending = s.shutdown();
    expect(s.running).toBe(true);
    await s.kill();
    await pending;
    await events.waitClosed();
    expect(events.events().map(evName)).not.toContain('SHUTDOWN');
    expect(events.frames.map(contentType)).not.toContain('text/disconnect-notice');
  });

  it('fsctl shutdown cancel: +OK and nothing else (it only cancels elegant/asap shutdowns)', async () => {
    const s = await standin({ eslReadyDelayMs: 0, shutdownDelayMs: 0 });
    const events = await client(s, 'event plain SHUTDOWN');
    const c = await client(s);
    expect(await api(c, 'fsctl shutdown cancel')).toBe('+OK\n');
    // A plain shutdown with no delay would have fired before this round trip completes.
    expect(await api(c, 'status')).toContain(' is ready\n');
    expect(events.events()).toEqual([]);
    expect(s.running).toBe(true);
  });
});
