/**
 * What rebuild checks before it writes anything, and how it hands over: a state namespace must be
 * empty and a consumer group unused (a rebuild into either would mix two histories), and the new
 * group's offsets are committed only once the state is written.
 */
import { readFileSync } from 'node:fs';
import type { Admin } from 'kafkajs';
import { createClient } from 'redis';
import { redisConnection, type RedisJournalOptions } from '../persistence/RedisJournal.ts';
import { committedOffsetsOf } from '../transport/kafka/groupOffsets.ts';
import { partitionKey } from '../transport/topicPartition.ts';
import { OpsError } from './errors.ts';

/** Refuses (REFUSED) when any Redis key lives under `${prefix}:`. */
export async function assertNamespaceEmpty(o: Pick<RedisJournalOptions, 'url' | 'username' | 'password' | 'tlsCaFile'>, prefix: string): Promise<void> {
  const client = createClient({
    ...redisConnection(o),
    socket: { connectTimeout: 3000, reconnectStrategy: false, ...(o.tlsCaFile !== undefined ? { tls: true as const, ca: readFileSync(o.tlsCaFile, 'utf8') } : {}) },
  });
  client.on('error', () => undefined); // the awaited command reports it
  await client.connect();
  try {
    let cursor = '0';
    do {
      const reply = await client.scan(cursor, { MATCH: `${prefix}:*`, COUNT: 1000 });
      if (reply.keys.length > 0) throw new OpsError('REFUSED', `state prefix ${prefix} is not empty (e.g. key ${reply.keys[0]}); rebuild needs a fresh namespace`);
      cursor = String(reply.cursor);
    } while (cursor !== '0');
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Refuses (REFUSED) when `groupId` has members or a committed offset on any of `topics`. */
export async function assertGroupUnused(admin: Admin, groupId: string, topics: readonly string[]): Promise<void> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  if (g && g.members.length > 0) throw new OpsError('REFUSED', `consumer group ${groupId} has ${g.members.length} active member(s) (state ${g.state}); rebuild needs a new group`);
  // Every partition asked by name: kafkajs may answer without some of them (groupOffsets.ts), which is no "nothing committed".
  const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
  const wanted = meta.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionId })));
  const committed = await committedOffsetsOf(admin, groupId, wanted);
  for (const w of wanted) {
    const at = committed.get(partitionKey(w))!;
    if (at !== '-1') throw new OpsError('REFUSED', `consumer group ${groupId} has committed offsets (${w.topic} partition ${w.partition} at ${at}); rebuild needs a new group`);
  }
}

/**
 * Commits `groupId`'s offsets (the group must have no members) with admin.setOffsets, one topic
 * at a time (each joins the group once, so this takes a few seconds per topic), then reads them
 * back: the new engine must find exactly these.
 */
export async function commitGroupOffsets(admin: Admin, groupId: string, offsets: readonly { topic: string; partition: number; offset: string }[]): Promise<void> {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets) {
    const list = byTopic.get(o.topic) ?? [];
    list.push({ partition: o.partition, offset: o.offset });
    byTopic.set(o.topic, list);
  }
  for (const [topic, partitions] of byTopic) await admin.setOffsets({ groupId, topic, partitions });
  const committed = await committedOffsetsOf(admin, groupId, offsets);
  for (const o of offsets) {
    const got = committed.get(partitionKey(o));
    if (got !== o.offset) throw new Error(`group ${groupId}: ${o.topic} partition ${o.partition} committed at ${got}, expected ${o.offset}`);
  }
}
