import { median } from './measure.js';

const s = (ms) => (ms / 1000).toFixed(ms < 10_000 ? 3 : 2);
const mb = (kb) => (kb === null || kb === undefined ? '?' : (kb / 1024).toFixed(0));

/** The results as markdown: one table per benchmark, then engine/peer ratios of the medians. */
export function markdown(o, m, results, notes) {
  const out = [];
  out.push('# Benchmark results', '');
  out.push(
    `Measured ${m.date} by \`npm run bench\` (bench/run.js) on ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, Node ${m.node}, Linux ${m.kernel}.`,
  );
  out.push(
    `Engine: commit ${m.commit ?? '?'}${m.dirty ? ' with uncommitted changes in src/' : ''}, built by \`npm run bench\`.`,
  );
  out.push(
    `Tools: ${Object.entries(m.tools)
      .map(([k, v]) => `${k}: ${v ?? 'missing'}`)
      .join('; ')}.`,
    '',
  );
  out.push(
    `Parameters: N = ${o.n} (B1: ${2 * o.n + 1} script runs; B3: ${2 * o.n} make targets), big file ${o.bigMib} MiB, ` +
      `${o.pending} pending steps (B4, ${o.b4Seconds} s window), ${o.repeat} runs of each contender alternating, ` +
      `-parallel / -P / -j ${o.jobs}, engine executors: ${o.executors.join(', ')}.`,
    '',
  );
  out.push(
    "Times are wall clock of the whole command (process start included); peak RSS is `/usr/bin/time -v`'s maximum resident set size.",
    '',
  );
  for (const bench of ['B1', 'B2', 'B3']) {
    const rows = results.filter((r) => r.bench === bench);
    if (rows.length === 0) continue;
    out.push(
      `## ${bench}`,
      '',
      '| contender | median s | min s | max s | runs | peak RSS MB (median) |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const r of rows)
      out.push(
        `| ${r.name} | ${s(median(r.ms))} | ${s(Math.min(...r.ms))} | ${s(Math.max(...r.ms))} | ${r.ms.length} | ${mb(median(r.rssKb.filter((x) => x !== null)))} |`,
      );
    out.push('');
    const engines = rows.filter((r) => r.kind === 'engine');
    const peers = rows.filter((r) => r.kind === 'peer');
    if (engines.length && peers.length) {
      out.push(
        `| ${bench} ratio (median/median) | ${peers.map((p) => p.name).join(' | ')} |`,
        `|---|${peers.map(() => '---:').join('|')}|`,
      );
      for (const e of engines)
        out.push(`| ${e.name} / | ${peers.map((p) => `${(median(e.ms) / median(p.ms)).toFixed(2)}x`).join(' | ')} |`);
      out.push('');
    }
  }
  const b4 = results.filter((r) => r.bench === 'B4');
  if (b4.length) {
    out.push(
      '## B4',
      '',
      'Cold: the first start after the run that left the pending steps (it reconciles what that run finished). Warm: the next start.',
      '',
      '| contender | start | pending steps | time to first step started, median ms (max) | peak RSS MB median (max) | steps/s after the first | runs | steps failed by the interrupt |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of b4) {
      for (const kind of ['cold', 'warm']) {
        const ms = r[kind];
        if (ms.length === 0) continue; // nothing was left pending for this start
        const rss = ms.map((m) => m.rssKb);
        const failed = ms.reduce((a, m) => a + m.failed, 0);
        out.push(
          `| ${r.name} | ${kind} | ${Math.min(...ms.map((m) => m.pending))} | ${median(ms.map((m) => m.firstMs)).toFixed(0)} (${Math.max(...ms.map((m) => m.firstMs)).toFixed(0)}) | ` +
            `${mb(median(rss))} (${mb(Math.max(...rss))}) | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${ms.length} | ${failed} |`,
        );
        if (failed > 0)
          notes.push(
            `B4 ${r.name}, ${kind}: ${failed} step(s) recorded failed across a SIGINT to the engine's process group (they should go back to pending); see bench/README.md, B4.`,
          );
      }
    }
    out.push('');
  }
  out.push(
    '## Targets',
    '',
    '- B1: engine at most 1.25x `xargs -P <cpus>`.',
    '- B2: at most 1.3x cp + openssl dgst -sha256 + mv; peak RSS under 150 MB.',
    '- B3: under 1 s, and faster than make deciding the targets are up to date.',
    '- B4: first step within 2 s; peak RSS under 250 MB.',
    '',
  );
  if (notes.length) out.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
