/**
 * JSON schemas of the admin API's answers and bodies (CONTRACT §1, §2, §5), for the OpenAPI
 * document (./openapi.ts). Answers are written with JSON.stringify whatever their schema says
 * (see `documentedResponses` in ./openapi.ts), so these describe and never reshape an answer;
 * request schemas that validate stay with their routes.
 */

/** Shared schemas: each becomes components.schemas.<$id> and is referenced as `{$ref: '<$id>#'}`. */
export const SHARED_SCHEMAS = [
  {
    $id: 'Error',
    type: 'object',
    description: 'every error answer of the admin API',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: {
            type: 'string',
            enum: ['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'METHOD_NOT_ALLOWED', 'UNSUPPORTED_MEDIA_TYPE', 'BAD_REQUEST', 'SCHEMA', 'INVALID_JSON', 'TOO_LARGE', 'UNAVAILABLE', 'TIMEOUT', 'INTERNAL'],
          },
          message: { type: 'string', description: 'starts with the field it is about, when it is about one' },
        },
      },
    },
  },
  {
    $id: 'Reason',
    type: 'object',
    required: ['code', 'weight', 'detail'],
    properties: {
      code: { type: 'string', examples: ['NEW_DEVICE'] },
      weight: { type: 'number', description: "contribution to the score's logit; 1 for reasons that force the verdict (hard rules, escalation)" },
      detail: { type: 'string' },
    },
  },
  {
    $id: 'Decision',
    type: 'object',
    description: 'a decision as committed to the risk-decisions topic (CONTRACT §2)',
    required: ['eventId', 'userId', 'eventType', 'decision', 'riskScore', 'reasons', 'modelVersion', 'rulesVersion', 'eventTimestamp', 'decidedAt', 'shard', 'traceId'],
    properties: {
      eventId: { type: 'string' },
      userId: { type: 'string' },
      eventType: { type: 'string' },
      decision: { type: 'string', enum: ['ALLOW', 'CHALLENGE', 'BLOCK'] },
      riskScore: { type: 'number', minimum: 0, maximum: 1 },
      reasons: { type: 'array', items: { $ref: 'Reason#' } },
      modelVersion: { type: 'string' },
      rulesVersion: { type: 'integer' },
      eventTimestamp: { type: 'integer', description: 'event time, epoch ms' },
      decidedAt: { type: 'integer', description: 'epoch ms' },
      shard: { type: 'integer' },
      traceId: { type: ['string', 'null'], description: '32 hex characters, or null without tracing' },
      shadow: {
        type: 'object',
        description: 'while a shadow rule set runs (PUT /rules/shadow): what it decided; it changes nothing else',
        required: ['rulesVersion', 'decision', 'riskScore'],
        properties: { rulesVersion: { type: 'integer' }, decision: { type: 'string', enum: ['ALLOW', 'CHALLENGE', 'BLOCK'] }, riskScore: { type: 'number', minimum: 0, maximum: 1 } },
      },
    },
  },
  {
    $id: 'Event',
    type: 'object',
    description: 'an input event (CONTRACT §1); limits in the README (Limits and bad input)',
    required: ['eventId', 'userId', 'eventType', 'timestamp'],
    properties: {
      eventId: { type: 'string', minLength: 1, maxLength: 128 },
      userId: { type: 'string', minLength: 1, maxLength: 128 },
      eventType: { type: 'string', minLength: 1, maxLength: 64, examples: ['login', 'payment', 'transfer'] },
      timestamp: { type: 'integer', description: 'event time, epoch ms' },
      amount: { type: ['number', 'string'], description: 'required for payment and transfer; >= 0, at most 4 decimals' },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      deviceId: { type: 'string', maxLength: 256 },
      ip: { type: 'string', maxLength: 256 },
      country: { type: 'string', maxLength: 256 },
      riskScore: { type: 'number', minimum: 0, maximum: 1 },
      eventData: { type: 'object' },
    },
  },
  {
    $id: 'Rules',
    type: 'object',
    description: 'the rules object (CONTRACT §5); PUT /rules ignores rulesVersion and bumps it',
    required: ['modelVersion', 'thresholds', 'weights', 'bias'],
    additionalProperties: false,
    properties: {
      rulesVersion: { type: 'integer', minimum: 0 },
      modelVersion: { type: 'string', minLength: 1, maxLength: 64 },
      thresholds: {
        type: 'object',
        required: ['block', 'challenge'],
        additionalProperties: false,
        description: '0 < challenge < block <= 1',
        properties: { block: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, challenge: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } },
      },
      weights: { type: 'object', description: 'feature name -> weight', additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
      bias: { type: 'number', minimum: -100, maximum: 100 },
      hardRules: {
        type: 'array',
        maxItems: 1000,
        items: {
          type: 'object',
          required: ['id', 'when', 'decision'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 64 },
            when: {
              type: 'object',
              description: 'all given conditions must hold; at least one',
              minProperties: 1,
              additionalProperties: false,
              properties: {
                eventType: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
                amountAbove: { type: ['number', 'string'] },
                amountBelow: { type: ['number', 'string'] },
                countryIn: { type: 'array', items: { type: 'string' } },
                newDevice: { type: 'boolean' },
                newCountry: { type: 'boolean' },
                countInLastMinuteAbove: { type: 'integer', minimum: 0 },
                upstreamRiskAbove: { type: 'number', minimum: 0, maximum: 1 },
              },
            },
            decision: { type: 'string', enum: ['BLOCK', 'CHALLENGE'] },
          },
        },
      },
    },
  },
  {
    $id: 'UserState',
    type: 'object',
    description: "a user's state (CONTRACT §5)",
    required: ['userId', 'shard', 'source', 'sequenceNumber', 'profile', 'recentEvents', 'decisions', 'window'],
    properties: {
      userId: { type: 'string' },
      shard: { type: 'integer' },
      source: { type: 'string', enum: ['actor', 'store'] },
      sequenceNumber: { type: 'integer' },
      profile: {
        type: 'object',
        properties: {
          eventCount: { type: 'integer' },
          loginCount: { type: 'integer' },
          paymentCount: { type: 'integer' },
          transferCount: { type: 'integer' },
          otherCount: { type: 'integer' },
          totalPaymentAmount: { type: 'string', description: 'exact decimal, 4 decimals, default currency' },
          totalTransferAmount: { type: 'string' },
          totals: {
            type: 'object',
            description: 'per currency',
            additionalProperties: { type: 'object', properties: { payment: { type: 'string' }, transfer: { type: 'string' } } },
          },
          devices: { type: 'array', items: { type: 'string' } },
          countries: { type: 'array', items: { type: 'string' } },
          firstEventTime: { type: ['integer', 'null'] },
          lastEventTime: { type: ['integer', 'null'] },
        },
      },
      recentEvents: {
        type: 'array',
        description: 'newest last',
        items: {
          type: 'object',
          properties: {
            eventId: { type: 'string' },
            kind: { type: 'string' },
            timestamp: { type: 'integer' },
            amount: { type: ['string', 'null'] },
            currency: { type: ['string', 'null'] },
            deviceId: { type: ['string', 'null'] },
            country: { type: ['string', 'null'] },
            failedLogin: { type: 'boolean' },
          },
        },
      },
      decisions: { type: 'array', description: 'newest last', items: { $ref: 'Decision#' } },
      window: {
        type: 'object',
        properties: { windowStart: { type: 'integer' }, windowEnd: { type: 'integer' }, eventCount: { type: 'integer' }, maxRiskScore: { type: 'number' } },
      },
      lateEvents: { type: 'integer' },
    },
  },
  {
    $id: 'IngestAnswer',
    type: 'object',
    description: 'POST /events: per-line results',
    required: ['accepted', 'rejected', 'results'],
    properties: {
      accepted: { type: 'integer' },
      rejected: { type: 'integer' },
      results: {
        type: 'array',
        description: 'every accepted line, and the first 100 rejected ones',
        items: {
          type: 'object',
          required: ['line', 'status'],
          properties: {
            line: { type: 'integer', description: 'from 1' },
            status: { type: 'string', enum: ['accepted', 'rejected'] },
            eventId: { type: 'string' },
            topic: { type: 'string' },
            error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
      notListed: {
        type: 'object',
        description: 'the rejected lines past the first 100, counted by code',
        properties: { count: { type: 'integer' }, byCode: { type: 'object', additionalProperties: { type: 'integer' } } },
      },
    },
  },
] as const;

const ERROR_WORDS: Record<number, string> = {
  400: 'bad request (SCHEMA, INVALID_JSON, BAD_REQUEST)',
  401: 'no or a wrong bearer token (with ADMIN_TOKEN set)',
  403: 'a cross-origin write, or without ADMIN_TOKEN a write to a non-loopback Host',
  404: 'not found',
  405: 'known path, other method (Allow header)',
  413: 'TOO_LARGE: body over the limit',
  414: 'TOO_LARGE: a path parameter over 2,048 characters',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'TOO_LARGE: request headers over 16 KiB',
  500: 'INTERNAL',
  503: 'UNAVAILABLE: a dependency is down, or the engine is shutting down',
  504: 'TIMEOUT',
};

/** Error answers of a route, in the `{error: {code, message}}` shape. */
export function errorResponses(...statuses: number[]): Record<number, { description: string; $ref: string }> {
  return Object.fromEntries([...new Set([401, 500, 503, ...statuses])].sort().map((s) => [s, { description: ERROR_WORDS[s] ?? 'error', $ref: 'Error#' }]));
}
