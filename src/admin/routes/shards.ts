/** The shards this instance owns: committed offsets, lag and live actors. */
import type { FastifyInstance } from 'fastify';
import type { AdminEngine } from '../types.ts';

export function registerShards(app: FastifyInstance, engine: AdminEngine, instanceId: string): void {
  app.get('/shards', async () => {
    const owned = engine.ownedShards();
    const positions = await engine.parts.source.positions(owned);
    const shards = await Promise.all(
      positions.map(async (p) => ({ shard: p.shard, actors: (await engine.liveShard(p.shard))?.liveActors ?? 0, committed: p.committed, lag: p.lag })),
    );
    return { instanceId, generationId: engine.parts.source.generation, shards };
  });
}
