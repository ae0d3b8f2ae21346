import { UserError } from '../../errors.js';
import { redactUrl, type PgDb } from './pg-db.js';

/**
 * The PostgreSQL schema: the SQLite db's tables and concepts (task versions, steps unique on
 * (task, object, name), links, outputs, attempts, run inputs keyed by name, the current graph),
 * with hashes as bytea, plus what many processes need: `lease`, one row per coordinator or
 * worker process, whose id fences every claim and commit. Migrations are applied in order,
 * `meta.schema` counting them, under a transaction-level advisory lock so that two processes
 * starting at once do not both migrate.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
  CREATE TABLE task (
    id         serial PRIMARY KEY,
    name       text   NOT NULL,
    script     text   NOT NULL,
    version    text   NOT NULL,
    definition text   NOT NULL,
    created_at bigint NOT NULL,
    UNIQUE (name, version)
  );
  CREATE TABLE object (hash bytea PRIMARY KEY, size bigint NOT NULL, created_at bigint NOT NULL);
  -- A process that claims steps: a run's coordinator or a worker. Alive while heartbeat keeps expires_at ahead.
  CREATE TABLE lease (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('coordinator', 'worker')),
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    parallel     integer     NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    state        text        NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'expired', 'ended')),
    steps_done   bigint      NOT NULL DEFAULT 0
  );
  CREATE INDEX lease_live ON lease (expires_at) WHERE state = 'live';
  CREATE TABLE run (
    id          bigserial PRIMARY KEY,
    manifest    text      NOT NULL,
    host        text      NOT NULL,
    pid         integer   NOT NULL,
    started_at  bigint    NOT NULL,
    finished_at bigint,
    exit_code   integer,
    summary     text
  );
  CREATE TABLE step (
    id          bigserial PRIMARY KEY,
    task        integer   NOT NULL REFERENCES task(id),
    object_hash bytea     NOT NULL REFERENCES object(hash),
    input_name  text      NOT NULL,
    status      text      NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    integer   NOT NULL DEFAULT 0,
    exit_code   integer,
    error       text,
    log_hash    bytea     REFERENCES object(hash),
    run_id      bigint,
    created_at  bigint    NOT NULL,
    started_at  bigint,
    finished_at bigint,
    round       integer   NOT NULL DEFAULT 0,
    lease       bigint    REFERENCES lease(id),  -- the claim it runs or ran under: the commit's fence
    UNIQUE (task, object_hash, input_name)
  );
  CREATE INDEX step_task ON step (task, status, id);
  CREATE INDEX step_running ON step (lease) WHERE status = 'running';
  CREATE TABLE step_link (
    from_step_id bigint NOT NULL REFERENCES step(id),
    to_step_id   bigint NOT NULL REFERENCES step(id),
    PRIMARY KEY (from_step_id, to_step_id)
  );
  CREATE INDEX step_link_to ON step_link (to_step_id, from_step_id);
  CREATE TABLE step_output (
    step_id     bigint NOT NULL REFERENCES step(id),
    name        text   NOT NULL,
    object_hash bytea  NOT NULL REFERENCES object(hash),
    PRIMARY KEY (step_id, name)
  );
  CREATE INDEX step_output_object ON step_output (object_hash);
  CREATE TABLE attempt (
    step_id     bigint  NOT NULL REFERENCES step(id),
    attempt     integer NOT NULL,
    run_id      bigint,
    lease       bigint  REFERENCES lease(id),
    status      text    NOT NULL CHECK (status IN ('done', 'failed')),
    started_at  bigint,
    ended_at    bigint  NOT NULL,
    exit_code   integer,
    signal      text,
    error       text,
    timed_out   boolean NOT NULL DEFAULT false,
    log_hash    bytea   REFERENCES object(hash),
    cpu_user_ms bigint,
    cpu_sys_ms  bigint,
    max_rss_kb  bigint,
    PRIMARY KEY (step_id, attempt)
  );
  CREATE TABLE run_input (
    id          bigserial PRIMARY KEY,
    name        text      NOT NULL,
    object_hash bytea     NOT NULL REFERENCES object(hash),
    run_id      bigint    NOT NULL REFERENCES run(id),
    source      text,
    retired_at  bigint,
    retired_how text CHECK (retired_how IN ('replaced', 'removed'))
  );
  CREATE UNIQUE INDEX run_input_current ON run_input (name) WHERE retired_at IS NULL;
  CREATE TABLE current_task (
    name           text    PRIMARY KEY,
    task_id        integer NOT NULL REFERENCES task(id),
    position       integer NOT NULL,
    is_root        boolean NOT NULL,
    gather         boolean NOT NULL,
    spec           text    NOT NULL,
    gather_step_id bigint  REFERENCES step(id)
  );
  CREATE TABLE current_edge (
    from_task_id integer NOT NULL REFERENCES task(id),
    to_task_id   integer NOT NULL REFERENCES task(id),
    match        text,
    to_gather    boolean NOT NULL,
    PRIMARY KEY (from_task_id, to_task_id)
  );
  `,
  // 2: the stat cache of run inputs (pg-input-cache.ts), and the indexes that deleting an object row
  // needs: its foreign keys are checked by probing each column that names it (gc deletes thousands).
  `
  CREATE TABLE input_stat (
    path        text COLLATE "C" PRIMARY KEY,
    size        bigint NOT NULL,
    mtime_ns    bigint NOT NULL,
    ctime_ns    bigint NOT NULL,
    ino         bigint NOT NULL,
    dev         bigint NOT NULL,
    object_hash bytea  NOT NULL REFERENCES object(hash) ON DELETE CASCADE,
    recorded_at bigint NOT NULL
  );
  CREATE INDEX input_stat_object ON input_stat (object_hash);
  CREATE TABLE input_dir_summary (
    dir         text   PRIMARY KEY,
    digest      bytea  NOT NULL,
    files       bigint NOT NULL,
    ids         numeric NOT NULL,
    recorded_at bigint NOT NULL
  );
  CREATE INDEX run_input_source ON run_input (source) WHERE retired_at IS NULL;
  CREATE INDEX run_input_object ON run_input (object_hash);
  CREATE INDEX step_object ON step (object_hash);
  CREATE INDEX step_log ON step (log_hash);
  CREATE INDEX attempt_log ON attempt (log_hash);
  `,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** Any fixed number: the advisory lock key that serialises migrations. */
