/**
 * Redraws the chart of a bench result: `node --import tsx bench/chart.ts [bench/results/latest.json] [bench/results/latest.svg]`.
 * (`npm run bench` draws it already; this is for a result file from another run.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { chartFromReport, type BenchReport } from './lib/chart.ts';

const input = process.argv[2] ?? 'bench/results/latest.json';
const output = process.argv[3] ?? input.replace(/\.json$/, '.svg');
writeFileSync(output, chartFromReport(JSON.parse(readFileSync(input, 'utf8')) as BenchReport));
process.stdout.write(`wrote ${output}\n`);
