// The run's heap limits (src/engine/heap-limits.ts): V8 reads them at each collection, so set while the
// process runs they must still hold its young generation near where it is (V8 may still take it up to its
// minimum capacity, one doubling from a fresh process's). Without them, this much allocation (a tenth of it
// surviving a while, as a run's step records do) grows it many times over, to 16 MB and more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { limitHeapGrowth } from '../dist/engine/heap-limits.js';

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;

function churn() {
  const kept = [];
  for (let i = 0; i < 3e6; i++) {
    const o = { i, name: `step-${i}` };
    if (i % 10 === 0) kept.push(o);
    if (kept.length > 20_000) kept.splice(0, 10_000);
  }
  return kept.length;
}

test('after limitHeapGrowth the young generation keeps its size under a run-like allocation rate', () => {
  limitHeapGrowth();
  const before = newSpace();
  churn();
  assert.ok(newSpace() <= 2 * before, `new space grew from ${before} to ${newSpace()} bytes`);
});

test('the same churn in a process without the limits grows the young generation (the test above can fail)', async () => {
  const { execFileSync } = await import('node:child_process');
  const script = `
    const { getHeapSpaceStatistics } = require('node:v8');
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const before = newSpace();
    (${churn.toString()})();
    console.log(JSON.stringify([before, newSpace()]));`;
  const [before, after] = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
  assert.ok(after > 4 * before, `new space grew only from ${before} to ${after} bytes`);
});
