/**
 * GET /rules and PUT /rules (CONTRACT §5). PUT takes the whole rules object as GET shows it, its
 * rulesVersion ignored; a bad field is refused with 400 naming it; a good object becomes the
 * rules of every instance with rulesVersion = current + 1, and the answer is that object.
 *
 * Shadow rules (CONTRACT §8): PUT /rules/shadow takes a rules object as PUT /rules does and runs
 * it beside the live rules on every instance, under a version of its own; GET shows it (404 when
 * none runs), DELETE stops it; GET /rules/shadow/report counts its verdicts against the live ones
 * over the cluster (`?version=` for a shadow stopped since). GET /rules/shadow answers a plain
 * rules object, so that promoting it is `GET /rules/shadow` then `PUT /rules` with that body.
 */
import type { FastifyInstance } from 'fastify';
import { validateRules } from '../../domain/index.ts';
import { AdminError } from '../errors.ts';
import { docs } from '../openapi.ts';
import { errorResponses } from '../schemas.ts';
import type { RulesControl, ShadowReport } from '../types.ts';

/** A rules object is a few KiB; no reason to accept the ingestion limit here. */
const RULES_BODY_LIMIT = 1024 * 1024;

const shadowReportSchema = {
  type: 'object',
  description: 'counted over the whole cluster since the shadow started; disagreements are "live->shadow"',
  required: ['shadowVersion', 'since', 'events', 'agree', 'disagreements'],
  properties: {
    shadowVersion: { type: 'integer' },
    since: { type: ['integer', 'null'], description: 'when the shadow started, epoch ms' },
    events: { type: 'integer', description: 'events decided under the shadow rules too' },
    agree: { type: 'integer' },
    disagreements: { type: 'object', additionalProperties: { type: 'integer' }, examples: [{ 'ALLOW->BLOCK': 12, 'CHALLENGE->ALLOW': 3 }] },
  },
} as const;

/** The rules of a PUT body, validated (400 naming the bad field); its rulesVersion ignored. */
function candidateOf(body: Record<string, unknown>) {
  const { rulesVersion: _ignored, ...candidate } = body;
  const checked = validateRules(candidate);
  if (!checked.ok) throw new AdminError('SCHEMA', `${checked.field}: ${checked.message}`);
  return checked.rules;
}

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
    async (req) => control().update(candidateOf(req.body)),
  );

  const shadow = (): Required<Pick<RulesControl, 'shadow' | 'updateShadow' | 'stopShadow' | 'shadowReport'>> => {
    const c = control();
    if (!c.shadow || !c.updateShadow || !c.stopShadow || !c.shadowReport) throw new AdminError('UNAVAILABLE', 'shadow rules are not available on this instance');
    return { shadow: c.shadow.bind(c), updateShadow: c.updateShadow.bind(c), stopShadow: c.stopShadow.bind(c), shadowReport: c.shadowReport.bind(c) };
  };
  const none = (): never => {
    throw new AdminError('NOT_FOUND', 'no shadow rules run (PUT /rules/shadow starts them)');
  };

  app.get(
    '/rules/shadow',
    { schema: { summary: 'the shadow rules running beside the live ones', tags: ['rules'], response: { 200: { description: 'the shadow rules (their own rulesVersion)', $ref: 'Rules#' }, ...errorResponses(404) } } },
    async () => shadow().shadow()?.rules ?? none(),
  );

  app.put<{ Body: Record<string, unknown> }>(
    '/rules/shadow',
    {
      bodyLimit: RULES_BODY_LIMIT,
      schema: {
        summary: 'run candidate rules beside the live ones on every instance',
        description:
          'validated like PUT /rules (400 naming the bad field); gets a version of its own; every event is then decided under both, the decision record carries "shadow": {rulesVersion, decision, riskScore}, and nothing else changes. Replaces a shadow already running (its counts start afresh)',
        tags: ['rules'],
        body: { type: 'object' },
        response: { 200: { description: 'the shadow rules, with their version', $ref: 'Rules#' }, ...errorResponses(400, 403, 413, 415) },
      },
      config: docs({ body: { $ref: 'Rules#' } }),
    },
    async (req) => (await shadow().updateShadow(candidateOf(req.body))).rules,
  );

  app.delete(
    '/rules/shadow',
    { schema: { summary: 'stop the shadow rules on every instance', tags: ['rules'], response: { 200: { description: 'the shadow rules stopped', $ref: 'Rules#' }, ...errorResponses(403, 404) } } },
    async () => (await shadow().stopShadow())?.rules ?? none(),
  );

  app.get<{ Querystring: { version?: string } }>(
    '/rules/shadow/report',
    {
      schema: {
        summary: 'how the shadow rules decided against the live ones',
        tags: ['rules'],
        querystring: { type: 'object', properties: { version: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'a shadow version (default: the running one)' } } },
        response: { 200: shadowReportSchema, ...errorResponses(400, 404) },
      },
    },
    async (req): Promise<ShadowReport> => {
      const version = req.query.version === undefined ? undefined : Number(req.query.version);
      const report = await shadow().shadowReport(version);
      if (report) return report;
      throw new AdminError('NOT_FOUND', version === undefined ? 'no shadow rules run (PUT /rules/shadow starts them)' : `no counts of shadow version ${version}`);
    },
  );
}
