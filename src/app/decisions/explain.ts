/**
 * GET /decisions/:eventId/explain, the shell: rebuilds the user's state just before the event
 * (the newest snapshot at or below it, then the journal up to it, with the same evolve as
 * recovery), finds the rules version the decision names, and hands both to the pure
 * explainDecision (src/domain/explain.ts).
 */
import { evolve, initialState, upcastJournal, upcastState, type DomainConfig, type EventAccepted, type Rules, type UserState } from '../../domain/index.ts';
import { explainDecision, type Explanation } from '../../domain/explain.ts';
import { EngineError } from '../../errors.ts';
import { persistenceKey } from '../../actors/recoverUser.ts';
import type { DecisionStore, IndexedDecision } from '../../persistence/decisionIndex.ts';
import type { JournalStore } from '../../persistence/JournalStore.ts';

/** The journal no longer holds what came between the nearest snapshot and the event. */
export class GoneError extends EngineError {
  constructor(message: string) {
    super('NOT_FOUND', message);
    this.name = 'GoneError';
  }
}

const ATTEMPTS = 3;

/** The user's state after journal entry `sequenceNumber - 1` and the entry `sequenceNumber` itself. */
export async function stateBefore(store: JournalStore & DecisionStore, userId: string, sequenceNumber: number, config: DomainConfig): Promise<{ state: UserState; entry: EventAccepted }> {
  const key = persistenceKey(userId);
  for (let attempt = 1; ; attempt++) {
    const snapshot = await store.snapshotAtOrBefore(key, sequenceNumber - 1);
    const from = snapshot?.sequenceNumber ?? 0;
    const tail = (await store.readAfter(key, from)).filter((e) => e.sequenceNumber <= sequenceNumber);
    const contiguous = tail.length === sequenceNumber - from && tail.every((e, i) => e.sequenceNumber === from + i + 1);
    if (!contiguous) {
      // A snapshot taken between the two reads may have trimmed what we were about to read: the
      // next attempt starts from it. Otherwise the journal is gone that far back.
      if (attempt < ATTEMPTS && ((await store.snapshotAtOrBefore(key, sequenceNumber - 1))?.sequenceNumber ?? 0) !== from) continue;
      throw new GoneError(`the journal of user ${userId} no longer reaches back to entry ${sequenceNumber}`);
    }
    let state = snapshot ? upcastState(snapshot.data) : initialState(userId);
    for (const e of tail.slice(0, -1)) state = evolve(state, upcastJournal(e.data), config);
    const last = upcastJournal(tail.at(-1)!.data);
    if (last.type !== 'accepted') throw new EngineError('INTERNAL', `journal entry ${sequenceNumber} of user ${userId} accepted no event`);
    return { state, entry: last };
  }
}

export async function explainIndexed(
  store: JournalStore & DecisionStore,
  indexed: IndexedDecision,
  config: DomainConfig,
  currentRules: () => Rules,
): Promise<Explanation> {
  const { state, entry } = await stateBefore(store, indexed.userId, indexed.sequenceNumber, config);
  if (entry.decision.eventId !== indexed.decision.eventId) {
    throw new EngineError('INTERNAL', `journal entry ${indexed.sequenceNumber} of user ${indexed.userId} is event ${entry.decision.eventId}, not ${indexed.decision.eventId}`);
  }
  const version = entry.decision.rulesVersion;
  // The kept version first: the rules in force may carry the same number with other content (a
  // rules file edited between two starts with no change published since).
  const current = currentRules();
  const rules = (await store.rulesVersion(version)) ?? (current.rulesVersion === version ? current : null);
  if (!rules) throw new GoneError(`rules version ${version} is not kept`);
  return explainDecision(state, entry, rules, config);
}
