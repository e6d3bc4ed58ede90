/**
 * The OpenAPI document as a Markdown reference (docs/api.md, written by scripts/api-doc.ts and
 * checked to be current by a test): every operation with its parameters, body and answers, then
 * every shared schema.
 */

type Json = Record<string, any>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

const refName = (ref: string): string => ref.replace('#/components/schemas/', '');

/** A schema written short: `Rules`, `string`, `array of Decision`, `integer | null`. */
function typeOf(schema: Json | undefined): string {
  if (!schema) return '';
  if (schema.$ref) return `[${refName(schema.$ref)}](#${refName(schema.$ref).toLowerCase()})`;
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((e: unknown) => `\`${String(e)}\``).join(' \\| ');
  if (schema.allOf) return schema.allOf.map(typeOf).join(' and ');
  if (schema.oneOf) return schema.oneOf.map(typeOf).join(' or ');
  const types = [schema.type].flat().filter(Boolean) as string[];
  if (types.includes('array')) return `array of ${typeOf(schema.items) || 'any'}`;
  if (types.includes('object') && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    return `object of ${typeOf(schema.additionalProperties)}`;
  }
  return types.join(' \\| ') || 'any';
}

const sentence = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1).replace(/\.$/, '');

const cell = (s: unknown): string => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function bodyCell(content: Json | undefined): string {
  if (!content) return '';
  return Object.entries(content)
    .map(([type, media]) => `\`${type}\`: ${typeOf((media as Json).schema)}`)
    .join('<br>');
}

function propertiesTable(schema: Json): string[] {
  const props = (schema.properties ?? {}) as Json;
  if (!Object.keys(props).length) return [];
  const required = new Set<string>(schema.required ?? []);
  return [
    '| field | type | required | description |',
    '|---|---|---|---|',
    ...Object.entries(props).map(([name, p]) => `| \`${name}\` | ${cell(typeOf(p as Json))} | ${required.has(name) ? 'yes' : ''} | ${cell((p as Json).description)} |`),
    '',
  ];
}

export function renderMarkdown(doc: Json): string {
  const out: string[] = [
    `# ${doc.info.title} ${doc.info.version}`,
    '',
    '<!-- Generated from GET /openapi.json by scripts/api-doc.ts (node --import tsx scripts/api-doc.ts); do not edit. -->',
    '',
    doc.info.description ?? '',
    '',
    `OpenAPI ${doc.openapi}; the document itself is served at \`GET /openapi.json\`.`,
    '',
    '## Operations',
    '',
    '| method | path | summary |',
    '|---|---|---|',
  ];
  const operations: [string, string, Json][] = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const m of METHODS) if ((item as Json)[m]) operations.push([m, path, (item as Json)[m]]);
  }
  for (const [m, path, op] of operations) {
    out.push(`| ${m.toUpperCase()} | [\`${path}\`](#${anchor(m, path)}) | ${cell(op.summary)} |`);
  }
  out.push('');
  for (const [m, path, op] of operations) {
    out.push(`### ${m.toUpperCase()} ${path}`, '');
    if (op.summary) out.push(`${sentence(op.summary)}.`, '');
    if (op.description) out.push(`${sentence(op.description)}.`, '');
    out.push(Array.isArray(op.security) && op.security.length === 0 ? 'No token needed.' : 'Bearer token when ADMIN_TOKEN is set.', '');
    if (op.parameters?.length) {
      out.push('| parameter | in | type | required | description |', '|---|---|---|---|---|');
      for (const p of op.parameters) out.push(`| \`${p.name}\` | ${p.in} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : ''} | ${cell(p.description)} |`);
      out.push('');
    }
    if (op.requestBody) out.push(`Body: ${bodyCell(op.requestBody.content)}`, '');
    out.push('| status | meaning | body |', '|---|---|---|');
    for (const [status, r] of Object.entries(op.responses as Json)) out.push(`| ${status} | ${cell((r as Json).description)} | ${bodyCell((r as Json).content)} |`);
    out.push('');
  }
  out.push('## Schemas', '');
  for (const [name, schema] of Object.entries((doc.components?.schemas ?? {}) as Json)) {
    out.push(`### ${name}`, '');
    if (schema.description) out.push(`${sentence(schema.description)}.`, '');
    out.push(...propertiesTable(schema));
    out.push('<details><summary>JSON schema</summary>', '', '```json', JSON.stringify(schema, null, 2), '```', '', '</details>', '');
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** GitHub's heading anchor of "### GET /users/{userId}". */
function anchor(method: string, path: string): string {
  return `${method} ${path}`.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}
