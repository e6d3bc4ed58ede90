/**
 * Every rules version is kept (CONTRACT §7: GET /rules/versions/:v, and explaining a decision
 * under the rules it was made with): the rules in force at start and every rules object applied
 * afterwards (PUT /rules here, or from the rules topic) are written to the store under their
 * version. The first content written for a version stays; every instance writes the same.
 */
import type { Rules } from '../../domain/index.ts';
import type { Logger } from '../../log.ts';
import type { DecisionStore } from '../../persistence/decisionIndex.ts';
import type { RulesStore } from '../rules.ts';

/** Keeps the current rules and every later version in `store`; returns the unsubscribe function. */
export function keepRulesVersions(rules: RulesStore, store: Pick<DecisionStore, 'saveRulesVersion'>, log: Logger): () => void {
  const keep = (r: Rules): void => {
    store.saveRulesVersion(r).then(
      (written) => {
        if (written) log.debug({ rulesVersion: r.rulesVersion }, 'rules version kept');
      },
      (err: unknown) => log.warn({ err, rulesVersion: r.rulesVersion }, 'keeping a rules version failed: explaining its decisions needs it'),
    );
  };
  keep(rules.current());
  return rules.onChange(keep);
}
