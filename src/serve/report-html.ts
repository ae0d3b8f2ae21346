// The report as HTML text. Every value from the db passes through esc(); the page carries a CSP
// that allows no script at all, so even a slip could not run anything.
import { formatBytes as bytes } from '../cli/format.js';
import type { RunReport } from './report.js';
import { esc, fmtMs, histogramSvg, timelineSvg } from './report-svg.js';

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1d232b; margin: 0 auto; padding: 16px 24px 40px; max-width: 1000px; background: #f6f7f9; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d9dee5; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
table { border-collapse: collapse; background: #fff; } th, td { padding: 3px 10px; border: 1px solid #d9dee5; text-align: left; }
th { background: #eef1f5; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #68727f; } .bad { color: #d6453d; font-weight: 600; } .ok { color: #2f9e55; font-weight: 600; }
code, pre { font-family: ui-monospace, monospace; font-size: 12.5px; }
pre { background: #fff; border: 1px solid #d9dee5; padding: 8px 10px; white-space: pre-wrap; word-break: break-all; max-height: 360px; overflow: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #3c4652; }
svg.timeline { background: #fff; border: 1px solid #d9dee5; max-width: 100%; height: auto; } svg .lbl { font-size: 12px; font-weight: 600; }
svg .tick { stroke: #eef1f5; } svg .sep { stroke: #d9dee5; } svg .tl { text-anchor: middle; fill: #68727f; }
svg rect.d { fill: #2f9e55; } svg rect.f { fill: #d6453d; } svg .area { fill: #7fb6e8; stroke: #2f6fd6; }
svg.hist rect.bar { fill: #2f6fd6; } svg.hist .n, svg.hist .bl { text-anchor: middle; font-size: 10px; }
.hists { display: flex; flex-wrap: wrap; gap: 18px 28px; } .hists > div { background: #fff; border: 1px solid #d9dee5; padding: 6px 10px; }
.failure { margin: 14px 0; }
`;

export function renderReport(r: RunReport): string {
  const run = r.run;
  const end = run.finishedAt ?? Math.max(run.startedAt, ...r.tasks.map((t) => maxOf(t.ends)));
  const title = `task-pipeline run ${run.id}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="muted">db <code>${esc(r.db)}</code>, manifest <code>${esc(run.manifest)}</code>; report written ${esc(new Date(r.generatedAt).toISOString())}</p>
<section id="summary"><h2>Summary</h2>${summary(r, end)}</section>
<section id="timeline"><h2>Timeline</h2>${timeline(r, end)}</section>
<section id="durations"><h2>Step durations per task</h2>${durations(r)}</section>
<section id="resources"><h2>CPU and peak memory per task</h2>${resources(r)}</section>
<section id="failures"><h2>Failures</h2>${failures(r)}</section>
</body></html>
`;
}

function summary(r: RunReport, end: number): string {
  const run = r.run;
  const s = (run.summary ?? {}) as Record<string, unknown>;
  const exit =
    run.exitCode === null
      ? '<span class="bad">not finished (still running, or killed)</span>'
      : `<span class="${run.exitCode === 0 ? 'ok' : 'bad'}">${esc(run.exitCode)}</span>${run.exitCode === 130 ? ' (interrupted)' : run.exitCode === 1 ? ' (something failed)' : ''}`;
  const facts: [string, string][] = [
    ['started', esc(new Date(run.startedAt).toISOString())],
    ['finished', run.finishedAt === null ? '-' : esc(new Date(run.finishedAt).toISOString())],
    ['took', esc(fmtMs(end - run.startedAt))],
    ['exit code', exit],
  ];
  if (typeof s.objectsAdded === 'number')
    facts.push(['objects added', `${esc(s.objectsAdded)} (${esc(bytes(Number(s.bytesAdded ?? 0)))})`]);
  if (typeof s.inputsAdded === 'number') facts.push(['new inputs', esc(s.inputsAdded)]);
  if (typeof s.maxRssKb === 'number' && s.maxRssKb > 0) facts.push(['engine peak RSS', esc(bytes(s.maxRssKb * 1024))]);
  if (typeof s.halted === 'string') facts.push(['stopped', `<span class="bad">${esc(s.halted)}</span>`]);
  if (Array.isArray(s.heldBack) && s.heldBack.length > 0) facts.push(['gathers held back', esc(s.heldBack.join(', '))]);
  const tasks =
    s.tasks && typeof s.tasks === 'object' ? Object.entries(s.tasks as Record<string, Record<string, number>>) : [];
  const table =
    tasks.length === 0
      ? '<p class="muted">no summary recorded (the run did not finish)</p>'
      : `<table><tr><th>task</th><th>ran</th><th>reused</th><th>failed</th></tr>${tasks
          .map(
            ([n, c]) =>
              `<tr><td>${esc(n)}</td><td class="n">${esc(c.ran ?? 0)}</td><td class="n">${esc(c.reused ?? 0)}</td><td class="n">${esc(c.failed ?? 0)}</td></tr>`,
          )
          .join('')}</table>`;
  return `<table>${facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table><h3>Steps per task</h3>${table}`;
}

function timeline(r: RunReport, end: number): string {
  const timed = r.tasks.filter((t) => t.starts.length > 0);
  if (timed.length === 0) return '<p class="muted">no step of this run has both a start and an end time</p>';
  return `<p class="muted">each step of this run from its start to its end (green: done, red: failed), one row per task</p>${timelineSvg(timed, r.run.startedAt, end)}`;
}

function durations(r: RunReport): string {
  const parts = r.tasks
    .map((t) => {
      const { svg, stats } = histogramSvg(t);
      if (!stats) return '';
      return `<div><h3>${esc(t.name)}</h3><p class="muted">${esc(`${stats.n} step${stats.n === 1 ? '' : 's'}; median ${fmtMs(stats.median)}, 90% under ${fmtMs(stats.p90)}, max ${fmtMs(stats.max)}`)}</p>${svg}</div>`;
    })
    .filter((p) => p !== '');
  return parts.length === 0 ? '<p class="muted">no timed steps</p>' : `<div class="hists">${parts.join('')}</div>`;
}

function resources(r: RunReport): string {
  const cols = [...r.resources.cpu, ...r.resources.rss];
  if (cols.length === 0) {
    return '<p class="muted">not recorded: the step table of this db has no CPU or memory columns (the engine that ran it did not measure them)</p>';
  }
  const head = [...r.resources.cpu.map((c) => `${c} (sum)`), ...r.resources.rss.map((c) => `${c} (max)`)];
  const rows = r.tasks.map(
    (t) =>
      `<tr><td>${esc(t.name)}</td>${r.resources.cpu.map((c) => cell(t.cpu.get(c))).join('')}${r.resources.rss.map((c) => cell(t.rss.get(c))).join('')}</tr>`,
  );
  return `<table><tr><th>task</th>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

const cell = (v: number | undefined) => `<td class="n">${v === undefined ? '-' : esc(Math.round(v))}</td>`;

function failures(r: RunReport): string {
  if (r.failures.length === 0) return '<p class="ok">none</p>';
  const items = r.failures.map(
    (
      f,
    ) => `<div class="failure"><h3>${esc(`${f.task} step ${f.stepId}`)}: <span class="bad">${esc(f.error ?? 'failed')}</span></h3>
<p class="muted">input <code>${esc(f.inputName === '' ? '(seed)' : f.inputName)}</code>, exit code ${esc(f.exitCode ?? '-')}${f.logHash ? `, log <code>${esc(f.logHash)}</code>` : ''}</p>
${f.logTail === null ? '<p class="muted">no log stored</p>' : f.logTail === '' ? '<p class="muted">the log is empty</p>' : `<pre>${esc(f.logTail)}</pre>`}</div>`,
  );
  const more = r.moreFailures > 0 ? `<p class="muted">${esc(r.moreFailures)} more failures not shown</p>` : '';
  return `<p class="bad">${esc(r.failures.length + r.moreFailures)} step${r.failures.length + r.moreFailures === 1 ? '' : 's'} failed</p>${items.join('')}${more}`;
}

function maxOf(xs: number[]): number {
  let m = 0;
  for (const x of xs) if (x > m) m = x;
  return m;
}
