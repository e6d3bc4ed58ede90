/**
 * JSON errors of the admin API: `{"error": {"code", "message"}}` with the status of the code.
 * Only EngineErrors choose their code; any other failure is INTERNAL (logged, not echoed).
 */
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { fieldName } from '../domain/rules.ts';
import { EngineError, errorMessage, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  BAD_REQUEST: 400,
  SCHEMA: 400,
  INVALID_JSON: 400,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, status = STATUS[code] ?? 500): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** Schema (ajv) failures as `<field>: <why>`, the field written like the rules validation does ("a.b[2].c"). */
export const schemaErrorFormatter = (errors: FastifySchemaValidationError[], dataVar: string): Error => {
  const e = errors[0];
  if (!e) return new Error(`${dataVar}: is invalid`);
  const path: (string | number)[] = e.instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const named = e.params.missingProperty ?? e.params.additionalProperty;
  if (typeof named === 'string') path.push(named);
  return new Error(`${fieldName(path) || dataVar}: ${e.message ?? 'is invalid'}`);
};

export function errorHandler(log: Logger) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err.validation) return sendError(reply, 'SCHEMA', err.message, 400);
    if (err instanceof EngineError) {
      if (err.code === 'INTERNAL') log.error({ err, url: req.url }, 'admin request failed');
      return sendError(reply, err.code, err.message);
    }
    const status = err.statusCode;
    if (status && status >= 400 && status < 500) return sendError(reply, clientCode(err, status), errorMessage(err), status);
    log.error({ err, url: req.url }, 'admin request failed');
    return sendError(reply, 'INTERNAL', 'internal error', 500);
  };
}

function clientCode(err: FastifyError, status: number): ErrorCode {
  if (status === 413) return 'TOO_LARGE';
  if (status === 401) return 'UNAUTHORIZED';
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) return 'INVALID_JSON';
  return 'BAD_REQUEST';
}
