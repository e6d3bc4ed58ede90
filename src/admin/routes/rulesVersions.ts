/** GET /rules/versions/:v (CONTRACT §7): the rules object as it was at version v; every version is kept. */
import type { FastifyInstance } from 'fastify';
import type { Rules } from '../../domain/index.ts';
import { AdminError } from '../errors.ts';
import { EngineError } from '../../errors.ts';

export interface RulesVersions {
  rulesVersion(v: number): Promise<Rules | null>;
}

const params = {
  type: 'object',
  required: ['v'],
  properties: { v: { type: 'string', pattern: '^[0-9]{1,15}$' } },
} as const;

export function registerRulesVersions(app: FastifyInstance, versions: RulesVersions | null): void {
  app.get<{ Params: { v: string } }>('/rules/versions/:v', { schema: { params } }, async (req) => {
    if (!versions) throw new AdminError('UNAVAILABLE', 'rules versions are not kept on this instance');
    const rules = await versions.rulesVersion(Number(req.params.v));
    if (!rules) throw new EngineError('NOT_FOUND', `rules version ${req.params.v} is not known`);
    return rules;
  });
}
