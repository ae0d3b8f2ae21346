// The overview: the task graph with each task's counts, the latest runs; polled every second,
// so a run going on is seen moving without a reload.
import { formatBytes, formatDuration, formatTime, getJson, grid, h, show } from './dom.js';
import { drawGraph, graphKey, updateNode } from './graph.js';

const POLL_MS = 1000;

export async function renderOverview() {
  const first = await getJson('/api/overview');
  document.title = `task-pipeline: ${first.db}`;
  document.getElementById('db').textContent = first.db;
  const graphBox = h('div', { class: 'graph-box', id: 'graph' });
  const asOf = h('p', { class: 'muted', id: 'as-of' });
  const runsBox = h('div', { id: 'runs' });
  const totals = h('p', { class: 'muted', id: 'totals' });
  show(h('h1', {}, 'Tasks'), graphBox, asOf, totals, h('h2', {}, 'Latest runs'), runsBox);
  let key = null;
  let parts = null;
  const apply = (o) => {
    const k = graphKey(o);
    if (k !== key) {
      key = k;
      if (o.tasks.length === 0) {
        graphBox.replaceChildren(h('p', { class: 'muted' }, 'no tasks yet: run a manifest on this db'));
        parts = new Map();
      } else {
        const drawn = drawGraph(o);
        graphBox.replaceChildren(drawn.svg);
        parts = drawn.parts;
      }
    }
    const st = o.status.status;
    const byName = new Map((st?.tasks ?? []).map((t) => [t.name, t]));
    for (const [name, p] of parts) updateNode(p, byName.get(name));
    asOf.replaceChildren(statusLine(o.status));
    totals.textContent = !st
      ? ''
      : st.exact
        ? `db: ${st.objects} objects, ${formatBytes(st.bytes)}; counts are of the current graph (as task-pipeline status prints them)`
        : 'a big db: counts are of every step of each current task version, history included; merged and reused items are left out ' +
          '(they take a walk of the whole graph: task-pipeline status counts them)';
    runsBox.replaceChildren(runsTable(o.runs));
  };
  apply(first);
  let timer = null;
  const tick = async () => {
    try {
      apply(await getJson('/api/overview'));
      asOf.classList.remove('error');
    } catch (err) {
      asOf.textContent = `cannot reach the server: ${err.message}`;
      asOf.classList.add('error');
    }
    timer = setTimeout(tick, POLL_MS);
  };
  timer = setTimeout(tick, POLL_MS);
  window.addEventListener('pagehide', () => clearTimeout(timer));
}

function statusLine(s) {
  if (s.error) return h('span', { class: 'error' }, `counts unavailable: ${s.error}`);
  if (!s.status) return 'counting the steps...';
  const when = new Date(s.asOf).toLocaleTimeString();
  return `counts as of ${when} (took ${formatDuration(s.tookMs)}${s.computing ? '; recounting' : ''}); updated every second while the db changes`;
}

function runsTable(runs) {
  if (runs.length === 0) return h('p', { class: 'muted' }, 'no run yet');
  return grid(
    ['run', 'started', 'took', 'exit', 'ran', 'reused', 'failed', 'objects added', 'engine peak RSS'],
    runs,
    (r) => {
      const sum = r.summary;
      const tasks = sum?.tasks ? Object.values(sum.tasks) : [];
      const add = (k) => tasks.reduce((n, t) => n + (t[k] ?? 0), 0);
      const running = r.finishedAt === null;
      return [
        String(r.id),
        formatTime(r.startedAt),
        running
          ? h('span', { class: 'badge running' }, 'running (or killed)')
          : formatDuration(r.finishedAt - r.startedAt),
        running ? '-' : h('span', { class: `badge ${r.exitCode === 0 ? 'done' : 'failed'}` }, String(r.exitCode)),
        sum ? String(add('ran')) : '-',
        sum ? String(add('reused')) : '-',
        sum ? String(sum.failures ?? add('failed')) : '-',
        sum ? `${sum.objectsAdded ?? 0} (${formatBytes(sum.bytesAdded ?? 0)})` : '-',
        sum?.maxRssKb ? formatBytes(sum.maxRssKb * 1024) : '-',
      ];
    },
    { class: 'grid runs' },
  );
}
