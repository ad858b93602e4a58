import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Minimal reader for the real FreeSWITCH ESL captures in test/fixtures/freeswitch-esl:
 * enough framing to pull out api outputs and event headers, nothing more.
 */
export const CAPTURES = fileURLToPath(new URL('../../fixtures/freeswitch-esl', import.meta.url));

export const MAIN_CORE_UUID = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
export const RESTARTED_CORE_UUID = 'def08126-e871-4825-97a6-5297749dd33f';

interface Frame {
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\n\n', at);
    if (end < 0) throw new Error(`unframed bytes at ${at}`);
    const headers = new Map<string, string>();
    for (const line of bytes.subarray(at, end).toString('utf8').split('\n')) {
      const i = line.indexOf(': ');
      if (i > 0) headers.set(line.slice(0, i), line.slice(i + 2));
    }
    const len = Number(headers.get('Content-Length') ?? '0');
    out.push({ headers, body: bytes.subarray(end + 2, end + 2 + len) });
    at = end + 2 + len;
  }
  return out;
}

function read(name: string): Buffer {
  return readFileSync(`${CAPTURES}/${name}`);
}

/** Each `api <command>` the client sent, paired with the api/response body it got back. */
export function apiReplies(name: string): Array<{ command: string; output: string }> {
  const commands = read(`${name}.sent`)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.startsWith('api '))
    .map((l) => l.slice(4));
  const outputs = frames(read(`${name}.esl`))
    .filter((f) => f.headers.get('Content-Type') === 'api/response')
    .map((f) => f.body.toString('utf8'));
  if (commands.length !== outputs.length) throw new Error(`${name}: ${commands.length} api commands, ${outputs.length} responses`);
  return commands.map((command, i) => ({ command, output: outputs[i] as string }));
}

/** The output of the nth (0-based) run of `command` in a capture. */
export function apiOutput(name: string, command: string, nth = 0): string {
  const found = apiReplies(name).filter((r) => r.command === command)[nth];
  if (!found) throw new Error(`${name}: no run #${nth} of ${command}`);
  return found.output;
}

/** Headers of every text/event-json event, as esl-lite hands them to listeners. */
export function jsonEvents(name: string): Array<Record<string, unknown>> {
  return frames(read(`${name}.esl`))
    .filter((f) => f.headers.get('Content-Type') === 'text/event-json')
    .map((f) => JSON.parse(f.body.toString('utf8')) as Record<string, unknown>);
}

/** Headers of every text/event-plain event, URL-decoded (the inner body, if any, dropped). */
export function plainEvents(name: string): Array<Record<string, string>> {
  return frames(read(`${name}.esl`))
    .filter((f) => f.headers.get('Content-Type') === 'text/event-plain')
    .map((f) => {
      const headers: Record<string, string> = {};
      const text = f.body.toString('utf8');
      const headerBlock = text.split('\n\n')[0] ?? '';
      for (const line of headerBlock.split('\n')) {
        const i = line.indexOf(': ');
        if (i > 0) headers[line.slice(0, i)] = decodeURIComponent(line.slice(i + 2));
      }
      return headers;
    });
}
