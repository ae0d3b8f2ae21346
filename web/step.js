// A step: what it read, what it left, its log, how it went.
import {
  badge,
  facts,
  formatBytes,
  formatDuration,
  formatTime,
  getJson,
  grid,
  h,
  hashLink,
  href,
  link,
  preview,
  show,
  stepLink,
} from './dom.js';

export async function renderStep(id) {
  const d = await getJson(`/api/step/${encodeURIComponent(id)}`);
  document.title = `step ${d.stepId}`;
  const took = d.startedAt !== null && d.finishedAt !== null ? formatDuration(d.finishedAt - d.startedAt) : '-';
  const resources = Object.entries(d.resources);
  show(
    h('p', { class: 'crumbs' }, link('/', 'overview'), ' / ', link(href.task(d.task), `task ${d.task}`), ' / step'),
    h('h1', {}, `step ${d.stepId} `, badge(d.status)),
    facts([
      ['task', [link(href.task(d.task), d.task), ` version ${d.version.slice(0, 12)}${d.current ? '' : ' (old)'}`]],
      [
        'input',
        [
          h('span', { class: 'name', id: 'input-name' }, d.inputName === '' ? '(seed)' : d.inputName),
          ' ',
          hashLink(d.inputHash, 64),
        ],
      ],
      [
        'input from',
        d.upstream.length === 0
          ? h('span', { class: 'muted' }, 'a run input or the seed (no upstream step)')
          : d.upstream.map((u, i) => [i > 0 ? ', ' : '', stepLink(u.stepId), ` (${u.task})`]),
      ],
      ['attempts', String(d.attempts)],
      ['exit code', d.exitCode === null ? '-' : String(d.exitCode)],
      ['error', d.error === null ? undefined : h('span', { class: 'error' }, d.error)],
      ['run', d.runId === null ? '-' : String(d.runId)],
      ['created', formatTime(d.createdAt)],
      ['started', formatTime(d.startedAt)],
      ['finished', formatTime(d.finishedAt)],
      ['took', took],
      // Recorded by engines that measure what a script cost; absent from older dbs.
      ...resources.map(([k, v]) => [
        k.replace(/_/g, ' '),
        v === null ? '-' : /rss|mem/i.test(k) && /kb$/i.test(k) ? formatBytes(v * 1024) : String(v),
      ]),
    ]),
    h(
      'h2',
      {},
      `Outputs (${d.outputCount > d.outputs.length ? `${d.outputs.length} of ${d.outputCount}${d.outputCount > 10000 ? '+' : ''}` : d.outputs.length})`,
    ),
    d.outputs.length === 0
      ? h(
          'p',
          { class: 'muted' },
          d.status === 'done' ? 'none: the script left no file in OUTPUT_DIR' : 'none (only a done step has outputs)',
        )
      : grid(
          ['name', 'object', 'size'],
          d.outputs,
          (o) => [h('span', { class: 'name' }, o.name), hashLink(o.hash), formatBytes(o.size)],
          { class: 'grid outputs', id: 'outputs' },
        ),
    h('h2', {}, 'Log'),
    logSection(d),
  );
}

function logSection(d) {
  if (d.log === null) {
    return h(
      'p',
      { class: 'muted' },
      d.status === 'running'
        ? 'running: the log is stored when the step ends (task-pipeline log shows it as it grows)'
        : d.status === 'pending'
          ? 'none: the step has not run yet'
          : 'none stored',
    );
  }
  if (d.log.fileSize === 0) return h('p', { class: 'muted' }, 'empty: the script printed nothing');
  return [
    h(
      'p',
      { class: 'muted' },
      `stdout and stderr, ${formatBytes(d.log.size ?? d.log.fileSize)}: `,
      hashLink(d.log.hash),
      ' ',
      link(href.raw(d.log.hash), 'download'),
    ),
    h('div', { id: 'log' }, preview(d.log, d.log.hash)),
  ];
}
