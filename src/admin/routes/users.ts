/** A user's state (from the live actor, or the store) and forced snapshots. */
import type { FastifyInstance } from 'fastify';
import { EngineError } from '../../errors.ts';
import type { AdminEngine } from '../types.ts';

// CONTRACT §1: userId is a string of 1..128 characters.
const params = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

export function registerUsers(app: FastifyInstance, engine: AdminEngine): void {
  app.get<{ Params: { userId: string } }>('/users/:userId', { schema: { params } }, async (req) => {
    const state = await engine.userState(req.params.userId);
    if (!state) throw new EngineError('NOT_FOUND', `user ${req.params.userId} has never been seen`);
    const { userId, shard, source, ...rest } = state;
    return { userId, shard, source, ...rest };
  });

  app.post<{ Params: { userId: string } }>('/users/:userId/snapshot', { schema: { params } }, async (req, reply) => {
    await engine.snapshotUser(req.params.userId);
    return reply.code(202).send({ status: 'accepted', userId: req.params.userId });
  });
}
