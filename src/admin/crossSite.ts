/**
 * Refuses what a web page in the operator's browser could make it send (CONTRACT §1, §5). A page
 * may POST to any address without asking (a "simple" request: text/plain, a form), so every
 * state-changing request with an `Origin` other than the server's own is refused, 403. Without
 * ADMIN_TOKEN (loopback only) a state-changing request must also be addressed to a loopback name:
 * a page whose own host name was made to resolve to 127.0.0.1 (DNS rebinding) is same-origin to
 * the browser, but its Host header gives it away. Runs on `onRequest`, before any body is read.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isLoopback } from '../config/settings.ts';
import { sendError } from './errors.ts';

const STATE_CHANGING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `host[:port]` as a URL of `protocol` writes it (lower case, no default port); null when it is more than that. */
function authority(protocol: string, host: string): URL | null {
  let u: URL;
  try {
    u = new URL(`${protocol}//${host}`);
  } catch {
    return null;
  }
  return u.username || u.password || u.pathname !== '/' || u.search || u.hash || host.includes('/') ? null : u;
}

/** True when `origin` is the origin this request was addressed to (its Host header). */
export function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file: pages) and garbage
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  if (origin !== o.origin) return false; // an Origin is scheme://host[:port], nothing more
  return authority(o.protocol, host)?.host === o.host;
}

/** True when the Host header names a literal loopback address or "localhost". */
export function isLoopbackHost(host: string | undefined): boolean {
  const hostname = host ? authority('http:', host)?.hostname : undefined;
  if (!hostname) return false;
  return isLoopback(hostname.startsWith('[') ? hostname.slice(1, -1) : hostname);
}

export function crossSiteGuard(options: { loopbackOnly: boolean }) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!STATE_CHANGING.has(req.method)) return undefined;
    const { origin, host } = req.headers;
    if (origin !== undefined && !isOwnOrigin(origin, host)) {
      return sendError(reply, 'FORBIDDEN', 'cross-origin requests are refused');
    }
    if (options.loopbackOnly && !isLoopbackHost(host)) {
      return sendError(reply, 'FORBIDDEN', 'without ADMIN_TOKEN, requests must be addressed to a loopback host (127.0.0.1, [::1], localhost)');
    }
    return undefined;
  };
}
