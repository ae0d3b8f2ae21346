import pg from 'pg';
import { UserError } from '../../errors.js';
import { redactUrl, type PgDb } from './pg-db.js';

/** Any fixed number: the advisory lock that makes one coordinator per db. */
const COORDINATOR_LOCK = 0x74700002;

/**
 * One run (coordinator) per db at a time: a session-level advisory lock held on a connection of
 * its own, so it goes with the process (a kill -9 closes the socket, the server drops the lock).
 * A server restart drops it too: it is taken again once the server is back, and if another run
 * got it first, `onLost` is told (the run then stops).
 */
export class PgRunLock {
  private client: pg.Client | null = null;
  private released = false;

  constructor(
    private readonly db: PgDb,
    private readonly onLost: (why: string) => void,
  ) {}

  async acquire(): Promise<void> {
    if (await this.tryTake()) return;
    const holder = await this.db.query<{ host: string; pid: number }>(
      `SELECT host, pid FROM lease WHERE kind = 'coordinator' AND state = 'live' ORDER BY id DESC LIMIT 1`,
    );
    const who = holder[0] ? `pid ${holder[0].pid} on ${holder[0].host}` : 'another process';
    throw new UserError(
      'ELOCKED',
      `${redactUrl(this.db.url)}: another run is using this db (${who}); workers may join it: task-pipeline worker`,
    );
  }

  private async tryTake(): Promise<boolean> {
    // A client cannot connect twice: a new one per try while the server is away.
    const client = await this.db.retrying(async () => {
      const c = new pg.Client({ connectionString: this.db.url });
      c.on('error', () => this.reacquire(c));
      try {
        await c.connect();
        return c;
      } catch (err) {
        await c.end().catch(() => undefined);
        throw err;
      }
    });
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [COORDINATOR_LOCK]);
    if (!r.rows[0]!.ok) {
      await client.end();
      return false;
    }
    this.client = client;
    return true;
  }

  /** The connection broke (a server restart): take the lock again when the server answers. */
  private reacquire(broken: pg.Client): void {
    if (this.released || this.client !== broken) return;
    this.client = null;
    broken.end().catch(() => undefined);
    this.tryTake().then(
      (ok) => {
        if (!ok && !this.released) this.onLost('another run took the db while PostgreSQL was unreachable');
      },
      (err: unknown) => {
        if (!this.released) this.onLost(`PostgreSQL stayed unreachable: ${(err as Error).message}`);
      },
    );
  }

  async release(): Promise<void> {
    this.released = true;
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
