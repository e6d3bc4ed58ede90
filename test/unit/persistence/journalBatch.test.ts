import test from 'ava';
import { checkFence, groupByKey } from '../../../src/persistence/journalBatch.ts';
import { SequenceConflictError, type JournalEntry } from '../../../src/persistence/JournalStore.ts';

const e = (key: string, sequenceNumber: number): JournalEntry => ({ key, sequenceNumber, data: null, createdAt: 0 });

test('groups interleaved entries by key, keeping each key in order', (t) => {
  const groups = groupByKey([e('a', 1), e('b', 5), e('a', 2), e('b', 6)]);
  t.deepEqual([...groups.keys()], ['a', 'b']);
  t.deepEqual(groups.get('b')?.map((x) => x.sequenceNumber), [5, 6]);
});

test('refuses a key whose entries are not contiguous and ascending', (t) => {
  t.throws(() => groupByKey([e('a', 1), e('a', 3)]), { instanceOf: SequenceConflictError });
  t.throws(() => groupByKey([e('a', 2), e('a', 1)]), { instanceOf: SequenceConflictError });
  t.throws(() => groupByKey([e('a', 1), e('a', 1)]), { instanceOf: SequenceConflictError });
});

test('refuses sequence numbers that are not positive integers', (t) => {
  for (const n of [0, -1, 1.5, Number.NaN]) t.throws(() => groupByKey([e('a', n)]), { instanceOf: RangeError });
});

test('refuses malformed fences', (t) => {
  t.notThrows(() => checkFence({ shard: 0, epoch: 0 }));
  t.throws(() => checkFence({ shard: -1, epoch: 1 }), { instanceOf: RangeError });
  t.throws(() => checkFence({ shard: 1, epoch: 0.5 }), { instanceOf: RangeError });
});
