// `serve` and `-report` in a real browser (Debian's chromium driven by playwright-core): follow
// task -> step -> object -> lineage by clicking, watch a run move on the overview, open a report;
// hostile bytes and names stay text. Screenshots are left in a temp dir, whose path is printed.
/* global window -- page.evaluate runs these functions in the browser */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli, cliSpawn, exited, workspace } from './helpers.js';
import { CHROMIUM_ARGS, EVIL, EVIL_HASH, EVIL_NAME, findChromium, makeFixture, startServe } from './serve-fixture.js';

const CHROMIUM = findChromium();
const SKIP =
  CHROMIUM === null
    ? 'no chromium on PATH (apt-get install -y chromium): the browser tests need it; test/serve-http.test.js covers HTTP'
    : false;
const SHOTS = join(tmpdir(), 'task-pipeline-serve-screenshots');

let browser;
let fx;
let srv;
let problems;
before(async () => {
  if (SKIP) return;
  mkdirSync(SHOTS, { recursive: true });
  const { chromium } = await import('playwright-core');
  [browser, fx] = await Promise.all([
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
    Promise.resolve().then(makeFixture),
  ]);
  srv = await startServe(fx.db);
});
after(async () => {
  await browser?.close();
  await srv?.stop();
  fx?.cleanup();
});

/** A page that records every dialog (alert/confirm) and script error: none may happen. */
async function newPage(width = 1100, height = 760) {
  const page = await browser.newPage({ viewport: { width, height } });
  problems = [];
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function shot(page, name, t) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
}

