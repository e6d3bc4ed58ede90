/**
 * JSON errors of the admin API: `{"error": {"code", "message"}}` with the status of the code, for
 * every failure a client can meet: the routes' own, fastify's (bad JSON, schema, body limits,
 * content types, bad URLs) and Node's before fastify sees a request (headers too large).
 * A message reaches the client only when it is about the request (a 4xx, or an AdminError); a
 * server-side failure answers a fixed text per code and is logged, so that store keys, hosts and
 * other internals never appear in an answer.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { fieldName } from '../domain/rules.ts';
import { EngineError, errorMessage, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  METHOD_NOT_ALLOWED: 405,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_REQUEST: 400,
  SCHEMA: 400,
  INVALID_JSON: 400,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

/** What a server-side failure says to the client (the details go to the log). */
const SERVER_SIDE: Partial<Record<ErrorCode, string>> = {
  UNAVAILABLE: 'a service the engine depends on is unavailable; try again later',
  TIMEOUT: 'the engine did not answer in time; try again later',
};

/** An error about the request itself, raised by the admin API: its message is for the client. */
export class AdminError extends EngineError {}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, status = STATUS[code] ?? 500): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** Echoed request text (paths, header values) is cut: an error answer stays small. */
export function echo(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
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
      const status = STATUS[err.code] ?? 500;
      if (status < 500 || err instanceof AdminError) return sendError(reply, err.code, err.message, status);
      log[err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT' ? 'warn' : 'error']({ err, url: req.url }, 'admin request failed');
      return sendError(reply, err.code, SERVER_SIDE[err.code] ?? 'internal error', status);
    }
    const status = err.statusCode;
    if (status && status >= 400 && status < 500) {
      const [code, message] = clientError(err, req);
      return sendError(reply, code, message, status);
    }
    log.error({ err, url: req.url }, 'admin request failed');
    return sendError(reply, 'INTERNAL', 'internal error', 500);
  };
}

/** fastify's own 4xx errors, in the API's codes and words. */
function clientError(err: FastifyError, req: FastifyRequest): [ErrorCode, string] {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return ['TOO_LARGE', `request body is larger than ${req.routeOptions.bodyLimit ?? 'the limit of'} bytes`];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const given = req.headers['content-type'];
      const what = given === undefined ? 'a body without a content type' : `content type ${JSON.stringify(echo(given))}`;
      return ['UNSUPPORTED_MEDIA_TYPE', `${what} is not accepted (application/json, or application/x-ndjson for POST /events)`];
    }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return ['INVALID_JSON', 'the body is empty; a JSON body is expected'];
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return ['INVALID_JSON', errorMessage(err)];
    default:
      if (err.statusCode === 401) return ['UNAUTHORIZED', errorMessage(err)];
      if (err.statusCode === 413) return ['TOO_LARGE', errorMessage(err)];
      if (err instanceof SyntaxError) return ['INVALID_JSON', errorMessage(err)];
      return ['BAD_REQUEST', errorMessage(err)];
  }
}

/** Requests that fastify refuses before routing them (fastify's `frameworkErrors`). */
export function frameworkErrors(maxParamLength: number) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    switch (err.code) {
      case 'FST_ERR_BAD_URL':
        return sendError(reply, 'BAD_REQUEST', 'the path is not valid percent-encoded UTF-8');
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return sendError(reply, 'TOO_LARGE', `a path parameter is longer than ${maxParamLength} characters`, 414);
      default:
        return sendError(reply, 'INTERNAL', 'internal error', 500);
    }
  };
}

/**
 * Requests that Node's HTTP parser refuses before fastify sees them (fastify's
 * `clientErrorHandler`): written straight to the socket, in the same shape.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'TOO_LARGE', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'TIMEOUT', 'the request did not arrive in time']
        : [400, 'BAD_REQUEST', 'malformed HTTP request'];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
