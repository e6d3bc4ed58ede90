/**
 * GET /rules and PUT /rules (CONTRACT §5). PUT takes the whole rules object as GET shows it, its
 * rulesVersion ignored; a bad field is refused with 400 naming it; a good object becomes the
 * rules of every instance with rulesVersion = current + 1, and the answer is that object.
 */
import type { FastifyInstance } from 'fastify';
import { validateRules } from '../../domain/index.ts';
import { AdminError } from '../errors.ts';
import type { RulesControl } from '../types.ts';

/** A rules object is a few KiB; no reason to accept the ingestion limit here. */
const RULES_BODY_LIMIT = 1024 * 1024;

export function registerRules(app: FastifyInstance, rules: RulesControl | null): void {
  const control = (): RulesControl => {
    if (!rules) throw new AdminError('UNAVAILABLE', 'rules cannot be read or changed on this instance (no rules channel)');
    return rules;
  };

  app.get('/rules', async () => control().current());

  app.put<{ Body: Record<string, unknown> }>(
    '/rules',
    { bodyLimit: RULES_BODY_LIMIT, schema: { body: { type: 'object' } } },
    async (req) => {
      const { rulesVersion: _ignored, ...candidate } = req.body;
      const checked = validateRules(candidate);
      if (!checked.ok) throw new AdminError('SCHEMA', `${checked.field}: ${checked.message}`);
      return control().update(checked.rules);
    },
  );
}
