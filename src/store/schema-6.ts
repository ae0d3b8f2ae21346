import { EMPTY_SQL } from './hash-blob.js';

/**
 * 6: hashes as 32-byte BLOBs, not 64-character hex text: half the bytes in every row and index
 * that holds one. Each table that names an object is rebuilt with its rows (ids kept, so every
 * reference holds). One row per thing: a step's log is its latest attempt's (attempt.log_hash), no
 * longer a copy in the step row. Indexes only where a query needs one: idx_task_name goes
 * (UNIQUE(name, version) serves "versions of a task"), and idx_step_log becomes idx_attempt_log,
 * which holds only non-empty logs ("whose log is this?"): nearly every step prints nothing, and the
 * empty log needs no index to be found (a walk finds its first steps at once).
 */
export const MIGRATION_6 = `
  DROP INDEX idx_task_name;

  CREATE TABLE object_v6 (
    hash        BLOB    PRIMARY KEY,   -- SHA-256, 32 bytes
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO object_v6(hash, size, created_at) SELECT unhex(hash), size, created_at FROM object;
  DROP TABLE object;
  ALTER TABLE object_v6 RENAME TO object;

  CREATE TABLE step_v6 (
    id          INTEGER PRIMARY KEY,
    task        INTEGER NOT NULL REFERENCES task(id),
    object_hash BLOB    NOT NULL REFERENCES object(hash),
    input_name  TEXT    NOT NULL,   -- the item's name: part of the step's identity
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER,
    error       TEXT,
    run_id      INTEGER,
    done_seq    INTEGER,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    round       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (task, object_hash, input_name)
  );
  INSERT INTO step_v6(id, task, object_hash, input_name, status, attempts, exit_code, error, run_id, done_seq,
                      created_at, started_at, finished_at, round)
    SELECT id, task, unhex(object_hash), input_name, status, attempts, exit_code, error, run_id, done_seq,
           created_at, started_at, finished_at, round FROM step ORDER BY id;
  DROP TABLE step;
  ALTER TABLE step_v6 RENAME TO step;
  CREATE INDEX idx_step_task ON step(task, status, id);
  CREATE INDEX idx_step_done ON step(task, done_seq) WHERE done_seq IS NOT NULL;

  CREATE TABLE step_output_v6 (
    step_id     INTEGER NOT NULL REFERENCES step(id),
    name        TEXT    NOT NULL,
    object_hash BLOB    NOT NULL REFERENCES object(hash),
    PRIMARY KEY (step_id, name)
  ) WITHOUT ROWID;
  INSERT INTO step_output_v6(step_id, name, object_hash) SELECT step_id, name, unhex(object_hash) FROM step_output;
  DROP TABLE step_output;
  ALTER TABLE step_output_v6 RENAME TO step_output;
  CREATE INDEX idx_step_output_object ON step_output(object_hash);

  CREATE TABLE run_input_v6 (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    object_hash BLOB    NOT NULL REFERENCES object(hash),
    run_id      INTEGER NOT NULL REFERENCES run(id),  -- the run that added it
    source      TEXT,                                 -- the -input argument it came from (absolute)
    retired_at  INTEGER,                              -- null while current
    retired_how TEXT CHECK (retired_how IN ('replaced', 'removed'))
  );
  INSERT INTO run_input_v6(id, name, object_hash, run_id, source, retired_at, retired_how)
    SELECT id, name, unhex(object_hash), run_id, source, retired_at, retired_how FROM run_input ORDER BY id;
  DROP TABLE run_input;
  ALTER TABLE run_input_v6 RENAME TO run_input;
  CREATE UNIQUE INDEX idx_run_input_current ON run_input(name) WHERE retired_at IS NULL;
  CREATE INDEX idx_run_input_object ON run_input(object_hash);

  CREATE TABLE input_stat_v6 (
    path        TEXT    PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    dev         INTEGER NOT NULL,
    object_hash BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO input_stat_v6 SELECT path, size, mtime_ns, ctime_ns, ino, dev, unhex(object_hash), recorded_at FROM input_stat;
  DROP TABLE input_stat;
  ALTER TABLE input_stat_v6 RENAME TO input_stat;

  CREATE TABLE attempt_v6 (
    step_id     INTEGER NOT NULL REFERENCES step(id),
    attempt     INTEGER NOT NULL,
    run_id      INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('done', 'failed')),
    started_at  INTEGER,
    ended_at    INTEGER NOT NULL,
    exit_code   INTEGER,
    signal      TEXT,
    error       TEXT,
    timed_out   INTEGER NOT NULL DEFAULT 0,
    log_hash    BLOB    REFERENCES object(hash),
    cpu_user_ms INTEGER,
    cpu_sys_ms  INTEGER,
    max_rss_kb  INTEGER,
    PRIMARY KEY (step_id, attempt)
  ) WITHOUT ROWID;
  INSERT INTO attempt_v6 SELECT step_id, attempt, run_id, status, started_at, ended_at, exit_code, signal, error, timed_out,
                                unhex(log_hash), cpu_user_ms, cpu_sys_ms, max_rss_kb FROM attempt;
  DROP TABLE attempt;
  ALTER TABLE attempt_v6 RENAME TO attempt;
  CREATE INDEX idx_attempt_log ON attempt(log_hash) WHERE log_hash <> ${EMPTY_SQL};
`;
