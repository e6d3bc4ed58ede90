/**
 * The rules in force: loaded and validated at start-up, then replaced at run time by the rules
 * channel (./rules/channel.ts: PUT /rules on any instance, broadcast through the rules topic).
 * The engine only ever calls `current()`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateRules, type Rules } from '../domain/index.ts';
import { ConfigError } from '../errors.ts';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What deciding needs: the rules in force right now. */
export interface RulesSource {
  current(): Rules;
}

/** Rules that can be replaced, and watched. */
export interface RulesStore extends RulesSource {
  replace(rules: Rules): void;
  /** Called after every replace; returns the unsubscribe function. */
  onChange(listener: (rules: Rules) => void): () => void;
}

export class RulesHolder implements RulesStore {
  private readonly listeners = new Set<(rules: Rules) => void>();

  constructor(private rules: Rules) {}

  static fromFile(file: string): RulesHolder {
    // Relative paths are the package's own (config/default-rules.json), wherever it is started from.
    const path = resolve(PACKAGE_ROOT, file);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError('rulesFile', `expects a readable JSON rules file (${(err as Error).message})`);
    }
    const checked = validateRules(raw);
    if (!checked.ok) throw new ConfigError(`rulesFile ${checked.field}`, checked.message);
    return new RulesHolder(checked.rules);
  }

  /** An arrow property, so that `holder.current` can be handed over unbound (Engine takes a function). */
  current = (): Rules => this.rules;

  replace(rules: Rules): void {
    this.rules = rules;
    for (const listener of [...this.listeners]) listener(rules);
  }

  onChange(listener: (rules: Rules) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
