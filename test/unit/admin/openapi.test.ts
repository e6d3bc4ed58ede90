import { readFileSync } from 'node:fs';
import test from 'ava';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteOptions } from 'fastify';
import { apiDocument } from '../../../src/admin/apiDocument.ts';
import { renderMarkdown } from '../../../src/admin/openapiMarkdown.ts';
import type { UserStateView } from '../../../src/domain/index.ts';
import { auth, build, sampleUser, TOKEN } from './helpers.ts';

type Json = Record<string, any>;

/** ":userId" -> "{userId}" */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every path of the router, as printRoutes lists them (the tree's segments joined). */
function routerPaths(tree: string): string[] {
  const stack: string[] = [];
  const paths: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    paths.push(stack.join(''));
  }
  return paths;
}

test('GET /openapi.json is a valid OpenAPI 3.1 document of every route', async (t) => {
  const { app } = build({ ADMIN_TOKEN: TOKEN });
  const routes: RouteOptions[] = [];
  // Routes are registered inside plugins, at ready: this hook sees each of them.
  app.addHook('onRoute', (r) => void routes.push(r));
  await app.ready();
  t.is((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 401, 'the document needs the token like the API');
  const res = await app.inject({ method: 'GET', url: '/openapi.json', headers: auth });
  t.is(res.statusCode, 200);
  const doc = res.json<Json>();
  t.is(doc.openapi, '3.1.0');

  const result = await new Validator().validate(doc);
  t.true(result.valid, JSON.stringify(result.errors, null, 2));

  const hidden = new Set<string>();
  let checked = 0;
  for (const r of routes) {
    if ((r.schema as Json | undefined)?.hide) {
      hidden.add(r.url);
      continue;
    }
    for (const method of [r.method].flat()) {
      if (method === 'HEAD') continue;
      t.truthy(doc.paths[openApiPath(r.url)]?.[method.toLowerCase()], `${method} ${r.url} is in the document`);
      checked++;
    }
  }
  t.true(checked >= 10);
  // A route registered on the app before the generator loaded would not pass the hook above; the router has it all.
  for (const path of routerPaths(app.printRoutes({ commonPrefix: false }))) {
    if (hidden.has(path) && !routes.some((r) => r.url === path && !(r.schema as Json | undefined)?.hide)) continue;
    t.truthy(doc.paths[openApiPath(path)], `${path} is in the document`);
  }

  // Every answer is described, errors in the shared shape.
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, op] of Object.entries(item as Json)) {
      t.truthy((op as Json).responses?.['200'] ?? (op as Json).responses?.['202'], `${method} ${path} has a success answer`);
    }
  }
  t.deepEqual(doc.paths['/rules'].put.responses['400'].content['application/json'].schema, { $ref: '#/components/schemas/Error' });
  t.deepEqual(doc.paths['/rules'].put.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/Rules' });
  t.truthy(doc.paths['/events'].post.requestBody.content['application/x-ndjson']);
  t.deepEqual(doc.paths['/healthz'].get.security, []);
});

test('the validator refuses a broken document (the check above can fail)', async (t) => {
  const result = await new Validator().validate({ openapi: '3.1.0', info: { title: 'x' }, paths: { '/a': { get: { responses: 'nope' } } } });
  t.false(result.valid);
});

test('response schemas document answers and never reshape them', async (t) => {
  const { app, engine } = build();
  // A field no schema names, and one of another type than documented: both answered as they are.
  const state = { ...sampleUser('u-1'), addedLater: { x: 1 }, sequenceNumber: '2' } as unknown as UserStateView;
  engine.userState.resolves(state);
  const res = await app.inject({ method: 'GET', url: '/users/u-1' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), JSON.parse(JSON.stringify(state)));
});

test('docs/api.md is the rendering of the current document (node --import tsx scripts/api-doc.ts writes it)', async (t) => {
  const expected = renderMarkdown(await apiDocument());
  t.is(readFileSync('docs/api.md', 'utf8'), expected, 'docs/api.md is out of date: run node --import tsx scripts/api-doc.ts');
});
