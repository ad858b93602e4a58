import { describe, expect, it } from 'vitest';
import { EslFrameReader, EslProtocolError, readMessage, splitFrames, type EslFrame } from '../../../src/agent/esl-frames.js';
import { captureBytes, captureFrames, captureMessages } from './captures.js';

/** The agent's ESL parser, proved on the real captures (frame counts from the fixture README). */

function kinds(name: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of captureMessages(name)) counts[m.kind] = (counts[m.kind] ?? 0) + 1;
  return counts;
}

/** Bytes of frames [from, to) of a capture, exactly as received. */
function frameBytes(name: string, from: number, to: number): Buffer {
  const bytes = captureBytes(name);
  let at = 0;
  let start = 0;
  for (let i = 0; i < to; i++) {
    if (i === from) start = at;
    const end = bytes.indexOf('\n\n', at);
    const f = splitFrames(bytes.subarray(at, end + 2 + 64 * 1024)).frames[0];
    if (!f || end < 0) throw new Error(`${name}: no frame ${i}`);
    at = end + 2 + f.body.length;
  }
  return bytes.subarray(start, at);
}

/** Frames as one string: deep-comparing Buffers thousands of times is slow; this is exact. */
function fingerprint(frames: readonly EslFrame[]): string {
  return JSON.stringify(frames.map((f) => [[...f.headers], f.body.toString('base64')]));
}

function readAll(chunks: readonly Buffer[]): { frames: EslFrame[]; pending: number } {
  const reader = new EslFrameReader();
  const frames = chunks.flatMap((c) => [...reader.push(c)]);
  return { frames, pending: reader.pending };
}

describe('splitFrames on every capture', () => {
  it.each([
    ['json-events-calls', 621, { 'auth-request': 1, 'command-reply': 3, event: 616, 'disconnect-notice': 1 }],
    ['plain-events-calls', 621, { 'auth-request': 1, 'command-reply': 3, event: 616, 'disconnect-notice': 1 }],
    ['api-replies', 53, { 'auth-request': 1, 'command-reply': 6, 'api-response': 42, event: 3, 'disconnect-notice': 1 }],
    ['auth-failure', 3, { 'auth-request': 1, 'command-reply': 1, 'disconnect-notice': 1 }],
    ['api-shutdown', 5, { 'auth-request': 1, 'command-reply': 1, 'api-response': 2, 'disconnect-notice': 1 }],
    ['cascade-a-api', 63, { 'auth-request': 1, 'command-reply': 4, 'api-response': 56, event: 1, 'disconnect-notice': 1 }],
    ['cascade-b-json', 220, { 'auth-request': 1, 'command-reply': 3, event: 215, 'disconnect-notice': 1 }],
    ['kill-a-json', 440, { 'auth-request': 1, 'command-reply': 3, event: 435, 'disconnect-notice': 1 }],
    // Killed with kill -9: the stream simply stops after a whole frame, with no notice.
    ['kill-b-plain', 57, { 'auth-request': 1, 'command-reply': 2, event: 54 }],
    ['kill-b-api', 5, { 'auth-request': 1, 'command-reply': 2, 'api-response': 2 }],
  ])('%s: %i frames, no byte left over, kinds as in the README', (name, total, expected) => {
    expect(captureFrames(name)).toHaveLength(total);
    expect(kinds(name)).toEqual(expected);
  });

  it('the JSON and the plain capture of the same calls give the same events: names, order, every string header, bodies', () => {
    const events = (name: string) => captureMessages(name).flatMap((m) => (m.kind === 'event' ? [m.event] : []));
    const json = events('json-events-calls');
    const plain = events('plain-events-calls');
    expect(json.map((e) => e.name)).toEqual(plain.map((e) => e.name));
    json.forEach((e, i) => {
      const p = plain[i];
      for (const [name, value] of Object.entries(e.headers)) {
        // Multi-valued headers are arrays in JSON and `ARRAY::a|:b` text in plain events.
        if (typeof value === 'string') expect(p?.headers[name]).toBe(value);
      }
      expect(Object.keys(p?.headers ?? {})).toHaveLength(Object.keys(e.headers).length);
      expect(p?.body).toBe(e.body);
    });
  });
});

