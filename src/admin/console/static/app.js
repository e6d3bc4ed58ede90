// The operator console: Preact + htm as ES modules from the package, no build step. Everything
// shown comes from the admin API; with ADMIN_TOKEN set the page asks for the token, keeps it in
// this tab's sessionStorage and sends it as a bearer header (never in a URL). The live feed is
// read with fetch streaming, since EventSource cannot send a header.
import { h, render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const TOKEN_KEY = 'risk-engine-token';
const FEED_LIMIT = 200;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let onUnauthorized = () => {};
let onInstance = () => {};

function headers() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { accept: 'application/json', ...headers(), ...(init.headers || {}) } });
  const instance = res.headers.get('x-risk-instance');
  if (instance) onInstance(instance);
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, body?.error?.code || String(res.status), body?.error?.message || res.statusText);
  return body;
}

const fmtTime = (ms) => (ms === null || ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace('Z', ''));
const Verdict = ({ v }) => html`<span class=${`verdict ${v}`}>${v}</span>`;
const Reasons = ({ reasons }) => reasons?.length
  ? html`<ul class="reasons">${reasons.map((r) => html`<li><b>${r.code}</b> <span class="muted">(${Number(r.weight).toFixed(2)})</span> ${r.detail}</li>`)}</ul>`
  : html`<span class="muted">none</span>`;
const ErrorLine = ({ error }) => error ? html`<p class="error" role="alert">${error.code ? `${error.code}: ` : ''}${error.message}</p>` : null;

function Login({ onToken, failed }) {
  const [value, setValue] = useState('');
  return html`<section class="card login">
    <h2>Admin token</h2>
    <p class="muted">This engine needs its ADMIN_TOKEN. It is kept in this tab only and sent as a bearer header.</p>
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); onToken(value.trim()); }}>
      <input type="password" name="token" aria-label="admin token" autocomplete="current-password" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
      <button class="primary" type="submit">Sign in</button>
    </form>
    ${failed ? html`<p class="error" role="alert">That token was refused.</p>` : null}
  </section>`;
}

function Explain({ decision }) {
  const [state, setState] = useState(null);
  const load = async () => {
    setState({ loading: true });
    try {
      setState({ data: await api(`/decisions/${encodeURIComponent(decision.eventId)}/explain?userId=${encodeURIComponent(decision.userId)}`) });
    } catch (error) { setState({ error }); }
  };
  if (!state) return html`<button class="link" onClick=${load}>explain</button>`;
  if (state.loading) return html`<span class="muted">…</span>`;
  if (state.error) return html`<${ErrorLine} error=${state.error} />`;
  const x = state.data;
  return html`<div>
    <p>${x.reproduced ? html`<span class="ok">reproduced</span>` : html`<span class="error">not reproduced</span>`} under rules v${x.rulesVersion}: <${Verdict} v=${x.replayed?.decision} /> ${Number(x.replayed?.riskScore).toFixed(3)}</p>
    <div class="table-wrap"><table><thead><tr><th>feature</th><th>value</th><th>weight</th><th>contribution</th></tr></thead><tbody>
      ${(x.contributions || []).map((c) => html`<tr><td>${c.feature}</td><td class="num">${Number(c.value).toFixed(3)}</td><td class="num">${c.weight}</td><td class="num">${Number(c.contribution).toFixed(3)}</td></tr>`)}
    </tbody></table></div>
    ${(x.hardRules || []).filter((r) => r.matched).map((r) => html`<p>hard rule <b>${r.id}</b> matched</p>`)}
  </div>`;
}

