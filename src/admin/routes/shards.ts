/** The shards this instance owns: committed offsets, lag and live actors. */
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas.ts';
import type { AdminEngine } from '../types.ts';

const shardsAnswer = {
  description: 'the shards this instance owns',
  type: 'object',
  properties: {
    instanceId: { type: 'string' },
    generationId: { type: 'integer', description: 'consumer group generation' },
    shards: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          shard: { type: 'integer' },
          actors: { type: 'integer', description: 'live user actors' },
          committed: { type: 'object', description: 'input topic -> committed offset', additionalProperties: { type: 'string' } },
          lag: { type: ['integer', 'null'], description: 'records not yet committed, null when unknown' },
        },
      },
    },
  },
} as const;

export function registerShards(app: FastifyInstance, engine: AdminEngine, instanceId: string): void {
  app.get('/shards', { schema: { summary: 'owned shards, committed offsets and lag', tags: ['cluster'], response: { 200: shardsAnswer, ...errorResponses() } } }, async () => {
    const owned = engine.ownedShards();
    const positions = await engine.parts.source.positions(owned);
    const shards = await Promise.all(
      positions.map(async (p) => ({ shard: p.shard, actors: (await engine.liveShard(p.shard))?.liveActors ?? 0, committed: p.committed, lag: p.lag })),
    );
    return { instanceId, generationId: engine.parts.source.generation, shards };
  });
}
