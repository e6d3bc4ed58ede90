/**
 * The whole cluster, from any instance: the consumer group's instances and every shard's owner,
 * committed offsets and lag (read from Kafka by the engine, at most about a second old).
 */
import type { FastifyInstance } from 'fastify';
import { AdminError } from '../errors.ts';
import { errorResponses } from '../schemas.ts';
import type { AdminEngine } from '../types.ts';

const clusterAnswer = {
  description: 'the consumer group: its instances and every shard with its owner and lag',
  type: 'object',
  required: ['groupId', 'state', 'instances', 'shards'],
  properties: {
    groupId: { type: 'string' },
    state: { type: 'string', description: 'the group coordinator\'s state (Stable, PreparingRebalance, CompletingRebalance, Empty); "Embedded" without Kafka' },
    instances: {
      type: 'array',
      description: 'the members of the group; their shards are empty while it rebalances',
      items: {
        type: 'object',
        required: ['instanceId', 'host', 'shards', 'self'],
        properties: {
          instanceId: { type: 'string' },
          host: { type: 'string', description: 'the address the group coordinator sees it connect from' },
          shards: { type: 'array', items: { type: 'integer' } },
          self: { type: 'boolean', description: 'the instance that gave this answer' },
        },
      },
    },
    shards: {
      type: 'array',
      items: {
        type: 'object',
        required: ['shard', 'owner', 'lag', 'committed'],
        properties: {
          shard: { type: 'integer' },
          owner: { type: ['string', 'null'], description: 'instanceId, null when no member holds it (rebalancing)' },
          lag: { type: ['integer', 'null'], description: 'records not yet committed, summed over the input topics; null when unknown' },
          committed: { type: 'object', description: 'input topic -> committed offset', additionalProperties: { type: 'string' } },
        },
      },
    },
  },
} as const;

export function registerCluster(app: FastifyInstance, engine: AdminEngine): void {
  app.get('/cluster', { schema: { summary: 'instances of the group, and every shard with its owner and lag', tags: ['cluster'], response: { 200: clusterAnswer, ...errorResponses() } } }, async () => {
    if (!engine.clusterView) throw new AdminError('UNAVAILABLE', 'the cluster view is not available on this instance');
    return engine.clusterView();
  });
}
