/**
 * Connections that never carried a request (browsers and fetch open spare ones beside a
 * long-lived answer such as the decision stream) are closed when the server closes: Node counts
 * them neither idle nor busy, so `server.close()` would wait for its headers timeout (about a
 * minute) and the drain of SIGTERM would run out of time.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export function closeSpareConnectionsOnClose(app: FastifyInstance): void {
  const spare = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    spare.add(socket);
    socket.once('close', () => spare.delete(socket));
  });
  app.server.on('request', (req: { socket: Socket }) => spare.delete(req.socket));
  app.addHook('preClose', async () => {
    for (const socket of spare) socket.destroy();
  });
}
