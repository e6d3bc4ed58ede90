/** A hand-written SVG of the bench: throughput bars on the left, the latency distribution (CDF, log time axis) on the right. */

export interface Bar {
  label: string;
  /** null: not measured (drawn as an empty, dashed bar with the note). */
  value: number | null;
  note?: string;
  color: string;
}

export interface Series {
  label: string;
  /** Ascending latencies in ms. */
  sorted: Float64Array;
  color: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(0) : n.toFixed(1));

function niceMax(x: number): number {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function chartSvg(title: string, subtitle: string, bars: Bar[], series: Series[], percentiles: { label: string; p50: number; p99: number; p999: number }[]): string {
  const W = 1100;
  const H = 490;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>');
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="20" y="26" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="20" y="44" fill="#555">${esc(subtitle)}</text>`);

  // Left: throughput.
  const L = { x: 70, y: 80, w: 340, h: 300 };
  const max = niceMax(Math.max(1, ...bars.map((b) => b.value ?? 0)) * 1.1);
  out.push(`<text x="${L.x}" y="${L.y - 14}" font-weight="bold">Throughput catching up on the backlog (events/s)</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    const y = L.y + L.h - (L.h * i) / 5;
    out.push(`<line x1="${L.x}" y1="${y}" x2="${L.x + L.w}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${L.x - 6}" y="${y + 4}" text-anchor="end" fill="#555">${fmt(v)}</text>`);
  }
  const slot = L.w / bars.length;
  bars.forEach((b, i) => {
    const x = L.x + i * slot + slot * 0.18;
    const w = slot * 0.64;
    if (b.value === null) {
      // No bar: nothing was measured, so no height may suggest a value.
      out.push(`<rect x="${x}" y="${L.y + L.h - 6}" width="${w}" height="6" fill="url(#hatch)" stroke="#999" stroke-dasharray="3 2"/>`);
      (b.note ?? 'not measured').split(': ').forEach((part, k) => {
        out.push(`<text x="${x + w / 2}" y="${L.y + L.h - 40 + k * 14}" text-anchor="middle" fill="#777">${esc(part)}</text>`);
      });
    } else {
      const h = (L.h * b.value) / max;
      out.push(`<rect x="${x}" y="${L.y + L.h - h}" width="${w}" height="${h}" fill="${b.color}"/>`);
      out.push(`<text x="${x + w / 2}" y="${L.y + L.h - h - 6}" text-anchor="middle" font-weight="bold">${fmt(b.value)}</text>`);
      if (b.note) out.push(`<text x="${x + w / 2}" y="${L.y + L.h - h - 20}" text-anchor="middle" fill="#555">${esc(b.note)}</text>`);
    }
    // "(x) what it is" on two lines: six bars share the panel.
    const [tag, ...rest] = b.label.split(' ');
    out.push(`<text x="${x + w / 2}" y="${L.y + L.h + 16}" text-anchor="middle">${esc(rest.length && tag!.startsWith('(') ? tag! : b.label)}</text>`);
    if (rest.length && tag!.startsWith('(')) out.push(`<text x="${x + w / 2}" y="${L.y + L.h + 30}" text-anchor="middle">${esc(rest.join(' '))}</text>`);
  });
  out.push(`<line x1="${L.x}" y1="${L.y + L.h}" x2="${L.x + L.w}" y2="${L.y + L.h}" stroke="#333"/>`);

  // Right: latency CDF on a log axis.
  const R = { x: 540, y: 80, w: 390, h: 300 };
  out.push(`<text x="${R.x}" y="${R.y - 14}" font-weight="bold">Latency produce -> decision: share of events within t</text>`);
  const all = series.flatMap((s) => (s.sorted.length ? [s.sorted[0]!, s.sorted[s.sorted.length - 1]!] : []));
  const lo = Math.max(0.1, Math.min(1, ...all.filter((v) => v > 0)));
  const hi = Math.max(10, ...all);
  const d0 = Math.floor(Math.log10(lo));
  const d1 = Math.ceil(Math.log10(hi));
  const xOf = (ms: number) => R.x + (R.w * (Math.log10(Math.max(ms, 10 ** d0)) - d0)) / (d1 - d0);
  const yOf = (q: number) => R.y + R.h - R.h * q;
  for (let d = d0; d <= d1; d++) {
    const x = xOf(10 ** d);
    out.push(`<line x1="${x}" y1="${R.y}" x2="${x}" y2="${R.y + R.h}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${R.y + R.h + 16}" text-anchor="middle" fill="#555">${fmt(10 ** d)} ms</text>`);
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    out.push(`<line x1="${R.x}" y1="${yOf(q)}" x2="${R.x + R.w}" y2="${yOf(q)}" stroke="${q === 0.5 ? '#ddd' : '#f3f3f3'}"/>`);
    out.push(`<text x="${R.x - 6}" y="${yOf(q) + 4}" text-anchor="end" fill="#555">${Math.round(q * 100)}%</text>`);
  }
  out.push(`<rect x="${R.x}" y="${R.y}" width="${R.w}" height="${R.h}" fill="none" stroke="#333"/>`);
  series.forEach((s, k) => {
    if (!s.sorted.length) return;
    const pts: string[] = [];
    const n = s.sorted.length;
    const steps = Math.min(n, 400);
    for (let i = 0; i < steps; i++) {
      const idx = Math.min(n - 1, Math.floor(((i + 1) / steps) * n) - 1);
      pts.push(`${xOf(s.sorted[Math.max(0, idx)]!).toFixed(1)},${yOf((idx + 1) / n).toFixed(1)}`);
    }
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    // Legend below the plot, one line per series with its percentiles.
    const y = R.y + R.h + 46 + k * 17;
    const p = percentiles[k];
    out.push(`<rect x="${R.x - 40}" y="${y - 6}" width="14" height="4" fill="${s.color}"/>`);
    out.push(`<text x="${R.x - 20}" y="${y}" fill="#333">${esc(s.label)}${p ? `: p50 ${fmt(p.p50)}, p99 ${fmt(p.p99)}, p99.9 ${fmt(p.p999)} ms` : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

interface Latency {
  p50: number;
  p99: number;
  p999: number;
  count: number;
  quantiles: number[];
}

/** The parts of bench/results/*.json the chart reads. */
export interface BenchReport {
  date: string;
  machine: { cpus: number };
  config: { events: number; users: number; partitions: number };
  a_baseline: { eventsPerSecond: number };
  b_pipeline: { eventsPerSecond: number };
  c_tracing?: { eventsPerSecond?: number | null };
  d_latency: { offeredRate: number; decideLatencyMs: Latency; visibleLatencyMs: Latency };
  d_low_load?: { offeredRate: number; decideLatencyMs: Latency };
  memory: { fullHistory: { bytesPerLiveActorHeap: number | null } };
  e_workers?: { eventsPerSecond: number; workers: number };
  f_hot_user?: { eventsPerSecond: number; hotUser: { share: number } };
  embedded?: { eventsPerSecond: number };
}

export function chartFromReport(report: BenchReport): string {
  const a = report.a_baseline.eventsPerSecond;
  const b = report.b_pipeline.eventsPerSecond;
  const d = report.d_latency;
  const low = report.d_low_load;
  const ratio = b / a;
  const q = (l: Latency) => Float64Array.from(l.quantiles);
  const series: Series[] = [
    { label: `at ${d.offeredRate}/s (half of b), decidedAt - sent`, sorted: q(d.decideLatencyMs), color: '#2f6fdf' },
    { label: `at ${d.offeredRate}/s, seen by a read_committed consumer - sent`, sorted: q(d.visibleLatencyMs), color: '#e07b39' },
  ];
  const percentiles = [d.decideLatencyMs, d.visibleLatencyMs].map((l) => ({ label: '', ...l }));
  if (low) {
    series.push({ label: `at ${low.offeredRate}/s (low load, reference), decidedAt - sent`, sorted: q(low.decideLatencyMs), color: '#3aa55d' });
    percentiles.push({ label: '', ...low.decideLatencyMs });
  }
  const c = report.config;
  return chartSvg(
    `risk-engine bench ${report.date}`,
    `${c.events} events, ${c.users} users, ${c.partitions} partitions, ${report.machine.cpus} cores; (b)/(a) = ${ratio.toFixed(3)}; ${report.memory.fullHistory.bytesPerLiveActorHeap ?? '?'} B heap per live actor (full history)`,
    [
      { label: '(a) kafkajs baseline', value: a, color: '#9aa5b1' },
      { label: '(b) full pipeline', value: b, color: '#2f6fdf', note: `${Math.round(ratio * 100)}% of (a)` },
      typeof report.c_tracing?.eventsPerSecond === 'number'
        ? { label: '(c) tracing on', value: report.c_tracing.eventsPerSecond, color: '#7b5bd6', note: `${Math.round((report.c_tracing.eventsPerSecond / b) * 100)}% of (b)` }
        : { label: '(c) tracing on', value: null, note: 'not measured: no tracing', color: '#ccc' },
      ...(report.e_workers ? [{ label: `(e) ${report.e_workers.workers} workers`, value: report.e_workers.eventsPerSecond, color: '#1f9e89', note: `${Math.round((report.e_workers.eventsPerSecond / b) * 100)}% of (b)` }] : []),
      ...(report.f_hot_user ? [{ label: `(f) hot user ${Math.round(report.f_hot_user.hotUser.share * 100)}%`, value: report.f_hot_user.eventsPerSecond, color: '#d6a21e', note: `${Math.round((report.f_hot_user.eventsPerSecond / b) * 100)}% of (b)` }] : []),
      ...(report.embedded ? [{ label: 'embedded HTTP', value: report.embedded.eventsPerSecond, color: '#8c564b' }] : []),
    ],
    series,
    percentiles,
  );
}
