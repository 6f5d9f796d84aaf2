// The Insight grid's web UI: reads the manager's API (GET /ui/session, the server-sent
// overview of /v1/events) and acts with its POSTs, sending the session's CSRF token.
'use strict';

const ui = { session: null, overview: null, rate: null, lastOffsets: null, firstPaint: false, partitionCount: -1 };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v; else if (k === 'style') e.style.cssText = v; else if (k === 'text') e.textContent = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) e.append(c);
  return e;
}

function bytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
}
const num = (n) => (n === undefined || n === null ? '—' : n.toLocaleString('en'));
const ranges = (slots) => (slots || []).map(([a, b]) => (a === b ? String(a) : a + '-' + b)).join(', ') || '—';
const slotCount = (slots) => (slots || []).reduce((s, [a, b]) => s + b - a + 1, 0);

// apiError is the message of the manager's error envelope, or the HTTP status.
async function apiError(resp) {
  try { const b = await resp.json(); if (b && b.error && b.error.message) return b.error.message; } catch (_) { /* not JSON */ }
  return 'HTTP ' + resp.status + ' ' + resp.statusText;
}

async function post(path, body) {
  const headers = { 'X-Insight-CSRF': ui.session.csrf, Accept: 'application/json' };
  const init = { method: 'POST', headers, credentials: 'same-origin' };
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; init.body = body; }
  const resp = await fetch(path, init);
  if (!resp.ok) throw new Error(await apiError(resp));
  return resp.json();
}

// confirmAction shows the confirmation dialog and resolves true on Confirm.
function confirmAction(title, text) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  d.returnValue = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

function setLive(text, down) {
  const l = document.getElementById('live');
  l.textContent = text;
  l.classList.toggle('down', !!down);
}

function banner(text) {
  const b = document.getElementById('banner');
  b.textContent = text || '';
  b.hidden = !text;
}

// --- pages -------------------------------------------------------------------------

