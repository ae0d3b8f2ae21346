// The task graph, laid out by dagre (loaded as a global from /assets/dagre.min.js) and drawn as SVG.
import { href, s } from './dom.js';

const W = 200;
const H = 84;
const INPUTS = '\u0000inputs';

/** A key that changes only when the drawing must: the tasks and edges, not the counts. */
export function graphKey(o) {
  return JSON.stringify([
    o.tasks.map((t) => [t.name, t.isRoot, t.gather]),
    o.edges.map((e) => [e.from, e.to]),
    o.inputs.count > 0,
  ]);
}

/**
 * Draw the graph; returns the SVG and, per task name, the elements that `update` rewrites each
 * second (so a live run changes only text and bar widths, never the layout).
 */
export function drawGraph(o) {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 56, marginx: 8, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const withInputs = o.inputs.count > 0 && o.tasks.some((t) => t.isRoot);
  if (withInputs) g.setNode(INPUTS, { width: 130, height: 48 });
  for (const t of o.tasks) g.setNode(t.name, { width: W, height: H });
  if (withInputs) for (const t of o.tasks) if (t.isRoot) g.setEdge(INPUTS, t.name);
  // A task consuming its own outputs (a cycle) is drawn as a loop over its box, not routed by dagre.
  for (const e of o.edges) if (e.from !== e.to) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const { width, height } = g.graph();
  const svg = s(
    'svg',
    {
      class: 'graph',
      width: Math.ceil(width),
      height: Math.ceil(height),
      viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
      role: 'img',
      'aria-label': 'task graph',
    },
    s(
      'defs',
      {},
      s(
        'marker',
        {
          id: 'arrow',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
      ),
    ),
  );
  for (const e of g.edges()) {
    const pts = g.edge(e).points;
    svg.append(
      s('path', {
        class: 'edge',
        d: `M${pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' L')}`,
        'marker-end': 'url(#arrow)',
      }),
    );
  }
  for (const e of o.edges) {
    if (e.from !== e.to) continue;
    const n = g.node(e.from);
    const [ax, bx, y] = [n.x + W / 2 - 44, n.x + W / 2 - 14, n.y - H / 2];
    svg.append(
      s(
        'path',
        {
          class: 'edge loop',
          d: `M${ax},${y} C${ax},${y - 20} ${bx},${y - 20} ${bx},${y}`,
          'marker-end': 'url(#arrow)',
        },
        s('title', {}, `${e.from} consumes its own outputs`),
      ),
    );
  }
  const parts = new Map();
  if (withInputs) {
    const n = g.node(INPUTS);
    svg.append(
      s(
        'g',
        { class: 'node inputs', transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` },
        s('rect', { width: n.width, height: n.height, rx: 6 }),
        s('text', { x: 10, y: 20, class: 'name' }, 'run inputs'),
        s('text', { x: 10, y: 38, class: 'counts' }, `${o.inputs.count}${o.inputs.capped ? '+' : ''} current`),
      ),
    );
  }
  for (const t of o.tasks) {
    const n = g.node(t.name);
    const p = {
      line1: s('text', { x: 10, y: 44, class: 'counts' }),
      line2: s('text', { x: 10, y: 62, class: 'counts' }),
      done: s('rect', { x: 10, y: 70, height: 6, width: 0, class: 'bar-done' }),
      failed: s('rect', { x: 10, y: 70, height: 6, width: 0, class: 'bar-failed' }),
      group: null,
    };
    p.group = s(
      'g',
      { class: 'node', 'data-task': t.name, transform: `translate(${n.x - W / 2},${n.y - H / 2})` },
      s('rect', { width: W, height: H, rx: 6, class: 'box' }),
      s(
        'text',
        { x: 10, y: 22, class: 'name' },
        t.name,
        t.gather ? s('tspan', { class: 'tag', dx: 6 }, 'gather') : null,
      ),
      p.line1,
      p.line2,
      s('rect', { x: 10, y: 70, height: 6, width: W - 20, class: 'bar-bg' }),
      p.done,
      p.failed,
    );
    svg.append(
      s('a', { href: href.task(t.name), class: 'node-link' }, s('title', {}, `task ${t.name}: its steps`), p.group),
    );
    parts.set(t.name, p);
  }
  return { svg, parts };
}

/** Write a task's counts into its node: done/total, running, failed, merged, reused. */
export function updateNode(p, c) {
  if (!c) {
    p.line1.textContent = 'counting...';
    p.line2.textContent = '';
    return;
  }
  const total = c.pending + c.running + c.done + c.failed;
  const n = (v) => v.toLocaleString('en');
  p.line1.textContent = `done ${n(c.done)}/${n(total)}  running ${n(c.running)}`;
  // merged and reused are null on a big db (see live-counts.ts): not counted, so not shown.
  p.line2.textContent = `failed ${n(c.failed)}${c.merged === null ? '' : `  merged ${n(c.merged)}`}${c.reused === null ? '' : `  reused ${n(c.reused)}`}`;
  const span = W - 20;
  const dw = total === 0 ? 0 : (span * c.done) / total;
  p.done.setAttribute('width', dw.toFixed(1));
  p.failed.setAttribute('x', (10 + dw).toFixed(1));
  p.failed.setAttribute('width', total === 0 ? '0' : ((span * c.failed) / total).toFixed(1));
  p.group.classList.toggle('has-failed', c.failed > 0);
  p.group.classList.toggle('is-running', c.running > 0);
  p.group.classList.toggle('is-done', total > 0 && c.done === total);
}
