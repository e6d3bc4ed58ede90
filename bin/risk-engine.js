#!/usr/bin/env node
// The `risk-engine` executable: runs the compiled CLI (dist/, built by `npm ci` / `npm run build`),
// or the TypeScript sources through tsx in a development checkout that has not been built.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
