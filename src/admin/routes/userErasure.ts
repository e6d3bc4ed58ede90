/**
 * DELETE /users/:userId (CONTRACT §8): erases the user's journal, snapshots and decision-index
 * entries in one store step and stops its live actor on whichever instance owns it; `202` once
 * the store step is done (also for a user with nothing stored: erasure is idempotent). The user id
 * is never logged here.
 */
import type { FastifyInstance } from 'fastify';
import { EngineError } from '../../errors.ts';
import { errorResponses } from '../schemas.ts';

export interface UserErasure {
  eraseUser(userId: string): Promise<void>;
}

const params = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', minLength: 1, maxLength: 128, description: 'the user id (percent-encoded in the path)' } },
} as const;

const canErase = (engine: object): engine is UserErasure => typeof (engine as Partial<UserErasure>).eraseUser === 'function';

export function registerUserErasure(app: FastifyInstance, engine: object): void {
  app.delete<{ Params: { userId: string } }>('/users/:userId', {
    schema: {
      summary: 'erase a user',
      description:
        "deletes the user's journal, snapshots and decision index in one step and stops its live actor on every instance; afterwards GET /users/:userId is 404 and the user's next event starts from empty state",
      tags: ['users'],
      params,
      response: {
        202: { description: 'the user is erased', type: 'object', properties: { status: { const: 'accepted' }, userId: { type: 'string' } } },
        ...errorResponses(400, 403, 414, 504),
      },
    },
  }, async (req, reply) => {
    if (!canErase(engine)) throw new EngineError('UNAVAILABLE', 'erasure is not available on this engine');
    await engine.eraseUser(req.params.userId);
    return reply.code(202).send({ status: 'accepted', userId: req.params.userId });
  });
}