function Users({ userId, setUserId }) {
  const [query, setQuery] = useState(userId || '');
  const [state, setState] = useState({});
  const load = useCallback(async (id) => {
    if (!id) return;
    setState({ loading: true });
    try { setState({ user: await api(`/users/${encodeURIComponent(id)}`) }); } catch (error) { setState({ error }); }
  }, []);
  useEffect(() => { setQuery(userId || ''); load(userId); }, [userId]);
  const u = state.user;
  return html`<div>
    <section class="card"><h2>Find a user</h2>
      <form class="inline" role="search" onSubmit=${(e) => { e.preventDefault(); setUserId(query.trim()); load(query.trim()); }}>
        <input type="text" name="userId" aria-label="user id" placeholder="user id, e.g. u-1" value=${query} onInput=${(e) => setQuery(e.currentTarget.value)} />
        <button class="primary" type="submit">Search</button>
      </form>
      ${state.loading ? html`<p class="muted">loading…</p>` : null}
      <${ErrorLine} error=${state.error} />
    </section>
    ${u ? html`
      <div class="grid">
        <section class="card" data-testid="profile"><h2>Profile of ${u.userId}</h2>
          <dl class="kv">
            <dt>shard</dt><dd>${u.shard} <span class="muted">(from the ${u.source})</span></dd>
            <dt>events</dt><dd>${u.profile.eventCount} (login ${u.profile.loginCount}, payment ${u.profile.paymentCount}, transfer ${u.profile.transferCount}, other ${u.profile.otherCount})</dd>
            <dt>payments</dt><dd>${u.profile.totalPaymentAmount}</dd>
            <dt>transfers</dt><dd>${u.profile.totalTransferAmount}</dd>
            <dt>devices</dt><dd>${u.profile.devices.join(', ') || '—'}</dd>
            <dt>countries</dt><dd>${u.profile.countries.join(', ') || '—'}</dd>
            <dt>first / last</dt><dd>${fmtTime(u.profile.firstEventTime)} / ${fmtTime(u.profile.lastEventTime)}</dd>
          </dl>
        </section>
        <section class="card"><h2>Open window</h2>
          <dl class="kv"><dt>from</dt><dd>${fmtTime(u.window.windowStart)}</dd><dt>events</dt><dd>${u.window.eventCount}</dd><dt>max score</dt><dd>${u.window.maxRiskScore}</dd></dl>
        </section>
      </div>
      <section class="card" data-testid="decisions"><h2>Decisions (newest first)</h2>
        <div class="table-wrap"><table class="stack"><thead><tr><th>decided</th><th>event</th><th>verdict</th><th>score</th><th>reasons</th><th>rules</th><th></th></tr></thead><tbody>
          ${[...u.decisions].reverse().map((d) => html`<tr>
            <td>${fmtTime(d.decidedAt)}</td><td>${d.eventType} <span class="muted">${d.eventId}</span></td><td><${Verdict} v=${d.decision} /> <span class="muted narrow-only">${Number(d.riskScore).toFixed(3)}</span></td>
            <td class="num hide-narrow">${Number(d.riskScore).toFixed(3)}</td><td><${Reasons} reasons=${d.reasons} /></td><td class="hide-narrow">v${d.rulesVersion}</td><td><${Explain} decision=${d} /></td></tr>`)}
        </tbody></table></div>
      </section>
      <section class="card" data-testid="events"><h2>Recent events (newest first)</h2>
        <div class="table-wrap"><table><thead><tr><th>time</th><th>kind</th><th>amount</th><th>device</th><th>country</th><th class="hide-narrow">event</th></tr></thead><tbody>
          ${[...u.recentEvents].reverse().map((e) => html`<tr><td>${fmtTime(e.timestamp)}</td><td>${e.kind}${e.failedLogin ? ' (failed)' : ''}</td><td class="num">${e.amount ?? ''} ${e.currency ?? ''}</td><td>${e.deviceId ?? ''}</td><td>${e.country ?? ''}</td><td class="hide-narrow muted">${e.eventId}</td></tr>`)}
        </tbody></table></div>
      </section>` : null}
  </div>`;
}

