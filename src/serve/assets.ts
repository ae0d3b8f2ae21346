import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

/** The page every route serves: no data in it, so a strict CSP holds; the scripts fill it in. */
const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>task-pipeline</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/dagre.min.js" defer></script>
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header>
  <a class="brand" href="/">task-pipeline</a>
  <span id="db" class="muted"></span>
  <form id="search" action="/search" method="get" role="search">
    <input name="q" type="search" placeholder="hash prefix, step id or output name" aria-label="search" size="36">
    <button type="submit">search</button>
  </form>
</header>
<main id="main"><p class="muted">loading...</p></main>
</body>
</html>
`;

/**
 * Everything the browser loads, read once at start into memory: the client (web/, beside dist/)
 * and the graph layout library from node_modules. A request names an entry of this table and
 * never a file, so no URL reaches the filesystem here.
 */
export function loadAssets(): { shell: Buffer; files: Map<string, Asset> } {
  const web = fileURLToPath(new URL('../../web/', import.meta.url));
  const files = new Map<string, Asset>();
  for (const name of readdirSync(web)) {
    const type = name.endsWith('.js')
      ? 'text/javascript; charset=utf-8'
      : name.endsWith('.css')
        ? 'text/css; charset=utf-8'
        : null;
    if (type !== null && /^[a-z0-9-]+\.(js|css)$/.test(name))
      files.set(name, { type, body: readFileSync(join(web, name)) });
  }
  files.set('dagre.min.js', { type: 'text/javascript; charset=utf-8', body: dagreBundle() });
  return { shell: Buffer.from(SHELL), files };
}

/**
 * @dagrejs/dagre's browser build (graphlib included, a global `dagre`), with its license notice
 * in front, as its MIT license asks, and without the source-map comment (the map is not served).
 */
function dagreBundle(): Buffer {
  const pkg = createRequire(import.meta.url).resolve('@dagrejs/dagre/package.json');
  const dist = join(dirname(pkg), 'dist');
  const code = readFileSync(join(dist, 'dagre.min.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
  const legal = readFileSync(join(dist, 'dagre.min.js.LEGAL.txt'), 'utf8');
  return Buffer.from(`${legal}\n${code}`);
}
