import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseEventFrame, parseFrames, type EslEvent, type EslFrame } from './esl-frames.js';

/** The real FreeSWITCH 1.11.2 ESL captures, kept byte-exact in the repository (see their README.md). */
export const CAPTURES = fileURLToPath(new URL('../fixtures/freeswitch-esl', import.meta.url));

export function captureBytes(name: string): Buffer {
  return readFileSync(`${CAPTURES}/${name}.esl`);
}

export function captureFrames(name: string): EslFrame[] {
  return parseFrames(captureBytes(name));
}

export function captureEvents(name: string): EslEvent[] {
  return captureFrames(name)
    .map(parseEventFrame)
    .filter((e): e is EslEvent => e !== undefined);
}

/** The commands a capture's client sent, one per entry, without the terminating empty line. */
export function captureSent(name: string): string[] {
  return readFileSync(`${CAPTURES}/${name}.sent`, 'utf8')
    .split('\n\n')
    .filter((c) => c !== '');
}
