// The per-task counts cost from milliseconds to seconds (see live-counts.ts): they are computed
// here, off the server's thread, so that no request waits for them.
import { parentPort } from 'node:worker_threads';
import { openDatabase } from '../store/database.js';
import { sqliteQuery } from '../store/inspect/sqlite-query.js';
import { liveCounts } from './live-counts.js';

export interface StatusRequest {
  dbDir: string;
}

parentPort?.on('message', (m: StatusRequest) => void count(m));

async function count(m: StatusRequest): Promise<void> {
  const t0 = performance.now();
  try {
    const db = openDatabase(m.dbDir);
    try {
      const status = await liveCounts(sqliteQuery(db));
      parentPort!.postMessage({ ok: true, status, tookMs: Math.round(performance.now() - t0) });
    } finally {
      db.close();
    }
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: (err as Error).message, tookMs: Math.round(performance.now() - t0) });
  }
}
