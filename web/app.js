// The router: every page is the same HTML; its path says what to draw.
import { h, show } from './dom.js';
import { renderLineage, renderObject } from './object.js';
import { renderOverview } from './overview.js';
import { renderSearch } from './search.js';
import { renderStep } from './step.js';
import { renderTask } from './task.js';

const routes = [
  [/^\/$/, () => renderOverview()],
  [/^\/task\/([^/]+)$/, (m, q) => renderTask(decodeURIComponent(m), q)],
  [/^\/step\/([^/]+)$/, (m) => renderStep(m)],
  [/^\/object\/([^/]+)$/, (m) => renderObject(m)],
  [/^\/lineage\/([^/]+)$/, (m, q) => renderLineage(m, q)],
  [/^\/search$/, (_m, q) => renderSearch(q)],
];

async function route() {
  const q = new URLSearchParams(location.search);
  const input = document.querySelector('#search input');
  if (input && q.has('q') && location.pathname === '/search') input.value = q.get('q');
  for (const [re, render] of routes) {
    const m = re.exec(location.pathname);
    if (!m) continue;
    try {
      await render(m[1], q);
    } catch (err) {
      show(h('h1', {}, err.status === 404 ? 'not found' : 'error'), h('p', { class: 'error' }, err.message));
    }
    return;
  }
  show(h('h1', {}, 'not found'));
}

route();
