import type { RiskEvent } from '../domain/index.ts';

/** Fault injection for crash and supervision tests (RISK_FAULT); no-ops in production. */
export interface ShardFaults {
  /** Called before each `decide`; throws to simulate a poison event. */
  beforeDecide(event: RiskEvent): void;
  /** Called before each journal write with the number of entries it holds. */
  beforePersist(entries: number): void;
}
