import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readMessage, splitFrames, type EslFrame, type EslMessage } from '../../../src/agent/esl-frames.js';
import type { StatusResult } from '../../../src/events/commands.js';

/**
 * The real FreeSWITCH ESL captures in test/fixtures/freeswitch-esl, read with the agent's
 * own frame parser (so every test that uses them also exercises it).
 */
export const CAPTURES = fileURLToPath(new URL('../../fixtures/freeswitch-esl', import.meta.url));

export const MAIN_CORE_UUID = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
export const RESTARTED_CORE_UUID = 'def08126-e871-4825-97a6-5297749dd33f';

export function captureBytes(name: string): Buffer {
  return readFileSync(`${CAPTURES}/${name}.esl`);
}

/** Every frame of a capture; throws if bytes are left over (a capture ends on a frame). */
export function captureFrames(name: string): readonly EslFrame[] {
  const split = splitFrames(captureBytes(name));
  if (split.rest.length !== 0) throw new Error(`${name}: ${split.rest.length} bytes after the last frame`);
  return split.frames;
}

export function captureMessages(name: string): EslMessage[] {
  return captureFrames(name).map(readMessage);
}

/** The lines a client sent on that connection (`<name>.sent`), one command each. */
export function sentCommands(name: string): string[] {
  return readFileSync(`${CAPTURES}/${name}.sent`, 'utf8')
    .split('\n\n')
    .filter((c) => c !== '');
}

/** Each `api <command>` the client sent, paired with the api/response body it got back. */
export function apiReplies(name: string): Array<{ command: string; output: string }> {
  const commands = sentCommands(name)
    .filter((l) => l.startsWith('api '))
    .map((l) => l.slice(4));
  const outputs = captureMessages(name).flatMap((m) => (m.kind === 'api-response' ? [m.output] : []));
  if (commands.length !== outputs.length) throw new Error(`${name}: ${commands.length} api commands, ${outputs.length} responses`);
  return commands.map((command, i) => ({ command, output: outputs[i] as string }));
}

/** The output of the nth (0-based) run of `command` in a capture. */
export function apiOutput(name: string, command: string, nth = 0): string {
  const found = apiReplies(name).filter((r) => r.command === command)[nth];
  if (!found) throw new Error(`${name}: no run #${nth} of ${command}`);
  return found.output;
}

function eventHeaders(name: string, contentType: string): Array<Readonly<Record<string, unknown>>> {
  return captureFrames(name).flatMap((f) => {
    if (f.headers.get('Content-Type') !== contentType) return [];
    const m = readMessage(f);
    if (m.kind !== 'event') throw new Error(`${name}: unreadable event`);
    return [m.event.headers];
  });
}

/** Headers of every text/event-json event, as the ESL client hands them to listeners. */
export function jsonEvents(name: string): Array<Readonly<Record<string, unknown>>> {
  return eventHeaders(name, 'text/event-json');
}

/** Headers of every text/event-plain event, URL-decoded (the inner body, if any, apart). */
export function plainEvents(name: string): Array<Readonly<Record<string, string>>> {
  return eventHeaders(name, 'text/event-plain') as Array<Readonly<Record<string, string>>>;
}

/**
 * The live status of the FreeSWITCH in `api-replies` (main Core-UUID, SIP profile `internal`
 * running, inbound not paused), written out from the capture, with the time it was read.
 */
export function capturedLiveStatus(readAt: number): StatusResult {
  return {
    coreUuid: MAIN_CORE_UUID,
    version: '1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit',
    uptimeMs: 5164,
    ready: true,
    sessions: 0,
    maxSessions: 1000,
    sessionsSinceStartup: 0,
    sessionsPeak: 0,
    sipProfile: { name: 'internal', running: true, sipUri: 'sip:127.0.0.1:5080' },
    inboundPaused: false,
    blockers: [],
    readAt,
  };
}
