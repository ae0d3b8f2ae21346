// A real PostgreSQL cluster for one test file: initdb + pg_ctl in a temp directory, listening on a
// Unix socket there only. PostgreSQL refuses to run as root: as root, the cluster runs as `nobody`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

function findBin() {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'initdb'))) return dir;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort().reverse())
      if (existsSync(join(base, v, 'bin', 'pg_ctl'))) return join(base, v, 'bin');
  }
  return null;
}

const NOBODY = 65534;

/** Why PostgreSQL tests cannot run here, or null when they can. */
export function postgresMissing() {
  if (findBin() === null) return 'PostgreSQL (initdb, pg_ctl) not installed: apt-get install postgresql';
  if (process.getuid?.() === 0 && spawnSync('runuser', ['--help']).error) return 'running as root without runuser';
  return null;
}

/** Start a cluster; `t` is the suite context (after() stops it). Returns { url(db), newDb(), restart(), stop() }. */
export async function startPostgres(after) {
  const bin = findBin();
  const dir = mkdtempSync(join(tmpdir(), 'tp-pg-'));
  const root = process.getuid?.() === 0;
  if (root) chownSync(dir, NOBODY, NOBODY);
  const run = (tool, args) => {
    const argv = root ? ['runuser', '-u', 'nobody', '--', join(bin, tool), ...args] : [join(bin, tool), ...args];
    return execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const opts = `-k ${dir} -c listen_addresses='' -c fsync=off -c max_connections=200`;
  const start = () => run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start']);
  start();
  const stop = () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already stopped.
    }
  };
  after(() => {
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (db) => `postgres://postgres@localhost/${db}?host=${encodeURIComponent(dir)}`;
  let made = 0;
  return {
    dir,
    url,
    /** A fresh, empty database: one per test. */
    async newDb() {
      const name = `t${++made}`;
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      return url(name);
    },
    /** Stop the server (immediate: like a crash) and start it again after `downMs`. */
    async restart(downMs = 500) {
      stop();
      await new Promise((r) => setTimeout(r, downMs));
      start();
    },
    async query(dbUrl, sql, params = []) {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows;
      } finally {
        await c.end();
      }
    },
    stop,
  };
}
