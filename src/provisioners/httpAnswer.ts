import type * as http from 'node:http';

/**
 * One request's whole answer, for the provisioners' API clients (docker.ts over a unix
 * socket, kubernetes.ts over http(s) with a CA): `start` issues the request with the response
 * callback; a connection that closes mid-answer is an error, not a short body.
 */
export function readAnswer(start: (onResponse: (res: http.IncomingMessage) => void) => http.ClientRequest, payload: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = start((res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('the connection closed mid-answer'));
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
