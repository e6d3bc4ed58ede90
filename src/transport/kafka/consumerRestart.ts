/**
 * kafkajs restarts a crashed consumer only after a retriable error. "Failed to find group
 * coordinator", which a broker that is down for a few seconds during a rejoin gives, is not one
 * (tulios/kafkajs#1445, #1630): such a consumer stays stopped for good. This runs it again, after
 * a backoff and until it runs, unless its owner closed it meanwhile.
 */
import type { Consumer } from 'kafkajs';
import type { Logger } from '../../log.ts';
import { backoffDelay, DEPENDENCY_BACKOFF } from '../../supervision/policy.ts';

export interface RestartOptions {
  /** What the consumer is, for the logs. */
  what: string;
  /** True once its owner closed it: no restart then. */
  closed: () => boolean;
  /** Delay before attempt `attempt` (1-based); default DEPENDENCY_BACKOFF. */
  delay?: (attempt: number) => number;
}

/** Runs `consumer` again with `run` whenever kafkajs gives up on it; returns the function that stops a pending restart. */
export function restartWhenAbandoned(consumer: Consumer, run: () => Promise<void>, log: Logger, options: RestartOptions): () => void {
  const delay = options.delay ?? ((attempt: number) => backoffDelay(DEPENDENCY_BACKOFF, attempt, Math.random()));
  let timer: NodeJS.Timeout | null = null;
  let attempt = 0;
  const again = (): void => {
    if (timer || options.closed()) return;
    const delayMs = delay(++attempt);
    log.warn({ attempt, delayMs }, `restarting the ${options.what} kafkajs gave up on`);
    timer = setTimeout(() => {
      timer = null;
      if (options.closed()) return;
      consumer
        .connect()
        .then(() => (options.closed() ? undefined : run()))
        .then(
          () => void (attempt = 0),
          (err: unknown) => {
            log.error({ err, attempt }, `restarting the ${options.what} failed`);
            again();
          },
        );
    }, delayMs);
  };
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) again();
  });
  return () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
