/** The real clock, randomness and timers behind supervision (tests pass fakes instead). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { SupervisionDeps } from '../supervision/onCrash.ts';
import type { Metrics } from '../telemetry/metrics.ts';

export function systemSupervisionDeps(log: Logger, metrics?: Metrics): SupervisionDeps {
  return {
    log: log.child({ component: 'supervision' }),
    clock: () => Date.now(),
    random: () => Math.random(),
    sleep: (ms) => sleep(ms),
    onVerdict: (policy, verdict, code) => {
      const counter = { restart: metrics?.restarts, escalate: metrics?.escalations, stop: metrics?.stops }[verdict.action];
      counter?.inc({ policy: policy.name, code });
    },
  };
}
