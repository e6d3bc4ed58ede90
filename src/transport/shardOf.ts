/**
 * Which shard a userId lives on: Kafka's default partitioner (murmur2 of the key, made positive,
 * modulo the partition count), the same function producers use, so shard N = partition N.
 */
import { createRequire } from 'node:module';

// kafkajs does not export its murmur2; its Java-compatible implementation is reused as is.
const murmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number;

export function shardOf(userId: string, partitions: number): number {
  return (murmur2(Buffer.from(userId, 'utf8')) & 0x7fffffff) % partitions;
}