function showPage() {
  const page = (location.hash || '#overview').slice(1);
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.dataset.page !== page;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function card(dl, label, value, cls, id) {
  dl.append(el('div', {}, el('dt', { text: label }), el('dd', { text: value, class: cls, 'data-card': id })));
}

function renderOverview(o) {
  const dl = document.getElementById('cards');
  dl.replaceChildren();
  const crit = o.alerts.filter((a) => a.severity === 'critical').length;
  const health = crit ? 'critical' : o.alerts.length ? 'degraded' : 'healthy';
  card(dl, 'Health', health, crit ? 'critical' : o.alerts.length ? 'warning' : 'ok', 'health');
  card(dl, 'Partitions', String(o.partitions.length), '', 'partitions');
  card(dl, 'HA', o.cluster.ha ? 'on' : 'off', '', 'ha');
  let keys = 0, mem = 0;
  for (const p of o.partitions) for (const i of p.instances) { if (i.role === 'primary') keys += i.keys || 0; mem += i.usedMemoryBytes || 0; }
  card(dl, 'Keys', num(keys), '', 'keys');
  card(dl, 'Memory (all copies)', bytes(mem), '', 'memory');
  card(dl, 'Writes/s', ui.rate === null ? '—' : num(Math.round(ui.rate)), '', 'ops');
  const leader = (o.cluster.managers || []).find((m) => m.leader);
  card(dl, 'Managers', String((o.cluster.managers || []).length), '', 'managers');
  card(dl, 'etcd leader', leader ? leader.name : 'none', leader ? '' : 'critical', 'leader');
  card(dl, 'etcd', o.cluster.etcd && o.cluster.etcd.quorum ? 'quorum' : 'no quorum', o.cluster.etcd && o.cluster.etcd.quorum ? 'ok' : 'critical', 'etcd');
  card(dl, 'Version', o.cluster.version || '—', '', 'version');
  const ul = document.getElementById('alerts');
  ul.replaceChildren(...(o.alerts.length ? o.alerts.map((a) => el('li', { class: a.severity },
    el('strong', { text: a.severity + ': ' }), a.subject + ': ' + a.message)) : [el('li', { class: 'ok', text: 'No alerts.' })]));
}

function actionButton(label, p, op) {
  return el('button', { type: 'button', 'data-op': op, 'data-partition': p.id, 'aria-label': label + ' partition ' + p.id, text: label,
    onclick: () => switchPartition(p, op) });
}

async function switchPartition(p, op) {
  const what = op === 'failover'
    ? 'Switch partition ' + p.id + ' over from ' + p.primary + ' to its backup ' + (p.backup || '(none)') + '? Writes pause for the handover.'
    : 'Hand partition ' + p.id + ' back to its preferred primary ' + p.preferredPrimary + '?';
  if (!(await confirmAction(op === 'failover' ? 'Planned failover' : 'Failback', what))) return;
  try {
    const r = await post('/v1/partitions/' + p.id + '/' + op);
    banner(r.unchanged ? 'Partition ' + r.partition + ': ' + r.primary + ' is already the primary.' : 'Partition ' + r.partition + ': ' + r.from + ' → ' + r.to + ', epoch ' + r.epoch + '.');
  } catch (e) {
    banner(op + ' of partition ' + p.id + ' refused: ' + e.message);
  }
}

// placeCell is a partition's Node or Zone cell: the primary's on the first line, the
// backup's (muted) under it; at(i) is the instance's node or zone, '—' when not known.
function placeCell(col, p, prim, back, at) {
  const line = (role, id, i) => {
    const v = (i && at(i)) || '—';
    return el('span', { 'data-role': role, title: role + ' ' + id + ': ' + v, text: v });
  };
  return el('td', { class: 'pair', 'data-col': col }, line('primary', p.primary, prim), p.backup ? line('backup', p.backup, back) : '');
}

function renderPartitions(o) {
  const tbody = document.querySelector('#partitions tbody');
  const old = new Map([...tbody.rows].map((r) => [r.dataset.partition, r.dataset.primary]));
  const rows = o.partitions.map((p) => {
    const prim = p.instances.find((i) => i.id === p.primary) || {};
    const back = p.instances.find((i) => i.id === p.backup);
    const inSync = p.backup ? (p.inSync ? 'yes' : 'no') : '—';
    const tr = el('tr', { 'data-partition': p.id, 'data-primary': p.primary },
      el('th', { scope: 'row', text: String(p.id) }),
      el('td', { class: prim.ready ? '' : 'critical', 'data-col': 'primary', text: p.primary + (prim.ready ? '' : ' (not ready)') }),
      el('td', { class: back && !back.ready ? 'warning' : '', 'data-col': 'backup', text: p.backup ? p.backup + (back && back.ready ? '' : ' (not ready)') : '—' }),
      placeCell('node', p, prim, back, (i) => i.node || i.address),
      placeCell('zone', p, prim, back, (i) => i.zone),
      el('td', { class: p.backup && !p.inSync ? 'warning' : '', 'data-col': 'inSync', text: inSync }),
      el('td', { class: 'num', 'data-col': 'lag', text: num(prim.lagOps) }),
      el('td', { class: 'num', 'data-col': 'keys', text: num(prim.keys) }),
      el('td', { class: 'num', 'data-col': 'memory', text: bytes(prim.usedMemoryBytes) }),
      el('td', { 'data-col': 'slots', title: slotCount(p.slots) + ' slots', text: ranges(p.slots) }),
      el('td', { class: 'num', 'data-col': 'epoch', text: String(p.epoch) }),
      el('td', { class: 'act' },
        p.backup ? actionButton('Fail over', p, 'failover') : '',
        p.preferredPrimary && p.preferredPrimary !== p.primary ? actionButton('Fail back', p, 'failback') : ''));
    if (old.has(String(p.id)) && old.get(String(p.id)) !== p.primary) tr.classList.add('changed');
    return tr;
  });
  // Keep the focused button's place across a refresh.
  const f = document.activeElement;
  const focus = f && f.dataset && f.dataset.op ? [f.dataset.op, f.dataset.partition] : null;
  tbody.replaceChildren(...rows);
  if (focus) { const b = tbody.querySelector('button[data-op="' + focus[0] + '"][data-partition="' + focus[1] + '"]'); if (b) b.focus(); }
}

function hue(i, n) { return 'hsl(' + Math.round((i * 360) / Math.max(n, 1) * 7 % 360) + ' 65% 50%)'; }

function renderSlots(o) {
  const c = document.getElementById('slotmap');
  const g = c.getContext('2d');
  const n = o.partitions.length;
  const cell = c.width / 128;
  g.clearRect(0, 0, c.width, c.height);
  const legend = [];
  for (const p of o.partitions) {
    g.fillStyle = hue(p.id, n);
    for (const [a, b] of p.slots) for (let s = a; s <= b; s++) g.fillRect((s % 128) * cell, Math.floor(s / 128) * cell, cell, cell);
    legend.push(el('li', {}, el('span', { style: 'background:' + hue(p.id, n) }), 'partition ' + p.id + ': ' + ranges(p.slots)));
  }
  c.setAttribute('aria-label', 'Slot map: ' + n + ' partitions own the 16384 slots; the list below names each partition\'s ranges');
  document.getElementById('legend').replaceChildren(...legend);
}

function renderRepartition(o) {
  const r = o.repartition;
  const dl = document.getElementById('repart');
  dl.replaceChildren();
  if (!r) { card(dl, 'State', 'unknown'); return; }
  card(dl, 'State', r.state, r.state === 'idle' ? 'ok' : 'warning', 'state');
  card(dl, 'Partitions', String(r.partitions), '', 'rp-partitions');
  card(dl, 'Target', r.target ? String(r.target) : '—', '', 'target');
  card(dl, 'Slots to move', num(r.slotsRemaining), '', 'remaining');
  card(dl, 'Rate per source', r.rateBytesPerSecond ? bytes(r.rateBytesPerSecond) + '/s' : 'no limit', '', 'rate');
  const moves = document.getElementById('moves');
  const list = (r.moves || []).map((m) => el('li', { text: 'slots ' + ranges(m.slots) + ': partition ' + m.from + ' → ' + m.to + ' (' + m.state + ')' }));
  moves.replaceChildren(el('p', { text: r.message || '' }), ...(list.length ? [el('ul', {}, ...list)] : []));
}

// secs shows a duration in seconds: 0.4 s, 12 s, 3 min 5 s.
function secs(s) {
  if (s < 10) return s.toFixed(1) + ' s';
  if (s < 60) return Math.round(s) + ' s';
  return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}

// renderWAN shows a WAN site's replication per target site; the page and its nav entry
// exist only when the overview has a wan section (the manager's --wan-site).
function renderWAN(o) {
  const w = o.wan;
  document.getElementById('nav-wan').hidden = !w;
  if (!w) {
    if (location.hash === '#wan') location.hash = '#overview';
    return;
  }
  document.getElementById('wan-site').textContent = 'This grid is the site ' + w.site + '. It replicates its writes to ' +
    (w.targets.length ? w.targets.length + (w.targets.length === 1 ? ' site' : ' sites') : 'no site its primaries know of yet') + '.';
  const blocks = w.targets.map((t) => {
    const dl = el('dl', { class: 'cards' });
    card(dl, 'Backlog (keys)', num(t.backlog), t.backlog ? 'warning' : 'ok', 'wan-backlog');
    card(dl, 'Lag', t.backlog ? (t.lastAck ? secs(t.lagSeconds) : 'nothing acknowledged yet') : 'none', t.backlog ? 'warning' : 'ok', 'wan-lag');
    card(dl, 'Last acknowledged', t.lastAck ? new Date(t.lastAck).toLocaleTimeString('en-GB') : 'never', '', 'wan-lastack');
    const oos = t.outOfSyncPartitions.length;
    card(dl, 'Partitions in sync', (t.partitions.length - oos) + ' of ' + t.partitions.length, oos ? 'critical' : 'ok', 'wan-insync');
    const rows = t.partitions.map((r) => el('tr', { 'data-partition': r.partition },
      el('th', { scope: 'row', text: String(r.partition) }),
      el('td', { 'data-col': 'primary', text: r.primary }),
      el('td', { class: 'num' + (r.backlog ? ' warning' : ''), 'data-col': 'backlog', text: num(r.backlog) }),
      el('td', { class: 'num', 'data-col': 'lag', text: r.backlog && r.lastAck ? secs(r.lagSeconds) : '—' }),
      el('td', { 'data-col': 'lastAck', title: r.lastAck || '', text: r.lastAck ? new Date(r.lastAck).toLocaleTimeString('en-GB') : 'never' }),
      el('td', { class: r.outOfSync ? 'critical' : 'ok', 'data-col': 'sync', text: r.outOfSync ? 'out of sync (resynchronizing)' : 'in sync' })));
    const hid = 'h-wan-' + t.site;
    return el('section', { class: 'wan-target', 'data-site': t.site, 'aria-labelledby': hid },
      el('h3', { id: hid, text: 'To ' + t.site }), dl,
      el('div', { class: 'scroll' }, el('table', { 'data-site': t.site },
        el('caption', { class: 'sr', text: 'Replication of every partition to the site ' + t.site }),
        el('thead', {}, el('tr', {}, ...['Partition', 'Primary', 'Backlog (keys)', 'Lag', 'Last acknowledged', 'State'].map((h, i) => el('th', { scope: 'col', class: i === 2 || i === 3 ? 'num' : '', text: h })))),
        el('tbody', {}, ...rows))));
  });
  document.getElementById('wan-targets').replaceChildren(...blocks);
  const un = w.unanswered || [];
  document.getElementById('wan-unanswered').replaceChildren(...(un.length ? [el('h3', { text: 'Partitions without WAN status' }),
    el('ul', { class: 'alerts' }, ...un.map((u) => el('li', { class: 'warning', 'data-partition': u.partition, text: 'partition ' + u.partition + ': ' + u.error })))] : []));
}

function render(o) {
  const t0 = performance.now();
  // Writes per second: the primaries' replication offsets between two overviews.
  let sum = 0;
  for (const p of o.partitions) for (const i of p.instances) if (i.role === 'primary') sum += i.offset || 0;
  const at = Date.parse(o.time);
  if (ui.lastOffsets && at > ui.lastOffsets.at && sum >= ui.lastOffsets.sum) ui.rate = ((sum - ui.lastOffsets.sum) * 1000) / (at - ui.lastOffsets.at);
  ui.lastOffsets = { sum, at };
  ui.overview = o;
  document.body.classList.toggle('readonly', o.readOnly || !ui.session || !ui.session.authenticated || ui.session.readOnly);
  renderOverview(o);
  renderPartitions(o);
  if (ui.partitionCount !== o.partitions.length || !document.getElementById('page-slots').hidden) renderSlots(o);
  ui.partitionCount = o.partitions.length;
  renderRepartition(o);
  renderWAN(o);
  setLive('live · ' + new Date(at).toLocaleTimeString('en-GB'));
  document.body.dataset.updated = o.time;
  if (!ui.firstPaint) {
    ui.firstPaint = true;
    performance.mark('insight-first-overview');
    document.body.dataset.firstPaintMs = String(Math.round(performance.now()));
  }
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
}

// --- key browser (read-only) ----------------------------------------------------------

const scan = { pattern: '*', cursor: '0' };

async function scanKeys(more) {
  const err = document.getElementById('scan-error');
  const list = document.getElementById('keylist');
  err.textContent = '';
  if (!more) { scan.pattern = document.getElementById('scan-pattern').value; scan.cursor = '0'; list.replaceChildren(); }
  try {
    const r = await post('/v1/keys/scan', JSON.stringify({ pattern: scan.pattern, cursor: scan.cursor, count: 100 }));
    for (const k of r.keys) {
      list.append(el('li', {}, el('button', { type: 'button', 'data-key': k.key, text: k.key, onclick: () => showKey(k.key) })));
    }
    scan.cursor = r.cursor;
    document.getElementById('scan-more').hidden = r.cursor === '0';
    if (!more && r.keys.length === 0 && r.cursor === '0') list.append(el('li', { text: 'No key matches ' + scan.pattern + '.' }));
  } catch (e) { err.textContent = e.message; }
}

async function showKey(key) {
  const out = document.getElementById('keyvalue');
  try {
    const v = await post('/v1/keys/get', JSON.stringify({ key }));
    const ttl = v.ttlMillis >= 0 ? (v.ttlMillis / 1000).toFixed(1) + ' s' : v.ttlMillis === -1 ? 'none' : 'gone';
    const head = el('dl', { class: 'cards' });
    card(head, 'Type', v.type, '', 'type');
    card(head, 'Partition', String(v.partition), '', 'key-partition');
    card(head, 'TTL', ttl, '', 'ttl');
    card(head, v.type === 'string' ? 'Bytes' : 'Elements', num(v.length), '', 'length');
    let body;
    if (v.string !== undefined) body = el('pre', { 'data-value': 'string', text: v.string });
    else if (v.items) body = el('table', {}, el('tbody', {}, ...v.items.map((row) => el('tr', {}, ...row.map((c) => el('td', { text: c }))))));
    else body = el('p', { text: v.type === 'none' ? 'The key does not exist (any more).' : 'The browser does not show values of type ' + v.type + '.' });
    out.replaceChildren(el('h3', { text: key }), head, body, v.truncated ? el('p', { text: 'Shown in part: the value is larger than the browser reads.' }) : '');
  } catch (e) { out.replaceChildren(el('p', { class: 'error', role: 'alert', text: e.message })); }
}

function connect() {
  const es = new EventSource('/v1/events');
  es.addEventListener('overview', (e) => render(JSON.parse(e.data)));
  es.addEventListener('problem', (e) => setLive('manager: ' + JSON.parse(e.data).message, true));
  es.onerror = () => setLive('disconnected, reconnecting…', true);
}

async function start() {
  window.addEventListener('hashchange', () => { showPage(); if (ui.overview) renderSlots(ui.overview); });
  showPage();
  try {
    const r = await fetch('/ui/session', { credentials: 'same-origin' });
    ui.session = r.ok ? await r.json() : { authenticated: false };
  } catch (_) { ui.session = { authenticated: false }; }
  if (ui.session.readOnly) banner('Read-only: this UI offers no action (manager.ui.readOnly).');
  else if (!ui.session.authenticated) banner('Not signed in: this view is read-only. Open the login URL insight-grid local prints, or run insightctl ui.');
  document.body.classList.toggle('readonly', !ui.session.authenticated || ui.session.readOnly);
  document.body.classList.toggle('signedin', !!ui.session.authenticated);
  document.getElementById('scan-form').addEventListener('submit', (e) => { e.preventDefault(); scanKeys(false); });
  document.getElementById('scan-more').addEventListener('click', () => scanKeys(true));
  document.getElementById('repart-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = document.getElementById('repart-error');
    const raw = document.getElementById('repart-n').value.trim();
    out.textContent = '';
    if (!(await confirmAction('Re-partition', 'Re-partition the grid from ' + ui.partitionCount + ' to ' + (raw || '(empty)') + ' partitions? Slots move while clients keep working.'))) return;
    // The manager checks the count: anything typed is sent, and its refusal shown.
    const body = /^-?\d+$/.test(raw) ? '{"partitions":' + Number(raw) + '}' : JSON.stringify({ partitions: raw });
    try {
      const r = await post('/v1/repartition', body);
      banner('Re-partitioning: ' + r.state + (r.target ? ' to ' + r.target + ' partitions' : '') + '.');
    } catch (err) {
      out.textContent = err.message;
      document.getElementById('repart-n').setAttribute('aria-invalid', 'true');
    }
  });
  connect();
}

start();
