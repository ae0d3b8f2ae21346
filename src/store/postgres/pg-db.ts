import pg from 'pg';
import { UserError } from '../../errors.js';
import { redactUrl } from './pg-url.js';

export { isPostgresUrl, redactUrl } from './pg-url.js';

/** A client inside a transaction: what a PgDb.tx callback runs its statements on. */
export type Sql = Pick<pg.PoolClient, 'query'>;

/** Error codes of a connection that went away or could not be made: worth waiting and trying again. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
/** SQLSTATE classes and codes after which the same transaction may simply be run again. */
const RETRY_STATES = ['08', '57P01', '57P02', '57P03', '40001', '40P01', '53300'];

export function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (CONNECTION_CODES.has(code)) return true;
  if (RETRY_STATES.some((s) => code.startsWith(s))) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(msg);
}

/** How long one operation keeps trying through an outage before the process gives up (ms). */
export function outageLimitMs(): number {
  const v = Number(process.env.TASK_PIPELINE_PG_OUTAGE_MS);
  return Number.isFinite(v) && v > 0 ? v : 300_000;
}

/**
 * A pool of connections to the PostgreSQL db, and the one place that rides out an outage:
 * a statement or a whole transaction that fails because the server went away (a restart, a
 * network cut) is tried again with a growing pause, up to outageLimitMs. Everything run
 * through tx() must therefore be safe to run twice (see pg-commit.ts for the fenced commit).
 */
export class PgDb {
  readonly pool: pg.Pool;
  /** How many times an operation had to be tried again: a claim may then have been lost in flight. */
  retries = 0;
  private closed = false;
  /** Until the first statement succeeds a refused connection is a wrong URL, not an outage: no waiting. */
  private reached = false;

  constructor(readonly url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle connection dropped by a server restart is reported here; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.retrying(async () => (await this.pool.query<R>(sql, params)).rows);
  }

  /** Run `fn` in one transaction (READ COMMITTED), all of it again after a transient failure. */
  async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.retrying(async () => {
      const client = await this.pool.connect();
      // A server gone while the client is checked out is reported as an event too: the query fails anyway.
      const onError = () => undefined;
      client.on('error', onError);
      let broken: unknown = undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        broken = isTransient(err) ? err : undefined;
        if (broken === undefined) await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken as Error | undefined);
      }
    });
  }

  async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + outageLimitMs();
    for (let pause = 50; ; pause = Math.min(pause * 2, 2000)) {
      try {
        const result = await fn();
        this.reached = true;
        return result;
      } catch (err) {
        if (this.closed || !isTransient(err)) throw wrap(err, this.url);
        if (!this.reached && (err as { code?: string }).code !== '57P03') {
          throw new UserError('EPGOPEN', `${redactUrl(this.url)}: cannot connect: ${(err as Error).message}`, {
            cause: err,
          });
        }
        if (Date.now() + pause > deadline) {
          throw new UserError(
            'EPGDOWN',
            `${redactUrl(this.url)}: PostgreSQL unreachable for ${Math.round(outageLimitMs() / 1000)} s (${(err as Error).message})`,
            { exitCode: 1, cause: err },
          );
        }
        this.retries++;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/**
 * One connection in one transaction that is never committed (a dry run): every statement runs in it,
 * a transaction asked for (tx) as a savepoint, and close() rolls it all back. Not retried through an
 * outage: a dry run that loses the server fails, having written nothing.
 */
export class RehearsalDb extends PgDb {
  private client: pg.PoolClient | null = null;

  async begin(): Promise<void> {
    const client = await this.retrying(() => this.pool.connect());
    client.on('error', () => undefined);
    this.client = client;
    await client.query('BEGIN');
  }

  override async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    return (await this.pinned().query<R>(sql, params)).rows;
  }

  override async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const client = this.pinned();
    await client.query('SAVEPOINT tx');
    try {
      const result = await fn(client);
      await client.query('RELEASE SAVEPOINT tx');
      return result;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT tx').catch(() => undefined);
      throw err;
    }
  }

  override async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
    await super.close();
  }

  private pinned(): pg.PoolClient {
    if (this.client === null) throw new Error('RehearsalDb: begin() first');
    return this.client;
  }
}

/** Failures a user can act on become one line: a wrong URL, a missing db, a refused login. */
function wrap(err: unknown, url: string): unknown {
  const code = (err as { code?: string }).code ?? '';
  if (code === '3D000' || code === '28P01' || code === '28000' || code === 'ENOTFOUND') {
    return new UserError('EPGOPEN', `${redactUrl(url)}: cannot connect: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** Hashes are bytea in PostgreSQL (32 bytes, not 64 characters); the engine speaks hex. */
export function hashBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

export function hashHex(b: Buffer | null): string {
  return b === null ? '' : b.toString('hex');
}
