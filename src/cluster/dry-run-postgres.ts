import { planDryRun, type DryRunTask } from '../aside/dry-run.js';
import type { Manifest } from '../manifest/index.js';
import { versionChange } from '../store/inspect/version-change.js';
import { hashBytes, RehearsalDb } from '../store/postgres/pg-db.js';
import { PostgresMetadata } from '../store/postgres/pg-metadata.js';
import { migratePg } from '../store/postgres/pg-schema.js';

/**
 * -dry-run on PostgreSQL: the run's own planning (aside/dry-run.ts) inside one transaction that is
 * rolled back, so that nothing is written (not even the schema of a new db) and the workers see
 * nothing. No run lock is taken: a run going on meanwhile is read as its last commit left it.
 */
export async function dryRunOnPostgres(o: {
  manifest: Manifest;
  url: string;
  inputs: string[];
  force: string[];
}): Promise<DryRunTask[]> {
  return planDryRun(o, async () => {
    const db = new RehearsalDb(o.url);
    try {
      await db.begin();
      await migratePg(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    return {
      meta: new PostgresMetadata(db),
      versions: async () => {
        const rows = await db.query<{ name: string; version: string }>(`SELECT name, version FROM task`);
        return new Set(rows.map((r) => `${r.name}\0${r.version}`));
      },
      versionChange: async (name, taskId) => {
        const rows = await db.query<{ id: number; definition: string }>(
          `SELECT id, definition FROM task WHERE name = $1 AND id <= $2 ORDER BY id DESC LIMIT 2`,
          [name, taskId],
        );
        const [current, previous] = rows;
        return current?.id === taskId && previous ? versionChange(previous.definition, current.definition) : null;
      },
      listingStatus: async (taskId, hash) => {
        const rows = await db.query<{ status: string }>(
          `SELECT status FROM step WHERE task = $1 AND object_hash = $2 AND input_name = 'listing'`,
          [taskId, hashBytes(hash)],
        );
        return rows[0]?.status;
      },
      close: () => db.close(),
    };
  });
}
