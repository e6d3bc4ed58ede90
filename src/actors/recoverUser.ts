/**
 * The one recipe for a user's state from the store: the newest snapshot (upcast), then the
 * journal after it folded with `evolve`. A user actor recovers with it on its first message, and
 * reads of users that are not live here (another instance's, or passivated) use it too.
 */
import { evolve, initialState, upcastJournal, upcastState, type DomainConfig, type UserState } from '../domain/index.ts';
import type { JournalStore } from '../persistence/JournalStore.ts';
import { replayState } from '../persistence/replayState.ts';

export const persistenceKey = (userId: string): string => `user:${userId}`;

/**
 * The user's state as the store has it; `initialState` when it has nothing. Safe while the owner
 * writes and snapshots meanwhile (replayState retries a read that a snapshot moved under).
 */
export function recoverUser(store: JournalStore, userId: string, domain: DomainConfig): Promise<UserState> {
  return replayState(store, persistenceKey(userId), initialState(userId), upcastState, (state, data) => evolve(state, upcastJournal(data), domain));
}
