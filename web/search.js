// Search: a hash prefix, a step id, a run input's or an output's name.
import { badge, getJson, grid, h, hashLink, href, link, show, stepLink, formatBytes } from './dom.js';

export async function renderSearch(q) {
  const text = q.get('q') ?? '';
  const r = await getJson(`/api/search?${new URLSearchParams({ q: text })}`);
  document.title = `search ${text}`;
  const found = r.steps.length + r.objects.length + r.inputs.length + r.outputs.length;
  show(
    h('p', { class: 'crumbs' }, link('/', 'overview'), ' / search'),
    h('h1', {}, 'search ', h('span', { class: 'name' }, text)),
    text === '' ? h('p', { class: 'muted' }, 'type a hash prefix (4+ hex characters), a step id or a name') : null,
    text !== '' && found === 0 ? h('p', { class: 'muted', id: 'nothing' }, 'nothing found') : null,
    r.steps.length === 0
      ? null
      : [
          h('h2', {}, 'Step'),
          grid(['step', 'task', 'status', 'input'], r.steps, (s) => [
            stepLink(s.stepId),
            link(href.task(s.task), s.task),
            badge(s.status),
            h('span', { class: 'name' }, s.inputName),
          ]),
        ],
    r.objects.length === 0
      ? null
      : [
          h('h2', {}, 'Objects by hash prefix'),
          grid(['object', 'size'], r.objects, (o) => [hashLink(o.hash, 64), formatBytes(o.size)]),
        ],
    r.inputs.length === 0
      ? null
      : [
          h('h2', {}, 'Run inputs by name'),
          grid(['name', 'object', ''], r.inputs, (i) => [
            h('span', { class: 'name' }, i.name),
            hashLink(i.hash),
            i.current ? '' : 'history',
          ]),
        ],
    text === ''
      ? null
      : [
          h('h2', {}, 'Outputs by name'),
          h(
            'p',
            { class: 'muted' },
            `exact names first, then names that contain it; among the newest ${r.nameScan.toLocaleString()} outputs only (names have no index: the search is a bounded scan)`,
          ),
          r.outputs.length === 0
            ? h('p', { class: 'muted' }, 'none')
            : grid(
                ['name', 'object', 'step'],
                r.outputs,
                (o) => [h('span', { class: 'name' }, o.name), hashLink(o.hash), stepLink(o.stepId)],
                { class: 'grid outputs' },
              ),
          r.outputsCapped ? h('p', { class: 'muted' }, 'the first 50 shown') : null,
        ],
  );
}
