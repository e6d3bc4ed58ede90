/**
 * GET /rules and PUT /rules (CONTRACT §5). PUT takes the whole rules object as GET shows it, its
 * rulesVersion ignored; a bad field is refused with 400 naming it; a good object becomes the
 * rules of every instance with rulesVersion = current + 1, and the answer is that object.
 */
import type { FastifyInstance } from 'fastify';
import { validateRules } from '../../domain/index.ts';
import { AdminError } from '../errors.ts';
import { docs } from '../openapi.ts';
import { errorResponses } from '../schemas.ts';
import type { RulesControl } from '../types.ts';

/** A rules object is a few KiB; no reason to accept the ingestion limit here. */
const RULES_BODY_LIMIT = 1024 * 1024;

export function registerRules(app: FastifyInstance, rules: RulesControl | null): void {
  const control = (): RulesControl => {
    if (!rules) throw new AdminError('UNAVAILABLE', 'rules cannot be read or changed on this instance (no rules channel)');
    return rules;
  };

  app.get('/rules', { schema: { summary: 'the rules in force', tags: ['rules'], response: { 200: { description: 'the rules in force', $ref: 'Rules#' }, ...errorResponses() } } }, async () => control().current());

  app.put<{ Body: Record<string, unknown> }>(
    '/rules',
    {
      bodyLimit: RULES_BODY_LIMIT,
      schema: {
        summary: 'replace the rules on every instance',
        description: 'takes the whole object as GET shows it (its rulesVersion ignored), validates it (400 naming the bad field), bumps the version and applies it on every instance within seconds',
        tags: ['rules'],
        body: { type: 'object' },
        response: { 200: { description: 'the applied rules, version bumped', $ref: 'Rules#' }, ...errorResponses(400, 403, 413, 415) },
      },
      // Checked by the domain's validation (its messages name the field): the schema is for the document only.
      config: docs({ body: { $ref: 'Rules#' } }),
    },
    async (req) => {
      const { rulesVersion: _ignored, ...candidate } = req.body;
      const checked = validateRules(candidate);
      if (!checked.ok) throw new AdminError('SCHEMA', `${checked.field}: ${checked.message}`);
      return control().update(checked.rules);
    },
  );
}
