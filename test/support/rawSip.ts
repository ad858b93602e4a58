import { createSocket, type Socket } from 'node:dgram';
import { randomUUID } from 'node:crypto';

/**
 * A bare SIP UAC over UDP for tests that need what sipp's built-in scenarios cannot send:
 * extra headers (X-SBC-*, a room header), any R-URI domain, a chosen source port. It sends
 * one INVITE, collects the replies until a final one, and ACKs a non-2xx final reply (hop by
 * hop, as RFC 3261 17.1.1.3 says). Tests that use it point it at a destination that rejects
 * (a sipp UAS answering 4xx), so no dialog is left to tear down.
 */
export interface RawInvite {
  /** Kamailio's SIP port on 127.0.0.1. */
  readonly proxyPort: number;
  /** e.g. sip:3000@a.example */
  readonly ruri: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly fromUser?: string;
  readonly callId?: string;
  /** Bounded wait for a final reply. Default 5000 ms. */
  readonly timeoutMs?: number;
}

export interface RawReply {
  readonly status: number;
  readonly reason: string;
  readonly text: string;
}

export interface RawSipClient {
  readonly port: number;
  /** sip:127.0.0.1:<port>: what to list in the dispatcher table to make this client a pool node. */
  readonly uri: string;
  invite(req: RawInvite): Promise<{ final: RawReply; callId: string }>;
  close(): Promise<void>;
}

export async function startRawSipClient(): Promise<RawSipClient> {
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((res, rej) => {
    sock.once('error', rej);
    sock.bind(0, '127.0.0.1', () => res());
  });
  const port = sock.address().port;
  const waiting = new Map<string, (r: RawReply) => void>();
  sock.on('message', (buf) => {
    const text = buf.toString('utf8');
    const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(text);
    const callId = /\r\nCall-ID:\s*([^\r\n]+)/i.exec(text)?.[1]?.trim();
    if (!m || !callId) return;
    const status = Number(m[1]);
    if (status < 200) return;
    waiting.get(callId)?.({ status, reason: m[2] ?? '', text });
  });

  const send = (text: string, proxyPort: number) =>
    new Promise<void>((res, rej) => sock.send(Buffer.from(text), proxyPort, '127.0.0.1', (err) => (err ? rej(err) : res())));

  return {
    port,
    uri: `sip:127.0.0.1:${port}`,
    async invite(req) {
      const callId = req.callId ?? `${randomUUID()}@127.0.0.1`;
      const branch = `z9hG4bK${randomUUID().replaceAll('-', '')}`;
      const tag = randomUUID().slice(0, 8);
      const from = `<sip:${req.fromUser ?? 'caller'}@127.0.0.1:${port}>;tag=${tag}`;
      const extra = Object.entries(req.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const head =
        `INVITE ${req.ruri} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport\r\n` +
        `Max-Forwards: 70\r\n` +
        `From: ${from}\r\n` +
        `To: <${req.ruri}>\r\n` +
        `Call-ID: ${callId}\r\n` +
        `CSeq: 1 INVITE\r\n` +
        `Contact: <sip:${req.fromUser ?? 'caller'}@127.0.0.1:${port}>\r\n` +
        extra +
        `Content-Length: 0\r\n\r\n`;
      const final = await new Promise<RawReply>((res, rej) => {
        const timer = setTimeout(() => {
          waiting.delete(callId);
          rej(new Error(`no final reply to INVITE ${callId} within ${req.timeoutMs ?? 5000} ms`));
        }, req.timeoutMs ?? 5000);
        waiting.set(callId, (r) => {
          clearTimeout(timer);
          waiting.delete(callId);
          res(r);
        });
        send(head, req.proxyPort).catch(rej);
      });
      if (final.status >= 300) {
        const to = /\r\nTo:\s*([^\r\n]+)/i.exec(final.text)?.[1] ?? `<${req.ruri}>`;
        await send(
          `ACK ${req.ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
            `From: ${from}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
          req.proxyPort,
        );
      }
      return { final, callId };
    },
    close: () => new Promise<void>((res) => sock.close(() => res())),
  };
}