const MIGRATE_LOCK = 0x74700001;

/**
 * Bring the schema forward (a run or a worker: they write). Resolves true when there was none: a new
 * db. `target`, an older version, is for the tests that migrate from a db of that version.
 */
export async function migratePg(db: PgDb, target = PG_SCHEMA_VERSION): Promise<boolean> {
  return db.tx(async (sql) => {
    await sql.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    const found = await versionIn(sql);
    if (found > PG_SCHEMA_VERSION) throw tooNew(db, found);
    for (let v = found; v < target; v++) await sql.query(MIGRATIONS[v]!);
    await sql.query(
      `INSERT INTO meta(key, value) VALUES ('schema', $1), ('layout', 'objects/AB/CD/rest sha256 v1')
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [String(Math.max(found, target))],
    );
    return found === 0;
  });
}

/** The inspection commands read the schema as it is, and never migrate it. */
export async function checkPgSchema(db: PgDb): Promise<void> {
  const found = await db.tx((sql) => versionIn(sql));
  if (found === 0) {
    throw new UserError(
      'ENODB',
      `${redactUrl(db.url)}: no pipeline db here; run a manifest with -db ${redactUrl(db.url)} -store DIR first`,
    );
  }
  if (found > PG_SCHEMA_VERSION) throw tooNew(db, found);
  if (found < PG_SCHEMA_VERSION) {
    throw new UserError(
      'ESCHEMA',
      `${redactUrl(db.url)}: schema version ${found} is older than this engine's ${PG_SCHEMA_VERSION}: run a manifest once`,
    );
  }
}

async function versionIn(sql: { query: PgDb['pool']['query'] }): Promise<number> {
  // pg_class read by this statement's snapshot, not to_regclass: a name lookup may answer from a
  // cache that waiting on an advisory lock does not refresh, and miss the tables another process
  // created meanwhile ("relation meta already exists" when a worker and a run start together).
  const t = await sql.query(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'meta'
                      AND relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema())) AS present`,
  );
  if (!(t.rows[0] as { present: boolean }).present) return 0;
  const r = await sql.query(`SELECT value FROM meta WHERE key = 'schema'`);
  return r.rows.length === 0 ? 0 : Number((r.rows[0] as { value: string }).value);
}

function tooNew(db: PgDb, found: number): UserError {
  return new UserError(
    'ESCHEMA',
    `${redactUrl(db.url)}: schema version ${found} is newer than this engine's ${PG_SCHEMA_VERSION}; upgrade task-pipeline`,
  );
}
