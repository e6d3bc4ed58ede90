/** The real clock, randomness and timers behind supervision (tests pass fakes instead). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { SupervisionDeps } from '../supervision/onCrash.ts';

export function systemSupervisionDeps(log: Logger): SupervisionDeps {
  return {
    log: log.child({ component: 'supervision' }),
    clock: () => Date.now(),
    random: () => Math.random(),
    sleep: (ms) => sleep(ms),
  };
}
