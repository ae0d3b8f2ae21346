// Every element of the view is made here. Text from the db (names, logs, object bytes) goes in
// only as textContent or an attribute value, never through innerHTML: it can never become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h('a', { href: '/x' }, 'text', child...): an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Paths of the view's own pages; every part from the db is encoded. */
export const href = {
  task: (name, query) => `/task/${encodeURIComponent(name)}${query ? `?${new URLSearchParams(query)}` : ''}`,
  step: (id) => `/step/${encodeURIComponent(String(id))}`,
  object: (hash) => `/object/${encodeURIComponent(hash)}`,
  lineage: (hash) => `/lineage/${encodeURIComponent(hash)}`,
  raw: (hash, inline) => `/raw/${encodeURIComponent(hash)}${inline ? '?inline=1' : ''}`,
};

export const link = (to, ...text) => h('a', { href: to }, ...text);
export const hashLink = (hash, n = 12) =>
  h('a', { href: href.object(hash), class: 'hash', title: hash }, hash.slice(0, n));
export const stepLink = (id) => h('a', { href: href.step(id), class: 'step-id' }, `#${id}`);
export const badge = (status) => h('span', { class: `badge ${status}` }, status);

export function formatBytes(n) {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

export const formatTime = (ms) => (ms === null || ms === undefined ? '-' : new Date(ms).toLocaleString());
export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A two-column table of facts; rows whose value is undefined are left out. */
export function facts(rows) {
  return h(
    'table',
    { class: 'facts' },
    rows.filter(([, v]) => v !== undefined).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
  );
}

/** A table with a header row; `cells(row)` gives each row's cells (text or nodes). */
export function grid(headers, rows, cells, attrs = {}) {
  return h(
    'table',
    { class: 'grid', ...attrs },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x) => h('th', {}, x)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          cells(r).map((c) => h('td', {}, c)),
        ),
      ),
    ),
  );
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** Replace the page's content. */
export function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes.flat().filter(Boolean));
}

/** Text with a preview's caveats: cut at 64 KiB, binary, missing. */
export function preview(head, hash) {
  if (head.missing) return h('p', { class: 'error' }, 'the file is missing from the store (run task-pipeline fsck)');
  if (head.binary)
    return h(
      'p',
      { class: 'muted' },
      `binary bytes (${formatBytes(head.fileSize)}): `,
      link(href.raw(hash), 'download'),
    );
  return [
    h('pre', { class: 'text' }, head.text),
    head.truncated
      ? h(
          'p',
          { class: 'muted' },
          `first 64 KiB of ${formatBytes(head.fileSize)} shown: `,
          link(href.raw(hash, true), 'all of it as text'),
          ' or ',
          link(href.raw(hash), 'download'),
        )
      : null,
  ];
}
