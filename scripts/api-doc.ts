// Writes docs/api.md, the API reference, from the OpenAPI document the admin API serves
// (GET /openapi.json). Run after changing a route: node --import tsx scripts/api-doc.ts
// (test/unit/admin/openapi.test.ts fails while docs/api.md is out of date).
import { writeFileSync } from 'node:fs';
import { apiDocument } from '../src/admin/apiDocument.ts';
import { renderMarkdown } from '../src/admin/openapiMarkdown.ts';

const file = new URL('../docs/api.md', import.meta.url);
writeFileSync(file, renderMarkdown(await apiDocument()));
process.stdout.write(`wrote ${file.pathname}\n`);
