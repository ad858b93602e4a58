/**
 * The frame parser and the event encoders, proved on the real captures: frame counts equal the
 * fixture README's tables, and every captured event re-encodes to exactly the bytes FreeSWITCH sent.
 */
import { describe, expect, it } from 'vitest';
import { captureEvents, captureFrames } from './captures.js';
import { contentType, eventKey, getHeader, parseEventFrame } from './esl-frames.js';
import { serializeJson, serializePlain } from './esl-encode.js';

function countTypes(name: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of captureFrames(name)) {
    const t = contentType(f) ?? '(none)';
    counts[t] = (counts[t] ?? 0) + 1;
  }
  return counts;
}

describe('ESL frame parser on the captures', () => {
  it.each([
    ['plain-events-calls', 621, { 'auth/request': 1, 'command/reply': 3, 'text/event-plain': 616, 'text/disconnect-notice': 1 }],
    ['json-events-calls', 621, { 'auth/request': 1, 'command/reply': 3, 'text/event-json': 616, 'text/disconnect-notice': 1 }],
    ['api-replies', 53, { 'auth/request': 1, 'command/reply': 6, 'api/response': 42, 'text/event-plain': 3, 'text/disconnect-notice': 1 }],
    ['auth-failure', 3, { 'auth/request': 1, 'command/reply': 1, 'text/disconnect-notice': 1 }],
    ['plain-events-shutdown', 49, { 'auth/request': 1, 'command/reply': 2, 'text/event-plain': 45, 'text/disconnect-notice': 1 }],
    ['api-shutdown', 5, { 'auth/request': 1, 'command/reply': 1, 'api/response': 2, 'text/disconnect-notice': 1 }],
    ['plain-events-after-restart', 11, { 'auth/request': 1, 'command/reply': 3, 'text/event-plain': 6, 'text/disconnect-notice': 1 }],
    ['api-replies-after-restart', 8, { 'auth/request': 1, 'command/reply': 2, 'api/response': 4, 'text/disconnect-notice': 1 }],
  ])('%s: %i frames', (name, total, types) => {
    expect(captureFrames(name)).toHaveLength(total);
    expect(countTypes(name)).toEqual(types);
  });

  it('counts the README event table in plain-events-calls', () => {
    const counts: Record<string, number> = {};
    for (const e of captureEvents('plain-events-calls')) counts[eventKey(e)] = (counts[eventKey(e)] ?? 0) + 1;
    expect(counts).toMatchObject({
      API: 57, BACKGROUND_JOB: 3, CHANNEL_CREATE: 16, CHANNEL_DESTROY: 16, CHANNEL_STATE: 111, CHANNEL_EXECUTE: 52,
      HEARTBEAT: 3, RE_SCHEDULE: 4, 'CUSTOM conference::maintenance': 55, PRESENCE_IN: 53, CODEC: 48,
    });
  });

  it('decodes the plain and the JSON capture to the same 616 events', () => {
    const plain = captureEvents('plain-events-calls');
    const json = captureEvents('json-events-calls');
    expect(json).toHaveLength(616);
    expect(json).toEqual(plain);
  });

  it('reads BACKGROUND_JOB bodies from both formats', () => {
    const job = captureEvents('api-replies').find((e) => getHeader(e.headers, 'Event-Name') === 'BACKGROUND_JOB');
    expect(job?.body).toBe('+OK a1672fba-fcf7-460c-97e8-5aa6f14cf633\n');
    const jsonJob = captureEvents('json-events-calls').find((e) => getHeader(e.headers, 'Event-Name') === 'BACKGROUND_JOB');
    expect(jsonJob?.body).toBe('+OK a1672fba-fcf7-460c-97e8-5aa6f14cf633\n');
  });
});

describe('event encoders against the captured bytes', () => {
  it.each(['plain-events-calls', 'json-events-calls', 'api-replies', 'plain-events-shutdown', 'plain-events-after-restart'])(
    '%s: every event re-encodes byte for byte',
    (name) => {
      let checked = 0;
      for (const frame of captureFrames(name)) {
        const ev = parseEventFrame(frame);
        if (!ev) continue;
        const encoded = contentType(frame) === 'text/event-plain' ? serializePlain(ev.headers, ev.body) : serializeJson(ev.headers, ev.body);
        expect(encoded).toBe(frame.body.toString('utf8'));
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    },
  );
});
