/** The pure risk domain: no I/O, no clock, no randomness. Everything the shells need is exported here. */
export { DEFAULT_DOMAIN_CONFIG, type DomainConfig } from './config.ts';
export type { EventKind, EventSource, RiskEvent } from './event.ts';
export { MAX_NESTING_DEPTH, MIN_EVENT_TIME, parseEventJson, parseRecord, type ParseResult, type RecordContext, type RecordInput, type RejectCode, type ValidationContext } from './validation.ts';
export { shardOf } from './shardOf.ts';
export { addAmounts, formatMinor, MAX_AMOUNT_INTEGER_DIGITS, parseAmount } from './money.ts';
export { decisionJson, type Decision, type Reason, type ShadowVerdict, type Verdict } from './decision.ts';
export type { WindowAggregate } from './windows.ts';
export { RULES_LIMITS, validateRules, type HardRule, type HardRuleWhen, type Rules, type RulesValidation } from './rules.ts';
export { FEATURES, FEATURE_NAMES, type Feature } from './features.ts';
export { initialState, sourceKey, STATE_SCHEMA_VERSION, type UserState } from './state.ts';
export { JOURNAL_VERSION, type JournalEvent, type EventAccepted, type WindowsClosed, type WindowsEmitted, type WindowsIdleClosed } from './journal.ts';
export { closeIdleWindows, decide, nextTimerAt, windowsEmitted, type DecideContext, type Outcome } from './decide.ts';
export { evolve } from './evolve.ts';
export { toUserView, type RecentEventView, type UserStateView, type UserView } from './view.ts';
export { upcastJournal, upcastState } from './upcast.ts';
