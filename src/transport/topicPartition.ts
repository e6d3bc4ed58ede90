/** A partition of a topic, and the one key the code uses for it in maps. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A map key for a topic's partition (NUL cannot occur in a topic name). */
export const partitionKey = (p: TopicPartition): string => `${p.topic}\u0000${p.partition}`;
