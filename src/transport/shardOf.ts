/**
 * Which shard a userId lives on (Kafka's default murmur2 partitioner). The function is pure and
 * lives in the domain, which checks every record's partition with it; transport code imports it
 * from here.
 */
export { murmur2, shardOf, shardOfKey } from '../domain/shardOf.ts';