/** Server-Sent Events over fetch: `onEvent(name, data)` per event; resolves when the stream ends. */
async function readStream(path, signal, onOpen, onEvent) {
  const res = await fetch(path, { headers: { accept: 'text/event-stream', ...headers() }, signal });
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, String(res.status), `the stream answered ${res.status}`);
  onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(event, data.join('\n'));
    }
  }
}

/** Follows BLOCK and CHALLENGE decisions from sign-in on, reconnecting after a drop. */
function useLiveFeed(enabled) {
  const [items, setItems] = useState([]);
  const [status, setStatus] = useState('connecting');
  useEffect(() => {
    if (!enabled) return undefined;
    const abort = new AbortController();
    let delay = 500;
    (async () => {
      while (!abort.signal.aborted) {
        try {
          await readStream('/decisions/stream?decision=BLOCK,CHALLENGE', abort.signal, () => { setStatus('live'); delay = 500; }, (event, data) => {
            if (event !== 'decision') return;
            const d = JSON.parse(data);
            setItems((old) => [d, ...old].slice(0, FEED_LIMIT));
          });
        } catch (err) {
          if (abort.signal.aborted) return;
          setStatus(err instanceof ApiError ? `unavailable (${err.status})` : 'reconnecting');
        }
        if (abort.signal.aborted) return;
        setStatus('reconnecting');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    })();
    return () => abort.abort();
  }, [enabled]);
  return { items, status };
}

function Live({ feed, openUser }) {
  return html`<section class="card"><h2>Live BLOCK / CHALLENGE <span class="muted" data-testid="feed-status">${feed.status}</span></h2>
    ${feed.items.length === 0 ? html`<p class="muted">No BLOCK or CHALLENGE since this page opened.</p>` : null}
    <ul class="feed" data-testid="feed">
      ${feed.items.map((d) => html`<li key=${d.eventId}>
        <${Verdict} v=${d.decision} /> <b>${d.eventType}</b> of <button class="link" onClick=${() => openUser(d.userId)}>${d.userId}</button>
        <span class="muted"> score ${Number(d.riskScore).toFixed(3)} · ${fmtTime(d.decidedAt)} · ${d.eventId}</span>
        <${Reasons} reasons=${d.reasons} />
      </li>`)}
    </ul>
  </section>`;
}

function Cluster() {
  const [state, setState] = useState({});
  useEffect(() => {
    let stop = false;
    const load = async () => {
      const [cluster, shards, ready] = await Promise.allSettled([api('/cluster'), api('/shards'), fetch('/readyz').then((r) => r.json())]);
      if (!stop) setState({ cluster: cluster.value, clusterError: cluster.reason, shards: shards.value, shardsError: shards.reason, ready: ready.value });
    };
    load();
    const timer = setInterval(load, 5000);
    return () => { stop = true; clearInterval(timer); };
  }, []);
  const c = state.cluster;
  const s = state.shards;
  const lag = s ? s.shards.reduce((sum, x) => sum + (x.lag ?? 0), 0) : null;
  const self = c?.instances.find((i) => i.self)?.instanceId;
  const totalLag = c ? c.shards.reduce((sum, x) => sum + (x.lag ?? 0), 0) : null;
  return html`<div>
    <section class="card" data-testid="readiness"><h2>Readiness <span class="muted">(this instance)</span></h2>
      ${state.ready ? html`<p class=${state.ready.status === 'ready' ? 'ok' : 'error'}>${state.ready.status}</p>
        ${(state.ready.reasons || []).length ? html`<ul>${state.ready.reasons.map((r) => html`<li>${r}</li>`)}</ul>` : null}` : html`<p class="muted">…</p>`}
    </section>
    <section class="card" data-testid="instances"><h2>Instances</h2>
      <${ErrorLine} error=${state.clusterError} />
      ${c ? html`<dl class="kv"><dt>consumer group</dt><dd>${c.groupId}</dd><dt>state</dt><dd>${c.state}</dd><dt>instances</dt><dd>${c.instances.length}</dd><dt>total lag</dt><dd>${totalLag}</dd></dl>
        <div class="table-wrap"><table><thead><tr><th>instance</th><th class="hide-narrow">host</th><th>shards</th></tr></thead><tbody>
          ${c.instances.map((i) => html`<tr class=${i.self ? 'self' : ''}><td>${i.instanceId}${i.self ? html` <span class="tag">this console</span>` : null}</td><td class="hide-narrow muted">${i.host}</td><td>${i.shards.length ? i.shards.join(', ') : html`<span class="muted">none (rebalancing?)</span>`}</td></tr>`)}
        </tbody></table></div>` : null}
    </section>
    <section class="card" data-testid="cluster-shards"><h2>Shards</h2>
      ${c ? html`<div class="table-wrap"><table><thead><tr><th>shard</th><th>owner</th><th>lag</th><th class="hide-narrow">committed offsets</th></tr></thead><tbody>
          ${c.shards.map((x) => html`<tr class=${x.owner !== null && x.owner === self ? 'self' : ''}><td class="num">${x.shard}</td><td>${x.owner ?? html`<span class="error">unowned</span>`}</td><td class="num">${x.lag ?? '?'}</td><td class="hide-narrow muted">${Object.entries(x.committed).map(([t, o]) => `${t}@${o}`).join(' ')}</td></tr>`)}
        </tbody></table></div>` : html`<p class="muted">${state.clusterError ? 'Not available.' : '…'}</p>`}
    </section>
    <section class="card" data-testid="shards"><h2>This instance</h2>
      <${ErrorLine} error=${state.shardsError} />
      ${s ? html`<dl class="kv"><dt>instance</dt><dd>${s.instanceId}</dd><dt>group generation</dt><dd>${s.generationId}</dd><dt>shards owned</dt><dd>${s.shards.length}</dd><dt>total lag</dt><dd>${lag}</dd></dl>
        <div class="table-wrap"><table><thead><tr><th>shard</th><th>live actors</th><th>lag</th></tr></thead><tbody>
          ${s.shards.map((x) => html`<tr><td class="num">${x.shard}</td><td class="num">${x.actors}</td><td class="num">${x.lag ?? '?'}</td></tr>`)}
        </tbody></table></div>` : null}
    </section>
  </div>`;
}

function RulesView({ rules }) {
  if (!rules) return null;
  return html`<div>
    <dl class="kv"><dt>version</dt><dd>${rules.rulesVersion}</dd><dt>model</dt><dd>${rules.modelVersion}</dd>
      <dt>thresholds</dt><dd>BLOCK above ${rules.thresholds.block}, CHALLENGE above ${rules.thresholds.challenge}</dd><dt>bias</dt><dd>${rules.bias}</dd></dl>
    <div class="grid">
      <div class="table-wrap"><table><thead><tr><th>feature</th><th>weight</th></tr></thead><tbody>
        ${Object.entries(rules.weights).map(([k, v]) => html`<tr><td>${k}</td><td class="num">${v}</td></tr>`)}</tbody></table></div>
      <div class="table-wrap"><table><thead><tr><th>hard rule</th><th>when</th><th>then</th></tr></thead><tbody>
        ${(rules.hardRules || []).map((r) => html`<tr><td>${r.id}</td><td><code>${JSON.stringify(r.when)}</code></td><td><${Verdict} v=${r.decision} /></td></tr>`)}</tbody></table></div>
    </div>
  </div>`;
}

function Rules() {
  const [state, setState] = useState({});
  const [version, setVersion] = useState('');
  const [old, setOld] = useState({});
  useEffect(() => {
    (async () => {
      const [current, report] = await Promise.allSettled([api('/rules'), api('/rules/shadow/report')]);
      setState({ current: current.value, error: current.reason, report: report.value, reportError: report.reason });
    })();
  }, []);
  const loadVersion = async (e) => {
    e.preventDefault();
    try { setOld({ rules: await api(`/rules/versions/${encodeURIComponent(version)}`) }); } catch (error) { setOld({ error }); }
  };
  const r = state.report;
  return html`<div>
    <section class="card" data-testid="rules"><h2>Rules in force</h2><${ErrorLine} error=${state.error} /><${RulesView} rules=${state.current} /></section>
    <section class="card"><h2>Earlier versions</h2>
      <form class="inline" onSubmit=${loadVersion}><input type="number" min="1" aria-label="rules version" value=${version} onInput=${(e) => setVersion(e.currentTarget.value)} /><button class="primary" type="submit">Show</button></form>
      <${ErrorLine} error=${old.error} /><${RulesView} rules=${old.rules} />
    </section>
    <section class="card"><h2>Shadow rules</h2>
      ${r ? html`<dl class="kv"><dt>shadow version</dt><dd>${r.shadowVersion}</dd><dt>since</dt><dd>${fmtTime(r.since)}</dd><dt>events</dt><dd>${r.events}</dd><dt>agree</dt><dd>${r.agree}</dd></dl>
        <div class="table-wrap"><table><thead><tr><th>live → shadow</th><th>events</th></tr></thead><tbody>
          ${Object.entries(r.disagreements || {}).map(([k, v]) => html`<tr><td>${k}</td><td class="num">${v}</td></tr>`)}</tbody></table></div>`
        : html`<p class="muted">${state.reportError?.status === 404 ? 'No shadow rules run.' : state.reportError ? `Not available (${state.reportError.message}).` : '…'}</p>`}
    </section>
  </div>`;
}

const TABS = [['users', 'Users'], ['live', 'Live'], ['cluster', 'Cluster'], ['rules', 'Rules']];

function App() {
  const [phase, setPhase] = useState('checking'); // checking | login | ready
  const [failed, setFailed] = useState(false);
  const [tab, setTab] = useState(() => (location.hash.slice(1) in Object.fromEntries(TABS) ? location.hash.slice(1) : 'users'));
  const [instance, setInstance] = useState('');
  const [userId, setUserId] = useState('');
  const feed = useLiveFeed(phase === 'ready');
  const phaseRef = useRef(phase);
  phaseRef.current = phase;
  onInstance = setInstance;
  onUnauthorized = () => {
    if (phaseRef.current === 'ready') { sessionStorage.removeItem(TOKEN_KEY); token = ''; setPhase('login'); }
  };
  const check = async () => {
    try {
      await api('/shards');
      setFailed(false);
      setPhase('ready');
    } catch (err) {
      if (err.status === 401) { setFailed(Boolean(token)); setPhase('login'); } else setPhase('ready');
    }
  };
  useEffect(() => { check(); }, []);
  useEffect(() => { location.hash = tab; }, [tab]);
  const openUser = (id) => { setUserId(id); setTab('users'); };
  return html`<div>
    <header><h1>risk-engine</h1><span class="instance" data-testid="instance">${instance}</span>
      ${phase === 'ready' ? html`<nav>${TABS.map(([id, label]) => html`<button aria-current=${tab === id ? 'page' : undefined} onClick=${() => setTab(id)}>${label}${id === 'live' && feed.items.length ? ` (${feed.items.length})` : ''}</button>`)}</nav>` : null}
    </header>
    <main>
      ${phase === 'checking' ? html`<p class="muted">connecting…</p>` : null}
      ${phase === 'login' ? html`<${Login} failed=${failed} onToken=${(t) => { token = t; sessionStorage.setItem(TOKEN_KEY, t); setPhase('checking'); check(); }} />` : null}
      ${phase === 'ready' && tab === 'users' ? html`<${Users} userId=${userId} setUserId=${setUserId} />` : null}
      ${phase === 'ready' && tab === 'live' ? html`<${Live} feed=${feed} openUser=${openUser} />` : null}
      ${phase === 'ready' && tab === 'cluster' ? html`<${Cluster} />` : null}
      ${phase === 'ready' && tab === 'rules' ? html`<${Rules} />` : null}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
