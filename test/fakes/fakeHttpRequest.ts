import type * as http from 'node:http';

/** What the fake API servers (dockerEngine.ts, kubernetesApi.ts) read of one request: its URL, raw text, and the text as JSON when it is JSON. */
export interface FakeHttpRequest {
  readonly url: URL;
  readonly text: string;
  /** Parsed JSON; the raw text when it is not JSON; undefined when empty. */
  readonly body: unknown;
}

/** Collects the whole request, then hands it on (the fakes answer only once they have it all, as the real servers do). */
export function onWholeRequest(req: http.IncomingMessage, base: string, then: (r: FakeHttpRequest) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    then({ url: new URL(req.url ?? '/', base), text, body });
  });
}
