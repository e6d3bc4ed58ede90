/** What the deploy files query: PromQL expressions of the alert rules and the Grafana dashboard, and the metric names in them. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parser } from '@prometheus-io/lezer-promql';

export interface Query {
  /** Where it comes from, for messages: `rules.yml RiskDecisionLatencyHigh`, `dashboard "Consumer lag per shard" A`. */
  where: string;
  expr: string;
}

export function ruleQueries(path: string): Query[] {
  const doc = parseYaml(readFileSync(path, 'utf8')) as { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `${path} ${r.alert ?? r.record}`, expr: String(r.expr) })));
}

interface Panel {
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: Panel[];
}

/** Every panel target's expression (rows' nested panels included) and the template variables' label_values(metric, label) queries. */
export function dashboardQueries(path: string): Query[] {
  const dash = JSON.parse(readFileSync(path, 'utf8')) as { panels: Panel[]; templating?: { list: { name: string; query?: string | { query?: string } }[] } };
  const out: Query[] = [];
  const walk = (panels: readonly Panel[]) => {
    for (const p of panels) {
      for (const target of p.targets ?? []) if (target.expr) out.push({ where: `${path} panel "${p.title}" ${target.refId}`, expr: target.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    // Grafana's label_values(metric, label) is not PromQL: its metric is a selector of its own.
    const m = q?.match(/^label_values\((.+),\s*\w+\)$/);
    if (m) out.push({ where: `${path} variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/** Grafana's variables replaced by values PromQL accepts. */
export function expandGrafana(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?(\w+)\}?/g, '.*');
}

/** The metric names an expression selects; throws on a syntax error. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const errors: number[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(expr.slice(id.from, id.to));
      }
    },
  });
  if (errors.length) throw new Error(`PromQL syntax error at ${errors[0]} in: ${expr}`);
  return [...names];
}

/**
 * The series names an exposition (GET /metrics) can have: each family of its `# TYPE` lines, with
 * _bucket/_sum/_count for histograms and summaries. Families whose labelled series have no value
 * yet still have their TYPE line.
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
