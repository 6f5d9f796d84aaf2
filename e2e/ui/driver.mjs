// The browser side of grid/itest TestWebUI: a thin driver of Debian's chromium through
// playwright-core. It reads one JSON command per line on stdin and answers one JSON line
// on stdout ({"ok": true, ...} or {"ok": false, "error": "..."}); the Go test decides
// what is right. Environment: CHROMIUM (the browser's path), UI_MODULES (the directory
// ci/clients.sh installed playwright-core into, with its node_modules).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import readline from 'node:readline';

const { chromium } = createRequire(join(process.env.UI_MODULES || process.cwd(), 'package.json'))('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  // playwright gives every launch a fresh, temporary --user-data-dir of its own.
});
let context = null;
let page = null;

// open starts a fresh context (no cookie) of the given size and loads url.
async function open({ url, width = 1280, height = 800 }) {
  if (context) await context.close();
  context = await browser.newContext({ viewport: { width, height } });
  page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.__errors = errors;
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.firstPaintMs !== undefined, null, { timeout: 15000 });
  // Every change of a row's primary, with the wall-clock time it appeared in the page.
  await page.evaluate(() => {
    window.__primaryChanges = [];
    const seen = new Map();
    const record = () => {
      for (const r of document.querySelectorAll('#partitions tbody tr')) {
        const p = r.dataset.partition, v = r.dataset.primary;
        if (seen.has(p) && seen.get(p) !== v) window.__primaryChanges.push({ partition: Number(p), primary: v, at: Date.now() });
        seen.set(p, v);
      }
    };
    record();
    new MutationObserver(record).observe(document.querySelector('#partitions tbody'), { childList: true, subtree: true, attributes: true });
  });
  return { firstPaintMs: Number(await page.evaluate(() => document.body.dataset.firstPaintMs)), url: page.url() };
}

const commands = {
  open,
  async goto({ hash }) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForFunction((h) => !document.querySelector('section[data-page="' + h + '"]').hidden, hash);
    return {};
  },
  async rows() {
    const rows = await page.$$eval('#partitions tbody tr', (trs) => trs.map((r) => ({
      partition: Number(r.dataset.partition),
      primary: r.dataset.primary,
      backup: r.querySelector('[data-col="backup"]').textContent,
      node: [...r.querySelectorAll('[data-col="node"] span')].map((s) => s.textContent),
      zone: [...r.querySelectorAll('[data-col="zone"] span')].map((s) => s.textContent),
      inSync: r.querySelector('[data-col="inSync"]').textContent,
      epoch: Number(r.querySelector('[data-col="epoch"]').textContent),
      slots: r.querySelector('[data-col="slots"]').textContent,
    })));
    return { rows };
  },
  async waitPrimary({ partition, not, timeoutMs }) {
    await page.waitForFunction(([p, old]) => (window.__primaryChanges || []).some((c) => c.partition === p && c.primary !== old),
      [partition, not], { timeout: timeoutMs, polling: 20 });
    const c = await page.evaluate(([p, old]) => window.__primaryChanges.find((x) => x.partition === p && x.primary !== old), [partition, not]);
    return { primary: c.primary, at: c.at };
  },
  async actions() {
    const n = await page.locator('button[data-op]:visible').count();
    const form = await page.locator('#repart-form').isVisible();
    return { visibleButtons: n, repartitionForm: form, banner: await page.locator('#banner').textContent() };
  },
  async click({ op, partition }) {
    await page.locator('button[data-op="' + op + '"][data-partition="' + partition + '"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    const text = await page.locator('#confirm-text').textContent();
    await page.locator('#confirm-ok').click();
    return { confirm: text };
  },
  async repartition({ value }) {
    await page.fill('#repart-n', value);
    await page.locator('#repart-form button[type="submit"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.locator('#confirm-ok').click();
    await page.waitForFunction(() => document.getElementById('repart-error').textContent !== '', null, { timeout: 5000 });
    return { error: await page.locator('#repart-error').textContent() };
  },
  async scanKeys({ pattern }) {
    await page.fill('#scan-pattern', pattern);
    await page.locator('#scan-form button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelectorAll('#keylist li').length > 0 || document.getElementById('scan-error').textContent !== '', null, { timeout: 10000 });
    return { keys: await page.$$eval('#keylist button[data-key]', (bs) => bs.map((b) => b.dataset.key)), error: await page.locator('#scan-error').textContent() };
  },
  async showKey({ key }) {
    await page.locator('#keylist button[data-key="' + key + '"]').click();
    await page.waitForFunction((k) => { const h = document.querySelector('#keyvalue h3, #keyvalue .error'); return h && (h.textContent === k || h.classList.contains('error')); }, key, { timeout: 10000 });
    return {
      type: await page.locator('#keyvalue [data-card="type"]').textContent().catch(() => ''),
      text: await page.locator('#keyvalue').innerText(),
    };
  },
  // wan reads the WAN sites page: whether its nav entry shows, and per target site the
  // cards and the partitions' rows; overflow says the page is wider than the window.
  async wan() {
    return page.evaluate(() => {
      const digits = (s) => Number((s || '').replace(/[^0-9]/g, '')) || 0;
      const text = (root, sel) => { const e = root.querySelector(sel); return e ? e.textContent : ''; };
      return {
        nav: !document.getElementById('nav-wan').hidden,
        site: document.getElementById('wan-site').textContent,
        updated: document.body.dataset.updated || '',
        overflow: document.documentElement.scrollWidth > window.innerWidth,
        targets: [...document.querySelectorAll('#wan-targets section[data-site]')].map((s) => ({
          site: s.dataset.site,
          backlog: digits(text(s, '[data-card="wan-backlog"]')),
          lag: text(s, '[data-card="wan-lag"]'),
          lastAck: text(s, '[data-card="wan-lastack"]'),
          inSync: text(s, '[data-card="wan-insync"]'),
          rows: [...s.querySelectorAll('tbody tr')].map((r) => ({
            partition: Number(r.dataset.partition),
            backlog: digits(text(r, '[data-col="backlog"]')),
            sync: text(r, '[data-col="sync"]'),
            lastAck: text(r, '[data-col="lastAck"]'),
          })),
        })),
        unanswered: [...document.querySelectorAll('#wan-unanswered li')].map((l) => l.textContent),
      };
    });
  },
  async banner() { return { banner: await page.locator('#banner').textContent() }; },
  async screenshot({ path, fullPage = true }) {
    await page.screenshot({ path, fullPage });
    return {};
  },
  async errors() { return { errors: page.__errors }; },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let out;
  try {
    const cmd = JSON.parse(line);
    out = { ok: true, ...(await commands[cmd.cmd](cmd)) };
  } catch (e) {
    out = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
await browser.close();
