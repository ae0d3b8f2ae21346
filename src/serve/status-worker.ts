// The per-task counts of the current graph (what `status` prints) cost seconds on a db of a
// million steps: they are computed here, off the server's thread, so that no request waits for them.
import { parentPort } from 'node:worker_threads';
import { openDatabase } from '../store/database.js';
import { taskStatus } from '../store/inspect/task-status.js';

export interface StatusRequest {
  dbDir: string;
}

parentPort?.on('message', (m: StatusRequest) => {
  const t0 = performance.now();
  try {
    const db = openDatabase(m.dbDir);
    try {
      const status = taskStatus(db, false);
      parentPort!.postMessage({ ok: true, status, tookMs: Math.round(performance.now() - t0) });
    } finally {
      db.close();
    }
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: (err as Error).message, tookMs: Math.round(performance.now() - t0) });
  }
});
