// An object: its names, the steps that made, read or logged it, its bytes; and its lineage tree.
import { badge, facts, formatBytes, getJson, grid, h, hashLink, href, link, preview, show, stepLink } from './dom.js';

export async function renderObject(ref) {
  const o = await getJson(`/api/object/${encodeURIComponent(ref)}`);
  if (o.hash !== ref) history.replaceState(null, '', href.object(o.hash));
  document.title = `object ${o.hash.slice(0, 12)}`;
  const names = [
    ...o.runInputs.map((r) =>
      h('li', {}, h('span', { class: 'name' }, r.name), h('span', { class: 'muted' }, ` run input (run ${r.runId})`)),
    ),
    ...[...new Set(o.producedBy.map((p) => p.name))].map((n) =>
      h('li', {}, h('span', { class: 'name' }, n), h('span', { class: 'muted' }, ' output')),
    ),
  ];
  show(
    h('p', { class: 'crumbs' }, link('/', 'overview'), ' / object'),
    h('h1', {}, 'object ', h('code', { class: 'hash' }, o.hash.slice(0, 12))),
    facts([
      ['hash', h('code', { id: 'full-hash' }, o.hash)],
      ['size', `${formatBytes(o.size)}${o.size >= 1024 ? ` (${o.size} bytes)` : ''}`],
      [
        'file',
        [
          h('code', {}, o.path),
          o.file === 'ok' ? '' : h('span', { class: 'error' }, ` ${o.file} (run task-pipeline fsck)`),
        ],
      ],
      [
        'registered',
        o.registered ? undefined : h('span', { class: 'error' }, 'no: a file in the store that no row names'),
      ],
      [
        'names',
        names.length === 0
          ? h('span', { class: 'muted' }, 'none: not a run input nor an output (a log or a gather listing?)')
          : h('ul', { class: 'names' }, names),
      ],
    ]),
    h(
      'p',
      { class: 'actions' },
      link(href.lineage(o.hash), 'lineage: where it came from'),
      ' \u00b7 ',
      link(href.raw(o.hash), 'download'),
      ' \u00b7 ',
      link(href.raw(o.hash, true), 'open as plain text'),
    ),
    usage('Produced by', o.producedBy, o.totals.producedBy, (p) => ['as ', h('span', { class: 'name' }, p.name)]),
    usage('Consumed by', o.consumedBy, o.totals.consumedBy, (c) => [
      'input ',
      h('span', { class: 'name' }, c.inputName === '' ? '(seed)' : c.inputName),
    ]),
    usage('Log of', o.logOf, o.totals.logOf, () => []),
    h('h2', {}, 'Content'),
    h('div', { id: 'preview' }, preview(o.preview, o.hash)),
  );
}

function usage(title, rows, total, extra) {
  const head = h(
    'h2',
    {},
    `${title}: ${total === 0 ? 'no step' : `${total}${total >= 10000 ? '+' : ''} step${total === 1 ? '' : 's'}`}`,
  );
  if (rows.length === 0) return head;
  return [
    head,
    grid(
      ['step', 'task', 'version', 'status', ''],
      rows,
      (r) => [
        stepLink(r.stepId),
        link(href.task(r.task), r.task),
        `${r.version.slice(0, 8)}${r.current ? '' : ' (old)'}`,
        badge(r.status),
        extra(r),
      ],
      { class: 'grid usage' },
    ),
    total > rows.length
      ? h('p', { class: 'muted' }, `${total - rows.length}${total >= 10000 ? '+' : ''} more not shown`)
      : null,
  ];
}

export async function renderLineage(ref, q) {
  const query = new URLSearchParams();
  for (const k of ['depth', 'width', 'limit']) if (q.get(k)) query.set(k, q.get(k));
  const l = await getJson(`/api/lineage/${encodeURIComponent(ref)}?${query}`);
  const hash = l.root.hash;
  if (hash !== ref) history.replaceState(null, '', `${href.lineage(hash)}${location.search}`);
  document.title = `lineage of ${hash.slice(0, 12)}`;
  const o = l.options;
  show(
    h(
      'p',
      { class: 'crumbs' },
      link('/', 'overview'),
      ' / ',
      link(href.object(hash), `object ${hash.slice(0, 12)}`),
      ' / lineage',
    ),
    h('h1', {}, 'lineage of ', h('code', { class: 'hash' }, hash.slice(0, 12))),
    h(
      'p',
      { class: 'muted' },
      'each object, the step that made it (\u2190), that step\u2019s inputs, and so on back to the run inputs; click a line to fold it',
    ),
    h('div', { class: 'tree', id: 'lineage' }, objectNode(l.root, 0)),
    l.truncated
      ? h(
          'p',
          { class: 'muted' },
          `cut short: at most ${o.depth} steps deep, ${o.width} wide, ${o.maxSteps} steps in all; `,
          link(
            `${href.lineage(hash)}?${new URLSearchParams({ depth: Math.min(o.depth * 2, 1000), width: Math.min(o.width * 2, 100), limit: Math.min(o.maxSteps * 2, 5000) })}`,
            'show more',
          ),
        )
      : null,
  );
}

function objectNode(o, depth) {
  const label = h(
    'span',
    { class: 'obj' },
    hashLink(o.hash),
    o.name === null ? null : h('span', { class: 'name' }, o.name === '' ? '(seed)' : o.name),
    o.size === null ? null : h('span', { class: 'muted' }, formatBytes(o.size)),
    o.runInputs.length > 0 ? h('span', { class: 'badge input' }, `run input ${o.runInputs.join(', ')}`) : null,
    o.seed ? h('span', { class: 'badge input' }, 'seed') : null,
  );
  const kids = [
    ...o.producers.map((p) => stepNode(p, depth + 1)),
    o.moreProducers > 0 ? h('li', { class: 'muted' }, `... and ${o.moreProducers} more producers`) : null,
  ].filter(Boolean);
  if (kids.length === 0) return h('div', { class: 'leaf' }, label);
  return h('details', { open: depth < 6 ? '' : null }, h('summary', {}, label), h('ul', {}, kids));
}

function stepNode(s, depth) {
  const label = h(
    'span',
    { class: 'step' },
    '\u2190 ',
    link(href.task(s.task), s.task),
    ' step ',
    stepLink(s.stepId),
    s.current ? null : h('span', { class: 'muted' }, ` old version ${s.version.slice(0, 8)}`),
    s.status === 'done' ? null : [' ', badge(s.status)],
    s.gather ? h('span', { class: 'muted' }, ` gather over ${s.gather.entries} objects`) : null,
    s.repeated ? h('span', { class: 'muted' }, ' (shown above)') : null,
  );
  const kids = [
    ...s.inputs.map((i) => h('li', {}, objectNode(i, depth + 1))),
    s.moreInputs > 0 ? h('li', { class: 'muted' }, `... and ${s.moreInputs} more inputs`) : null,
    s.cut === 'depth'
      ? h(
          'li',
          { class: 'muted' },
          'not followed (depth limit): its input is on ',
          link(href.step(s.stepId), `step ${s.stepId}`),
        )
      : null,
  ].filter(Boolean);
  return h(
    'li',
    {},
    kids.length === 0
      ? label
      : h('details', { open: depth < 6 ? '' : null }, h('summary', {}, label), h('ul', {}, kids)),
  );
}
