/**
 * How the embedded log (EmbeddedLog.ts) keeps its records in LMDB, shared with its retention
 * (logRetention.ts): the keys of its databases and what a record key holds.
 */

export interface StoredRecord {
  k: string | null;
  v: string;
  h?: Record<string, string>;
  t: number;
}

/** What a key holds: one record (every value of the first layout), or a run of them from the key's offset on. */
export type StoredValue = StoredRecord | StoredRecord[];

export const recordsOf = (value: StoredValue): StoredRecord[] => (Array.isArray(value) ? value : [value]);
/** A run's records share the time of the write that stored them. */
export const timeOf = (value: StoredValue): number => (Array.isArray(value) ? value[0]!.t : value.t);

export type RecordKey = [topic: string, partition: number, offset: number];
export type PartitionKey = [topic: string, partition: number];
export type GroupKey = [group: string, topic: string, partition: number];

/** Bytes a database takes: its LMDB pages (its file space is reused, not returned). */
export function pagesBytes(stats: unknown): number {
  const s = stats as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
  return s.pageSize * (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages);
}
