// The README cannot drift: every `$ command` in its sh blocks runs, in order, in a scratch copy of the
// repository's manifests, with `task-pipeline` on the PATH; its output (stdout and stderr, as a terminal
// shows them) is compared with the lines under it. Times and step ids (which depend on the order steps
// finish in) are normalised; everything else, hashes included, must match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT, workspace } from './helpers.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Each `$ command` of the sh blocks, with the output lines that follow it. */
function examples(text) {
  const out = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let current = null;
    for (const line of block[1].replace(/\n$/, '').split('\n')) {
      if (line.startsWith('$ ')) {
        current = { command: line.slice(2), expected: [] };
        out.push(current);
      } else if (current) {
        current.expected.push(line);
      }
    }
  }
  return out;
}

function normalise(text, dir) {
  return (
    text
      .split(`${dir}/`)
      .join('')
      .replace(/\b\d+(?:\.\d+)? (?:ms|s)\b/g, '<time>')
      .replace(/\b\d+m\d\ds\b/g, '<time>')
      .replace(/\bstep \d+/g, 'step <id>')
      // show's tables of steps: the id column.
      .replace(/^( +)\d+( +\S+ +[0-9a-f]{8} )/gm, '$1<id>$2')
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .replace(/\n+$/, '')
  );
}

test('the manifest the README shows is manifests/tour.toml', () => {
  const block = README.match(/`manifests\/tour\.toml`:\n\n```toml\n([\s\S]*?)```/);
  assert.ok(block, 'the README shows manifests/tour.toml');
  assert.ok(readFileSync(join(ROOT, 'manifests/tour.toml'), 'utf8').includes(block[1]), 'and it is the file');
});

test('every README example that shows output prints exactly that', (t) => {
  const ws = workspace(t, 'tp-readme-');
  cpSync(join(ROOT, 'manifests'), join(ws.dir, 'manifests'), { recursive: true });
  const bin = join(ws.dir, '.bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'task-pipeline'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'task-pipeline'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const all = examples(README);
  assert.ok(all.length >= 10, `README examples found: ${all.length}`);
  for (const ex of all) {
    const r = spawnSync('bash', ['-c', `${ex.command} 2>&1`], { cwd: ws.dir, env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `$ ${ex.command}\n${r.stdout}${r.stderr}`);
    assert.equal(normalise(r.stdout, ws.dir), normalise(ex.expected.join('\n'), ws.dir), `$ ${ex.command}`);
  }
});
