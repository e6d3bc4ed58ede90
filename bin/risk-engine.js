#!/usr/bin/env -S node --max-semi-space-size=64
// The `risk-engine` executable: runs the compiled CLI (dist/, built by `npm ci` / `npm run build`),
// or the TypeScript sources through tsx in a development checkout that has not been built.
// --max-semi-space-size=64 (MB, young generation): every event replaces its user's state, and
// with V8's default (16) far more of the short-lived garbage around it survives into the old
// generation; the benchmark measured 13% less CPU per event and GC down from 30% to 22%.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
