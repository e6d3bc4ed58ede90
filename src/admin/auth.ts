/**
 * Bearer-token auth (CONTRACT §5): with ADMIN_TOKEN set, every route but the probes needs
 * `Authorization: Bearer <token>`. Both sides are hashed first, so the comparison takes the same
 * time whatever the given token's length or content. Runs on `onRequest`: before any body is read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Tokens never go to logs; only this says whether `header` carries `token`. */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  // Compared even without a token, so that a missing header costs the same as a wrong one.
  const given = digest(match?.[1] ?? '');
  return timingSafeEqual(given, expected) && match !== null;
}

/** The onRequest hook, or null when no token is configured (the settings then allow loopback only). */
export function bearerAuth(token: string | undefined, openRoutes: ReadonlySet<string>) {
  if (!token) return null;
  const expected = digest(token);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    // The matched route, not the raw URL: "/healthz?x" and "/%68ealthz" cannot be told apart wrongly.
    const route = req.routeOptions.url;
    if (route !== undefined && openRoutes.has(route)) return undefined;
    if (bearerMatches(req.headers.authorization, expected)) return undefined;
    reply.header('www-authenticate', 'Bearer realm="risk-engine"');
    return sendError(reply, 'UNAUTHORIZED', 'missing or wrong bearer token');
  };
}
