/** A user's state (from the live actor, or the store) and forced snapshots. */
import type { FastifyInstance } from 'fastify';
import { EngineError } from '../../errors.ts';
import { errorResponses } from '../schemas.ts';
import type { AdminEngine } from '../types.ts';

// CONTRACT §1: userId is a string of 1..128 characters.
const params = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', minLength: 1, maxLength: 128, description: 'the user id (percent-encoded in the path)' } },
} as const;

export function registerUsers(app: FastifyInstance, engine: AdminEngine): void {
  app.get<{ Params: { userId: string } }>('/users/:userId', {
    schema: {
      summary: "a user's state",
      description: 'from the live actor when this instance owns the shard, else read from the store ("source": "store")',
      tags: ['users'],
      params,
      response: { 200: { description: "the user's state", $ref: 'UserState#' }, ...errorResponses(400, 404, 414, 504) },
    },
  }, async (req) => {
    const state = await engine.userState(req.params.userId);
    if (!state) throw new EngineError('NOT_FOUND', `user ${req.params.userId} has never been seen`);
    const { userId, shard, source, ...rest } = state;
    return { userId, shard, source, ...rest };
  });

  app.post<{ Params: { userId: string } }>('/users/:userId/snapshot', {
    schema: {
      summary: 'force a snapshot of a user',
      tags: ['users'],
      params,
      response: {
        202: { description: 'the snapshot is taken', type: 'object', properties: { status: { const: 'accepted' }, userId: { type: 'string' } } },
        ...errorResponses(400, 403, 404, 414, 504),
      },
    },
  }, async (req, reply) => {
    await engine.snapshotUser(req.params.userId);
    return reply.code(202).send({ status: 'accepted', userId: req.params.userId });
  });
}