describe('readMessage on the real frames', () => {
  it('auth-failure.esl: auth/request, the refusal, the goodbye notice', () => {
    expect(captureMessages('auth-failure')).toEqual([
      { kind: 'auth-request' },
      { kind: 'command-reply', replyText: '-ERR invalid', jobUuid: undefined },
      { kind: 'disconnect-notice', text: 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n' },
    ]);
  });

  it('api-shutdown.esl: the Core-UUID (36 bytes, no newline), +OK, then the shutdown notice', () => {
    expect(captureMessages('api-shutdown').slice(2)).toEqual([
      { kind: 'api-response', output: '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26' },
      { kind: 'api-response', output: '+OK\n' },
      { kind: 'disconnect-notice', text: 'The system is being shut down.\n' },
    ]);
  });

  it('api-replies.esl: a bgapi reply names its Job-UUID; its BACKGROUND_JOB (plain, inner body) carries the output', () => {
    const messages = captureMessages('api-replies');
    const bgapi = messages.filter((m) => m.kind === 'command-reply' && m.jobUuid !== undefined);
    expect(bgapi[0]).toEqual({
      kind: 'command-reply',
      replyText: '+OK Job-UUID: 2255d2b0-754a-4c75-9867-6586e0ea821c',
      jobUuid: '2255d2b0-754a-4c75-9867-6586e0ea821c',
    });
    const job = messages.find((m) => m.kind === 'event' && m.event.headers['Job-UUID'] === '2255d2b0-754a-4c75-9867-6586e0ea821c');
    expect(job?.kind === 'event' && job.event.name).toBe('BACKGROUND_JOB');
    expect(job?.kind === 'event' && job.event.body).toBe('+OK a1672fba-fcf7-460c-97e8-5aa6f14cf633\n');
    expect(job?.kind === 'event' && job.event.headers['Job-Command']).toBe('originate');
  });

  it('json-events-calls.esl: the BACKGROUND_JOB body comes out of `_body`, not left among the headers', () => {
    const job = captureMessages('json-events-calls').find((m) => m.kind === 'event' && m.event.name === 'BACKGROUND_JOB');
    if (job?.kind !== 'event') throw new Error('no BACKGROUND_JOB');
    expect(job.event.body).toBe('+OK a1672fba-fcf7-460c-97e8-5aa6f14cf633\n');
    expect(job.event.headers).not.toHaveProperty('_body');
    expect(job.event.headers).not.toHaveProperty('Content-Length');
  });

  it('plain values are URL-decoded; JSON values are as in the object', () => {
    const first = (name: string) => captureMessages(name).find((m) => m.kind === 'event' && m.event.name === 'HEARTBEAT');
    const plain = first('plain-events-calls');
    const json = first('json-events-calls');
    expect(plain?.kind === 'event' && plain.event.headers['FreeSWITCH-IPv6']).toBe('fd00::2');
    expect(json?.kind === 'event' && json.event.headers['FreeSWITCH-IPv6']).toBe('fd00::2');
  });

  it('an event body that is not JSON is unreadable, not fatal: the framing is intact', () => {
    const frame = splitFrames(Buffer.from('Content-Length: 5\nContent-Type: text/event-json\n\n{"a":')).frames[0] as EslFrame;
    expect(readMessage(frame)).toMatchObject({ kind: 'unreadable-event' });
  });
});

describe('EslFrameReader on partial reads', () => {
  const samples: Array<[string, Buffer]> = [
    ['auth/request, command/reply x2, api/response x3 (api-replies.esl)', frameBytes('api-replies', 0, 6)],
    ['a plain BACKGROUND_JOB with an inner body (api-replies.esl)', frameBytes('api-replies', 26, 27)],
    ['a 4 KB JSON CHANNEL_CREATE (json-events-calls.esl)', frameBytes('json-events-calls', 16, 17)],
    ['the whole of auth-failure.esl, disconnect notice included', captureBytes('auth-failure')],
    ['the end of api-shutdown.esl: api/response and the shutdown notice', frameBytes('api-shutdown', 3, 5)],
  ];

  it.each(samples)('%s: split at every byte boundary, the same frames as read whole', (_what, bytes) => {
    const whole = splitFrames(bytes);
    expect(whole.rest).toHaveLength(0);
    expect(whole.frames.length).toBeGreaterThan(0);
    const expected = fingerprint(whole.frames);
    const wrong: number[] = [];
    for (let k = 1; k < bytes.length; k++) {
      const { frames, pending } = readAll([bytes.subarray(0, k), bytes.subarray(k)]);
      if (pending !== 0 || fingerprint(frames) !== expected) wrong.push(k);
    }
    expect(wrong).toEqual([]);
  });

  it.each(samples)('%s: one byte per read, the same frames', (_what, bytes) => {
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    const { frames, pending } = readAll(chunks);
    expect(pending).toBe(0);
    expect(frames).toEqual(splitFrames(bytes).frames);
  });

  it('a whole capture in 1000-byte reads gives every frame', () => {
    const bytes = captureBytes('plain-events-shutdown');
    const chunks = Array.from({ length: Math.ceil(bytes.length / 1000) }, (_, i) => bytes.subarray(i * 1000, (i + 1) * 1000));
    expect(readAll(chunks).frames).toEqual(captureFrames('plain-events-shutdown'));
  });

  it('a UTF-8 character split between reads is decoded once the frame is whole', () => {
    const body = Buffer.from('Caller: Jürgen ✓');
    const bytes = Buffer.concat([Buffer.from(`Content-Type: api/response\nContent-Length: ${body.length}\n\n`), body]);
    const cut = bytes.indexOf(Buffer.from('ü')) + 1;
    const { frames } = readAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    expect(frames.map(readMessage)).toEqual([{ kind: 'api-response', output: 'Caller: Jürgen ✓' }]);
  });

  it('keeps what is not a whole frame yet', () => {
    const reader = new EslFrameReader();
    expect(reader.push(Buffer.from('Content-Type: api/response\nContent-Length: 10\n\n12345'))).toEqual([]);
    expect(reader.pending).toBe(52);
  });
});

describe('strictness: bytes that cannot be ESL', () => {
  it.each([
    ['a Content-Length that is not a number', 'Content-Type: api/response\nContent-Length: 1x\n\n'],
    ['a negative Content-Length', 'Content-Type: api/response\nContent-Length: -1\n\n'],
    ['a header line without ": "', 'Content-Type api/response\n\n'],
    ['an empty header block', '\n\nContent-Type: auth/request\n\n'],
  ])('%s', (_what, text) => {
    expect(() => splitFrames(Buffer.from(text))).toThrow(EslProtocolError);
  });

  it('a header block that never ends', () => {
    expect(() => new EslFrameReader().push(Buffer.alloc(70 * 1024, 'a'))).toThrow(EslProtocolError);
  });

  it('a body larger than any FreeSWITCH output', () => {
    expect(() => splitFrames(Buffer.from('Content-Type: api/response\nContent-Length: 99999999999\n\n'))).toThrow(EslProtocolError);
  });
});
