/**
 * A shard's housekeeping, run by its ticker in the shard's serial lane: closes the windows of
 * users that went idle, passivates idle actors and keeps the shard within its actor budget.
 */
import type { JournalEntry } from '../persistence/JournalStore.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { ShardSink } from '../transport/ports.ts';
import { aggregateRecord, type OutputTopics } from './outputRecords.ts';
import type { ShardUsers } from './ShardUsers.ts';
import type { IdleClose } from './UserActor.ts';

export interface ShardHousekeepingDeps {
  users: ShardUsers;
  /** Journals entries of several users in one fenced store call (the round's journal write). */
  journal(entries: readonly JournalEntry[], users: readonly string[]): Promise<void>;
  sink: Pick<ShardSink, 'commit'>;
  /** Resolves once the shard has no transaction in flight: one transaction at a time per producer. */
  transactionsIdle(): Promise<void>;
  topics: OutputTopics;
  metrics: Metrics;
  passivateAfterMs: number;
  /** How many live actors the shard may keep now. */
  actorBudget(): number;
}

export class ShardHousekeeping {
  constructor(private readonly deps: ShardHousekeepingDeps) {}

  /** One pass at `now` (supervision clock); the caller runs it in the shard's serial lane. */
  async run(now: number): Promise<void> {
    const { users } = this.deps;
    await this.closeDueWindows(now);
    const idleBefore = now - this.deps.passivateAfterMs;
    const idle = users.entries().filter(([, u]) => u.lastUsed <= idleBefore);
    await Promise.all(idle.map(([userId]) => users.passivate(userId, 'idle')));
    const excess = users.size - this.deps.actorBudget();
    if (excess > 0) await Promise.all(users.coldest(excess).map((userId) => users.passivate(userId, 'cap')));
  }

  /**
   * Runs the due idle timers: the windows they close, and those closed before but not known to
   * be committed, are committed on their own (no input offset is tied to them), then confirmed to
   * their actors. At least once: a closed window stays pending in its user's journaled state until
   * confirmed, and is emitted again on every timer until then, after a failed commit or a restart
   * too. Consumers of risk-aggregates dedupe by (userId, windowStart); every emission of a window
   * is the same aggregate.
   */
  private async closeDueWindows(now: number): Promise<void> {
    const { users } = this.deps;
    const due = users.entries().filter(([, u]) => u.timerAt !== null && u.timerAt <= now);
    if (!due.length) return;
    const closed = await Promise.allSettled(
      due.map(async ([userId, u]) => {
        const r = await users.ask<IdleClose>(u.ref, (reply) => ({ type: 'closeIdle', now, reply }));
        u.timerAt = r.timerAt;
        return { userId, u, ...r };
      }),
    );
    // The users whose timer failed keep it due: the next tick tries them again.
    const answered = closed.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
    await this.journalIdle(answered);
    const emitting = answered.filter((c) => c.aggregates.length > 0);
    if (emitting.length) {
      await this.deps.transactionsIdle();
      await this.deps.sink.commit(emitting.flatMap(({ aggregates }) => aggregates.map((a) => aggregateRecord(this.deps.topics, a))), []);
      this.deps.metrics.transactions.inc({ kind: 'windows' });
      const confirmed = await Promise.all(
        emitting.map(async ({ userId, u, aggregates }) => {
          const windowStarts = aggregates.map((a) => a.windowStart);
          const r = await users.ask<IdleClose>(u.ref, (reply) => ({ type: 'windowsEmitted', windowStarts, now, reply }));
          u.timerAt = r.timerAt;
          return { userId, ...r };
        }),
      );
      await this.journalIdle(confirmed);
    }
    const failed = closed.find((c) => c.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Journals what the idle timers' answers hold, all users in one store call. */
  private async journalIdle(answers: readonly { userId: string; entries: JournalEntry[] }[]): Promise<void> {
    const written = answers.filter((c) => c.entries.length > 0);
    await this.deps.journal(written.flatMap((c) => c.entries), written.map((c) => c.userId));
  }
}
