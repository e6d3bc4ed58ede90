/** The rules in force: loaded and validated at start-up; replaced at run time (PUT /rules). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateRules, type Rules } from '../domain/index.ts';
import { ConfigError } from '../errors.ts';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class RulesHolder {
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

  current = (): Rules => this.rules;

  replace(rules: Rules): void {
    this.rules = rules;
  }
}
