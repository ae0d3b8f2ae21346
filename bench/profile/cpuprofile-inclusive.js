#!/usr/bin/env node
// Inclusive time per function of a `node --cpu-prof` profile (itself and what it calls), largest first.
// usage: node bench/profile/cpuprofile-inclusive.js FILE.cpuprofile [ROWS]
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const keyOf = (n) =>
  `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
const incl = new Map();
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const t = p.timeDeltas[i] ?? 0;
  total += t;
  // Each function counted once per sample, however deep it recurses.
  const seen = new Set();
  for (let id = p.samples[i]; id !== undefined; id = parent.get(id)) seen.add(keyOf(byId.get(id)));
  for (const k of seen) incl.set(k, (incl.get(k) ?? 0) + t);
}
console.log('total ms', (total / 1000).toFixed(0));
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 50))) {
  console.log((t / 1000).toFixed(0).padStart(7), ((100 * t) / total).toFixed(1).padStart(5) + '%', k);
}