test(
  'overview -> task -> step -> object -> lineage by clicking; hostile bytes and names stay inert text',
  { skip: SKIP, timeout: 60_000 },
  async (t) => {
    const page = await newPage();
    await page.goto(srv.url);
    const count = page.locator('svg.graph g.node[data-task="count"]');
    await count.locator('text', { hasText: 'done 4/4' }).waitFor();
    assert.match(await page.locator('svg.graph g.node[data-task="check"]').textContent(), /done 3\/4.*failed 1/);
    assert.match(await page.locator('svg.graph g.node[data-task="total"]').textContent(), /gather.*done 1\/1/);
    const run = await page.locator('#runs tbody tr').first().locator('td').allTextContents();
    assert.deepEqual(
      [run[0], run[3], run[4], run[5], run[6]],
      ['1', '1', '10', '0', '1'],
      'run 1: exit 1, 10 ran, 0 reused, 1 failed',
    );
    await shot(page, 'overview', t);

    await count.click();
    await page.waitForURL(/\/task\/count$/);
    await page.locator('#steps tbody tr').first().waitFor();
    assert.equal(await page.locator('#steps tbody tr').count(), 4);
    await page.getByRole('link', { name: 'done (4)' }).click();
    await page.waitForURL(/status=done/);
    // The step whose input is the markup object.
    const row = page.locator('#steps tbody tr', { has: page.locator(`a[title="${EVIL_HASH}"]`) });
    await row.locator('a.step-id').click();
    await page.waitForURL(/\/step\/\d+$/);
    await page.locator('#outputs').waitFor();
    assert.equal(await page.locator('#input-name').textContent(), 'part-aa');
    const evilRow = page.locator('#outputs tbody tr', { hasText: EVIL_NAME });
    assert.equal(await evilRow.locator('td').first().textContent(), EVIL_NAME, 'the name shows literally');
    await shot(page, 'step', t);

    await evilRow.locator('a.hash').click();
    await page.waitForURL(new RegExp(`/object/${EVIL_HASH}$`));
    await page.locator('#preview pre').waitFor();
    assert.equal(await page.locator('#preview pre').textContent(), EVIL, 'the bytes show as text');
    assert.match(await page.locator('ul.names').textContent(), /evil\.html.*part-aa.*<img src=x onerror=alert\(1\)>/s);
    // Nothing from the db became an element: only the view's own two scripts, no image at all.
    assert.equal(await page.locator('script').count(), 2);
    assert.equal(await page.locator('img').count(), 0);
    await shot(page, 'object', t);

    await page.getByRole('link', { name: 'lineage: where it came from' }).click();
    await page.waitForURL(new RegExp(`/lineage/${EVIL_HASH}$`));
    const tree = page.locator('#lineage');
    await tree.waitFor();
    const text = await tree.textContent();
    assert.match(text, /← count step #\d+/);
    assert.match(text, /← split step #\d+/);
    assert.match(text, /run input evil\.html/);
    await shot(page, 'lineage', t);
    // Folding a line hides what came before it.
    await tree.locator('summary').first().click();
    assert.equal(await tree.locator('details').first().getAttribute('open'), null);

    await page.fill('#search input', 'onerror');
    await page.click('#search button');
    await page.waitForURL(/\/search\?q=onerror/);
    await page.locator('table.outputs').waitFor();
    assert.equal(await page.locator('table.outputs tbody tr').count(), 4);
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(problems, []);
    await page.close();
  },
);

test(
  'the overview follows a run without a reload: done counts rise while it goes on',
  { skip: SKIP, timeout: 60_000 },
  async (t) => {
    const ws = workspace(t, 'tp-serve-live-');
    ws.write('m.toml', `[[task]]\nname = "slow"\nscript = 'sleep 0.3; cp "$INPUT_FILE" "$OUTPUT_DIR/out"'\n`);
    ws.write('first/a.txt', 'a\n');
    for (let i = 0; i < 24; i++) ws.write(`more/${i}.txt`, `${i}\n`);
    assert.equal(cli(['-manifest', ws.path('m.toml'), '-db', ws.db, '-input', ws.path('first'), '-quiet']).code, 0);
    const live = await startServe(ws.db);
    t.after(() => live.stop());
    const page = await newPage(900, 420);
    await page.goto(live.url);
    const node = page.locator('svg.graph g.node[data-task="slow"]');
    await node.locator('text', { hasText: 'done 1/1' }).waitFor();
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    const run = cliSpawn([
      '-manifest',
      ws.path('m.toml'),
      '-db',
      ws.db,
      '-input',
      ws.path('more'),
      '-parallel',
      '2',
      '-quiet',
    ]);
    const finished = exited(run);
    let done = false;
    void finished.then(() => (done = true));
    const seen = [];
    let midRun = false;
    for (const end = Date.now() + 45_000; Date.now() < end;) {
      const m = /done (\d+)\/(\d+)/.exec(await node.textContent());
      const value = m ? Number(m[1]) : null;
      if (value !== null && value !== seen[seen.length - 1]) {
        seen.push(value);
        if (value > 1 && value < 25 && !done) midRun = true;
        if (value === 5 || value === 13) await shot(page, `live-${value}`, t);
      }
      if (done && value === 25) break;
      await page.waitForTimeout(100);
    }
    assert.equal((await finished).code, 0);
    assert.equal(seen[seen.length - 1], 25, `the count reached 25/25 (seen: ${seen.join(' ')})`);
    assert.ok(
      midRun && seen.filter((v) => v > 1 && v < 25).length >= 2,
      `counts between 1 and 25 seen while the run went on: ${seen.join(' ')}`,
    );
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'never going back',
    );
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    assert.deepEqual(problems, []);
    await page.close();
  },
);

test(
  'a -report file opens from disk with its sections, and the failure log shows as text',
  { skip: SKIP, timeout: 30_000 },
  async (t) => {
    const page = await newPage(1000, 800);
    await page.goto(pathToFileURL(fx.report).href);
    const headings = await page.locator('h2').allTextContents();
    assert.deepEqual(headings, [
      'Summary',
      'Timeline',
      'Step durations per task',
      'CPU and peak memory per task',
      'Failures',
    ]);
    assert.match(await page.locator('#summary').textContent(), /exit code1 \(something failed\)/);
    assert.equal(await page.locator('#timeline svg rect').count(), 11, 'a bar per step of the run');
    assert.equal(await page.locator('#timeline svg rect.f').count(), 1, 'the failed one in red');
    assert.equal(await page.locator('#durations svg.hist').count(), 4);
    assert.equal(await page.locator('#failures pre').textContent(), `refusing markup:\n${EVIL}`);
    assert.equal(await page.locator('script').count(), 0);
    await shot(page, 'report', t);
    assert.deepEqual(problems, []);
    await page.close();
    writeFileSync(join(SHOTS, 'README.txt'), 'screenshots from test/serve.test.js (overwritten by each run)\n');
    console.log(`serve test screenshots: ${SHOTS}`);
  },
);
