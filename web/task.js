// A task: its steps (a keyset page at a time, by status), its versions and what changed between them.
import {
  badge,
  facts,
  formatDuration,
  formatTime,
  getJson,
  grid,
  h,
  hashLink,
  href,
  link,
  show,
  stepLink,
} from './dom.js';

const FILTERS = ['all', 'pending', 'running', 'done', 'failed'];

export async function renderTask(name, q) {
  const status = FILTERS.includes(q.get('status')) ? q.get('status') : 'all';
  const version = q.get('version');
  const cursor = q.get('before') ? { before: q.get('before') } : q.get('after') ? { after: q.get('after') } : {};
  const stepsQuery = new URLSearchParams({ status, ...(version ? { version } : {}), ...cursor });
  const [t, page] = await Promise.all([
    getJson(`/api/task/${encodeURIComponent(name)}`),
    getJson(`/api/task/${encodeURIComponent(name)}/steps?${stepsQuery}`),
  ]);
  document.title = `task ${name}`;
  const shown = t.versions.find((v) => v.taskId === page.taskId);
  const keep = (extra) => ({ ...(version ? { version } : {}), ...extra });
  show(
    h('p', { class: 'crumbs' }, link('/', 'overview'), ' / task'),
    h(
      'h1',
      {},
      'task ',
      h('span', { class: 'name' }, name),
      t.current ? null : h('span', { class: 'badge old' }, 'not in the latest manifest'),
    ),
    specFacts(t, shown),
    h('h2', {}, 'Steps', shown && !shown.current ? ` of old version ${shown.version.slice(0, 8)}` : ''),
    h(
      'nav',
      { class: 'filters' },
      FILTERS.map((f) => {
        const n = f === 'all' ? null : page.counts[f];
        const label = n === null ? f : `${f} (${n > page.countCap ? `${page.countCap}+` : n})`;
        return f === status
          ? h('strong', { class: 'filter current' }, label)
          : link(href.task(name, keep(f === 'all' ? {} : { status: f })), label);
      }),
    ),
    stepsTable(page),
    pager(name, page, (extra) => keep({ ...(status === 'all' ? {} : { status }), ...extra })),
    h('h2', {}, 'Versions'),
    versionsTable(name, t, page.taskId),
    t.moreVersions ? h('p', { class: 'muted' }, 'older versions not shown (50 at most)') : null,
  );
}

function specFacts(t, shown) {
  const s = t.spec;
  const def = shown ? parseDefinition(shown.definition) : null;
  return [
    facts([
      ['version', shown ? `${shown.version.slice(0, 12)}${shown.current ? ' (current)' : ' (old)'}` : '-'],
      [
        'kind',
        s
          ? s.gather
            ? 'gather: one step over all upstream outputs'
            : s.isRoot
              ? 'root: one step per run input'
              : 'one step per upstream output'
          : undefined,
      ],
      ['inputs', s && Array.isArray(s.inputs) && s.inputs.length > 0 ? s.inputs.join(', ') : undefined],
      ['match', s && Array.isArray(s.match) ? s.match.join(' ') : undefined],
      ['parallel', s?.parallel ?? undefined],
      ['timeout', s?.timeout ? `${s.timeout} s` : undefined],
      ['retries', s?.retries ?? undefined],
    ]),
    def && typeof def.script === 'string'
      ? h('details', { class: 'script' }, h('summary', {}, 'script'), h('pre', { class: 'text' }, def.script))
      : null,
  ];
}

function stepsTable(page) {
  if (page.steps.length === 0) return h('p', { class: 'muted', id: 'no-steps' }, 'no steps here');
  return grid(
    ['step', 'input', 'input hash', 'status', 'attempts', 'exit', 'took', 'finished'],
    page.steps,
    (st) => [
      stepLink(st.id),
      h('span', { class: 'name' }, st.inputName === '' ? '(seed)' : st.inputName),
      hashLink(st.inputHash),
      badge(st.status),
      String(st.attempts),
      st.exitCode === null ? '-' : String(st.exitCode),
      st.startedAt !== null && st.finishedAt !== null ? formatDuration(st.finishedAt - st.startedAt) : '-',
      formatTime(st.finishedAt),
    ],
    { class: 'grid steps', id: 'steps' },
  );
}

function pager(name, page, query) {
  return h(
    'nav',
    { class: 'pager' },
    link(href.task(name, query({})), '\u00ab first'),
    page.prev !== null
      ? link(href.task(name, query({ before: page.prev })), '\u2039 previous')
      : h('span', { class: 'muted' }, '\u2039 previous'),
    page.next !== null
      ? link(href.task(name, query({ after: page.next })), 'next \u203a')
      : h('span', { class: 'muted' }, 'next \u203a'),
    h('span', { class: 'muted' }, `${page.steps.length} steps, by id, 100 a page`),
  );
}

function versionsTable(name, t, shownId) {
  return grid(
    ['version', 'made', '', 'what changed from the one before', ''],
    t.versions,
    (v) => [
      h('code', { title: v.version }, v.version.slice(0, 12)),
      formatTime(v.createdAt),
      v.current ? h('span', { class: 'badge done' }, 'current') : h('span', { class: 'badge old' }, 'old'),
      v.changed === null
        ? h('span', { class: 'muted' }, 'first version')
        : v.changed.length === 0
          ? h('span', { class: 'muted' }, 'nothing in its definition')
          : v.changed.join(', '),
      v.taskId === shownId
        ? h('span', { class: 'muted' }, 'shown above')
        : link(href.task(name, { version: v.taskId }), 'its steps'),
    ],
    { class: 'grid versions' },
  );
}

function parseDefinition(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
