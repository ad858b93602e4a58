import type { FastifyError, FastifyInstance } from 'fastify';

export class NodeNotFoundError extends Error {
  override readonly name = 'NodeNotFoundError';
  constructor(readonly nodeId: string) {
    super(`no node ${nodeId}`);
  }
}

/** The one place errors become HTTP answers; a 5xx never shows internals. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof NodeNotFoundError) {
      return reply.code(404).send({ error: 'not-found', message: err.message });
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad-request', message: err.message });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad-request', message: err.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(status).send({ error: 'internal', message: 'internal error; see the control plane log', requestId: req.id });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url}` }));
}
