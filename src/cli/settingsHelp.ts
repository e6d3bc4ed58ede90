/**
 * Every setting with its environment variable, default and meaning, read from the settings
 * schema (src/config/settings.ts: descriptions, env vars) and config/default.json (defaults):
 * what `risk-engine start --help` prints and what README's settings tables are tested against.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ENV_VARS, settingsSchema } from '../config/settings.ts';

export interface SettingDoc {
  /** Dotted path in the settings object (and in a CONFIG_FILE). */
  path: string;
  /** The environment variable that sets it, when there is one. */
  env?: string;
  /** The default as help shows it. */
  default: string;
  meaning: string;
}

/** Variables read outside the settings schema, listed after the settings. */
export const OTHER_VARIABLES: readonly SettingDoc[] = [
  { path: '', env: 'CONFIG_FILE', default: 'unset', meaning: 'JSON file merged over the defaults' },
  { path: '', env: 'RISK_TRACE_USER_IDS', default: 'false', meaning: 'put user ids into trace spans' },
  { path: '', env: 'OTEL_*', default: '', meaning: 'standard OpenTelemetry variables' },
];

type Json = Record<string, unknown>;

function defaults(): Json {
  return JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Json;
}

function formatValue(v: unknown): string {
  if (v === undefined) return 'unset';
  if (v === null) return 'none';
  if (Array.isArray(v)) return v.length ? v.join(',') : 'none';
  if (typeof v === 'object') return Object.entries(v as Json).map(([k, x]) => `${k}=${String(x)}`).join(',');
  return String(v);
}

/** The leaves of the settings schema, in schema order, documented. Throws when one has no description. */
export function settingDocs(): SettingDoc[] {
  const envOf = new Map(Object.entries(ENV_VARS).map(([name, spec]) => [spec.path, name]));
  const out: SettingDoc[] = [];
  const walk = (schema: z.ZodType, path: string[], value: unknown): void => {
    if (schema instanceof z.ZodObject) {
      for (const [key, child] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        walk(child, [...path, key], (value as Json | undefined)?.[key]);
      }
      return;
    }
    const dotted = path.join('.');
    const meta = (schema.meta() ?? {}) as { description?: string; defaultText?: string };
    if (!meta.description) throw new Error(`setting ${dotted} has no description in src/config/settings.ts`);
    const env = envOf.get(dotted);
    out.push({ path: dotted, ...(env ? { env } : {}), default: meta.defaultText ?? formatValue(value), meaning: meta.description });
  };
  walk(settingsSchema, [], defaults());
  return out;
}

/** The text after `start --help`'s options. */
export function settingsHelp(): string {
  const docs = settingDocs();
  const lines = [
    '',
    'Settings: config/default.json, then the JSON file named by CONFIG_FILE (deep-merged), then the',
    'environment, then flags. A bad value stops start-up with one line naming it (exit code 2).',
    'Settings without a variable are set in the CONFIG_FILE by their path.',
    '',
  ];
  for (const d of docs) {
    lines.push(`  ${d.path}${d.env ? ` (env ${d.env})` : ''}  default: ${d.default}`, `      ${d.meaning}`);
  }
  lines.push('', 'Other environment variables:');
  for (const d of OTHER_VARIABLES) lines.push(`  ${d.env}${d.default ? `  default: ${d.default}` : ''}`, `      ${d.meaning}`);
  return `${lines.join('\n')}\n`;
}
