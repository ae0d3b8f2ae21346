import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { HASH_RE, objectRelPath } from '../store/object-path.js';
import * as api from './api.js';
import { loadAssets, type Asset } from './assets.js';
import type { ServeDb } from './serve-db.js';
import { StatusCache } from './status-cache.js';

/** Loopback only: the view shows every object of the db to whoever can connect. */
export const HOST = '127.0.0.1';

// Object bytes and names are untrusted: nothing from the db may run as script or load anything.
const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
  "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
// Raw bytes, in case a browser tries to render them anyway: a sandbox with nothing allowed.
const RAW_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'";

const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;
const STEP_ID = /^[1-9][0-9]{0,15}$/;
const HASH_REF = /^[0-9a-f]{4,64}$/;

export interface RunningServer {
  server: Server;
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

type Reply = { json: unknown } | { html: true } | { asset: Asset } | { raw: string; inline: boolean };
type Handler = (m: string, q: URLSearchParams) => Reply | Promise<Reply>;

/** Serve the db read-only on 127.0.0.1; port 0 takes a free one. */
export async function startServer(db: ServeDb, port: number): Promise<RunningServer> {
  const assets = loadAssets();
  const ctx: api.ApiContext = { dbDir: db.store, db, status: new StatusCache(db) };
  const valid = (re: RegExp, what: string) => (m: string) => {
    if (!re.test(m)) throw new api.HttpError(400, `"${m.slice(0, 80)}" is not ${what}`);
    return m;
  };
  const task = valid(TASK_NAME, 'a task name');
  const stepId = valid(STEP_ID, 'a step id (a positive integer)');
  const hash = valid(HASH_REF, 'a hash or a prefix of 4 to 64 lowercase hex characters');
  const page: Reply = { html: true };
  // Each route's pattern takes one path segment at most; the handler validates it (malformed: 400).
  const routes: [RegExp, Handler][] = [
    [/^\/$/, () => page],
    [/^\/search$/, () => page],
    [/^\/task\/([^/]*)$/, (m) => (task(m), page)],
    [/^\/step\/([^/]*)$/, (m) => (stepId(m), page)],
    [/^\/object\/([^/]*)$/, (m) => (hash(m), page)],
    [/^\/lineage\/([^/]*)$/, (m) => (hash(m), page)],
    [
      /^\/assets\/([^/]*)$/,
      (m) => {
        const a = assets.files.get(m);
        if (!a) throw new api.HttpError(404, 'no such asset');
        return { asset: a };
      },
    ],
    [
      /^\/raw\/([^/]*)$/,
      (m, q) => {
        if (!HASH_RE.test(m)) throw new api.HttpError(400, 'a download takes the full 64-character hash');
        return { raw: m, inline: q.get('inline') === '1' };
      },
    ],
    [/^\/api\/overview$/, async () => ({ json: await api.overview(ctx) })],
    [/^\/api\/task\/([^/]*)$/, async (m) => ({ json: await api.task(ctx, task(m)) })],
    [/^\/api\/task\/([^/]*)\/steps$/, async (m, q) => ({ json: await api.steps(ctx, task(m), q) })],
    [/^\/api\/step\/([^/]*)$/, async (m) => ({ json: await api.step(ctx, stepId(m)) })],
    [/^\/api\/object\/([^/]*)$/, async (m) => ({ json: await api.object(ctx, hash(m)) })],
    [/^\/api\/lineage\/([^/]*)$/, async (m, q) => ({ json: await api.objectLineage(ctx, hash(m), q) })],
    [/^\/api\/search$/, async (_m, q) => ({ json: await api.search(ctx, q) })],
  ];

  let allowed = new Set<string>();
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      process.stderr.write(`task-pipeline serve: internal error: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) sendText(res, 500, 'internal error (see the server output)');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    // DNS rebinding: a page of another site whose name now resolves to 127.0.0.1 sends its own Host.
    if (!allowed.has((req.headers.host ?? '').toLowerCase())) {
      return sendText(res, 403, `forbidden: this server answers only to ${[...allowed].join(' and ')}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendText(res, 405, 'read-only: only GET and HEAD');
    }
    const url = req.url ?? '';
    const qAt = url.indexOf('?');
    const path = qAt === -1 ? url : url.slice(0, qAt);
    const query = new URLSearchParams(qAt === -1 ? '' : url.slice(qAt + 1));
    const route = routes.find(([re]) => re.test(path));
    if (!route) return sendText(res, 404, 'not found');
    let reply: Reply;
    try {
      reply = await route[1](route[0].exec(path)![1] ?? '', query);
    } catch (err) {
      const isApi = path.startsWith('/api/');
      if (err instanceof api.HttpError) return sendError(res, err.status, err.message, isApi);
      if (err instanceof UserError) return sendError(res, api.httpStatusOf(err), err.message, isApi);
      throw err;
    }
    // How long the server itself took, for the bench and the browser's network panel.
    res.setHeader('Server-Timing', `app;dur=${(performance.now() - t0).toFixed(1)}`);
    if ('json' in reply)
      return send(res, 200, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(reply.json)), req);
    if ('html' in reply) return send(res, 200, 'text/html; charset=utf-8', assets.shell, req);
    if ('asset' in reply) {
      res.setHeader('Cache-Control', 'no-cache');
      return send(res, 200, reply.asset.type, reply.asset.body, req);
    }
    return sendRaw(res, req, reply.raw, reply.inline);
  }

  async function sendRaw(res: ServerResponse, req: IncomingMessage, hash: string, inline: boolean): Promise<void> {
    const known = await api.withInspect(
      ctx,
      async ({ q }) => (await q.get('SELECT 1 AS known FROM object WHERE hash = unhex(?)', [hash])) !== undefined,
    );
    // The only path built from a request: a validated full hash, through the store's own mapping.
    const file = join(db.store, objectRelPath(hash));
    const st = statSync(file, { throwIfNoEntry: false });
    if (!known || !st?.isFile()) return sendText(res, 404, `no object ${hash}`);
    res.setHeader('Content-Security-Policy', RAW_CSP);
    res.setHeader('Content-Type', inline ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    res.setHeader('Content-Disposition', inline ? 'inline' : `attachment; filename="${hash}"`);
    res.setHeader('Content-Length', st.size);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream(file);
      stream.on('error', reject);
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  const address = server.address() as AddressInfo;
  allowed = new Set([`127.0.0.1:${address.port}`, `localhost:${address.port}`]);
  return {
    server,
    address,
    url: `http://${HOST}:${address.port}/`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await ctx.status?.close();
      await db.close();
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: Buffer, req: IncomingMessage): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string, json: boolean): void {
  if (!json) return sendText(res, status, message);
  const body = Buffer.from(JSON.stringify({ error: message }));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}
