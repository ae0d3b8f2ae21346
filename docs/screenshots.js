#!/usr/bin/env node
// node docs/screenshots.js: the README's pictures of `serve`, taken from the wordfreq demo by
// Debian's chromium (apt-get install -y chromium) through playwright-core. Writes docs/serve-*.png.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'tp-shots-'));
const db = join(work, 'db');
const run = spawnSync(process.execPath, [cli, '-manifest', join(root, 'manifests', 'wordfreq.toml'), '-db', db, '-input', join(root, 'manifests', 'corpus'), '-quiet'], { stdio: 'inherit' });
if (run.status !== 0) throw new Error(`the demo run exited ${run.status}`);
const top = spawnSync(process.execPath, [cli, 'ls', '-db', db, '-task', 'top'], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.startsWith('top.txt\t')).split('\t')[1];
const server = spawn(process.execPath, [cli, 'serve', '-db', db], { stdio: ['ignore', 'pipe', 'inherit'] });
const browser = await chromium.launch({
  executablePath: spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim(),
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
  const url = await new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (c) => {
      out += c;
      const m = /(http:\/\/\S+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  await page.goto(url);
  await page.locator('svg.graph g.node[data-task="top"] text', { hasText: 'done 1/1' }).waitFor();
  await page.screenshot({ path: join(root, 'docs', 'serve-overview.png') });
  await page.goto(`${url}lineage/${top}?width=3`);
  await page.locator('#lineage').waitFor();
  await page.screenshot({ path: join(root, 'docs', 'serve-lineage.png') });
  console.log('written: docs/serve-overview.png, docs/serve-lineage.png');
} finally {
  await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
