/**
 * The operator console (CONTRACT §9) at `GET /`: one HTML page, its script and style, and Preact
 * and htm as ES modules read from the installed packages: no build step, no CDN, works offline.
 * The page and its assets carry no data and need no token; everything the page shows comes from
 * the API with the bearer token the page asks for (./static/app.js).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's own files, read from the sources whether the server runs from src/ or dist/. */
const STATIC_DIR = fileURLToPath(new URL('../../../src/admin/console/static/', import.meta.url));

const require = createRequire(import.meta.url);
/** The ES module build beside a package's CommonJS entry (`dist/x.js` -> `dist/x.module.js`). */
const esmOf = (name: string): string => require.resolve(name).replace(/\.js$/, '.module.js');

/** URL -> [file, content type]. */
const ASSETS: Record<string, [string, string]> = {
  '/console/app.js': [join(STATIC_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
  '/console/style.css': [join(STATIC_DIR, 'style.css'), 'text/css; charset=utf-8'],
  '/console/vendor/preact.js': [esmOf('preact'), 'text/javascript; charset=utf-8'],
  '/console/vendor/preact-hooks.js': [esmOf('preact/hooks'), 'text/javascript; charset=utf-8'],
  '/console/vendor/htm.js': [esmOf('htm'), 'text/javascript; charset=utf-8'],
};

/** Resolves the bare imports of the vendor modules ("preact" inside preact/hooks). */
const IMPORT_MAP = JSON.stringify({ imports: { preact: '/console/vendor/preact.js', 'preact/hooks': '/console/vendor/preact-hooks.js', htm: '/console/vendor/htm.js' } });

/** The routes that need no token (auth.ts lets them through). */
export const CONSOLE_ROUTES: ReadonlySet<string> = new Set(['/', ...Object.keys(ASSETS)]);

function page(): { html: string; csp: string } {
  const html = readFileSync(join(STATIC_DIR, 'index.html'), 'utf8').replace('{{IMPORT_MAP}}', IMPORT_MAP);
  const importMapHash = createHash('sha256').update(IMPORT_MAP).digest('base64');
  // Only the page's own files run; the one inline script is the import map, allowed by its hash.
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return { html, csp };
}

const secure = (reply: FastifyReply): FastifyReply =>
  reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('cache-control', 'no-cache');

export function registerConsole(app: FastifyInstance): void {
  // Read once: the files do not change while the engine runs.
  const { html, csp } = page();
  const files = new Map(Object.entries(ASSETS).map(([url, [file, type]]) => [url, { body: readFileSync(file), type }]));

  app.get(
    '/',
    {
      schema: {
        summary: 'the operator console (HTML)',
        description: 'no token needed to load the page; it asks for ADMIN_TOKEN when the API needs one and sends it as a bearer header',
        tags: ['console'],
        security: [],
        response: { 200: { description: 'the console page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    async (_req, reply) => secure(reply).header('content-security-policy', csp).type('text/html; charset=utf-8').send(html),
  );
  for (const [url, file] of files) {
    app.get(url, { schema: { hide: true } }, async (_req, reply) => secure(reply).type(file.type).send(file.body));
  }
}
