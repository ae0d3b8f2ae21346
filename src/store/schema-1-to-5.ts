// The first five versions of the schema, kept verbatim: an old db is brought forward through them.
/** Schema versions 1 to 5, as they were: hashes were 64-character hex text until version 6. */
export const MIGRATIONS_1_TO_5: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  -- One row per task version: editing a script adds a row, the old one stays as history.
  CREATE TABLE task (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    script      TEXT    NOT NULL,
    version     TEXT    NOT NULL,   -- sha256 of definition
    definition  TEXT    NOT NULL,   -- canonical JSON of {env, script, shell, stdout} (+ files since schema 3)
    created_at  INTEGER NOT NULL,
    UNIQUE (name, version)
  );
  CREATE INDEX idx_task_name ON task(name);

  CREATE TABLE object (
    hash        TEXT    PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- A step is (task version, object): the unit of work, done at most once.
  CREATE TABLE step (
    id          INTEGER PRIMARY KEY,
    task        INTEGER NOT NULL REFERENCES task(id),
    object_hash TEXT    NOT NULL REFERENCES object(hash),
    input_name  TEXT    NOT NULL,   -- the first name these bytes arrived under
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER,
    error       TEXT,
    log_hash    TEXT    REFERENCES object(hash),
    run_id      INTEGER,            -- the run that last executed it
    done_seq    INTEGER,            -- order in which steps became done: what reconcile has seen
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    UNIQUE (task, object_hash)
  );
  CREATE INDEX idx_step_task ON step(task, status, id);
  CREATE INDEX idx_step_object ON step(object_hash);
  CREATE INDEX idx_step_log ON step(log_hash);
  CREATE INDEX idx_step_done ON step(task, done_seq) WHERE done_seq IS NOT NULL;

  -- Provenance: the object of to_step was produced by from_step.
  CREATE TABLE step_link (
    from_step_id INTEGER NOT NULL REFERENCES step(id),
    to_step_id   INTEGER NOT NULL REFERENCES step(id),
    PRIMARY KEY (from_step_id, to_step_id)
  ) WITHOUT ROWID;
  CREATE INDEX idx_step_link_to ON step_link(to_step_id, from_step_id);

  -- What a done step left in OUTPUT_DIR, under its relative names.
  CREATE TABLE step_output (
    step_id     INTEGER NOT NULL REFERENCES step(id),
    name        TEXT    NOT NULL,
    object_hash TEXT    NOT NULL REFERENCES object(hash),
    PRIMARY KEY (step_id, name)
  ) WITHOUT ROWID;
  CREATE INDEX idx_step_output_object ON step_output(object_hash);

  CREATE TABLE run (
    id          INTEGER PRIMARY KEY,
    manifest    TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code   INTEGER,
    summary     TEXT
  );

  -- Files given with -input. They accumulate: every root task version sees all of them.
  CREATE TABLE run_input (
    object_hash TEXT    NOT NULL REFERENCES object(hash),
    name        TEXT    NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES run(id),
    PRIMARY KEY (object_hash, name)
  ) WITHOUT ROWID;

  -- The manifest as of the latest run, so that inspection needs no manifest.
  CREATE TABLE current_task (
    name           TEXT    PRIMARY KEY,
    task_id        INTEGER NOT NULL REFERENCES task(id),
    position       INTEGER NOT NULL,
    is_root        INTEGER NOT NULL,
    gather         INTEGER NOT NULL,
    spec           TEXT    NOT NULL,  -- the manifest entry as JSON
    gather_step_id INTEGER REFERENCES step(id)  -- a gather task's step over the latest listing
  ) WITHOUT ROWID;

  -- How far each edge has been reconciled: done_seq for task -> task edges (keyed with
  -- their match), the run id for run inputs -> root. A re-run only looks past the mark.
  CREATE TABLE reconciled (
    edge  TEXT    PRIMARY KEY,
    mark  INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE current_edge (
    from_task_id INTEGER NOT NULL REFERENCES task(id),
    to_task_id   INTEGER NOT NULL REFERENCES task(id),
    match        TEXT,               -- JSON array of globs; NULL lets every output through
    to_gather    INTEGER NOT NULL,
    PRIMARY KEY (from_task_id, to_task_id)
  ) WITHOUT ROWID;
  `,
  // 2: no index on step(object_hash). Its random keys cost a page write in nearly every
  // batch for every new step; the lookups by input hash (show, gc) go through
  // UNIQUE(task, object_hash) with `task IN (SELECT id FROM task)` instead: one probe per task version.
  `
  DROP INDEX idx_step_object;
  `,
  // 3: names are part of identity. A step is (task version, object, name): the same bytes under
  // two names are two steps. Old steps keep the name they ran under. `round` counts the
  // generations of a cycle a step is in, so that a cycle that never settles can be cut.
  // Run inputs are keyed by name: one current row per name, replaced and retired rows kept as
  // history. The reconcile marks are dropped so the next run derives the steps the new
  // identity asks for (done steps are found again, not re-run).
  `
  CREATE TABLE step_v3 (
    id          INTEGER PRIMARY KEY,
    task        INTEGER NOT NULL REFERENCES task(id),
    object_hash TEXT    NOT NULL REFERENCES object(hash),
    input_name  TEXT    NOT NULL,   -- the item's name: part of the step's identity
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER,
    error       TEXT,
    log_hash    TEXT    REFERENCES object(hash),
    run_id      INTEGER,
    done_seq    INTEGER,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    round       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (task, object_hash, input_name)
  );
  INSERT INTO step_v3(id, task, object_hash, input_name, status, attempts, exit_code, error, log_hash, run_id, done_seq,
                      created_at, started_at, finished_at)
    SELECT id, task, object_hash, input_name, status, attempts, exit_code, error, log_hash, run_id, done_seq,
           created_at, started_at, finished_at FROM step;
  DROP TABLE step;
  ALTER TABLE step_v3 RENAME TO step;
  CREATE INDEX idx_step_task ON step(task, status, id);
  CREATE INDEX idx_step_log ON step(log_hash);
  CREATE INDEX idx_step_done ON step(task, done_seq) WHERE done_seq IS NOT NULL;

  CREATE TABLE run_input_v3 (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    object_hash TEXT    NOT NULL REFERENCES object(hash),
    run_id      INTEGER NOT NULL REFERENCES run(id),  -- the run that added it
    source      TEXT,                                 -- the -input argument it came from (absolute)
    retired_at  INTEGER,                              -- null while current
    retired_how TEXT CHECK (retired_how IN ('replaced', 'removed'))
  );
  INSERT INTO run_input_v3(name, object_hash, run_id)
    SELECT name, object_hash, run_id FROM run_input ORDER BY run_id, name, object_hash;
  -- Before names were keys, an edited file was a second current input: the latest one wins.
  UPDATE run_input_v3 SET retired_at = 0, retired_how = 'replaced'
   WHERE EXISTS (SELECT 1 FROM run_input_v3 n WHERE n.name = run_input_v3.name AND n.id > run_input_v3.id);
  DROP TABLE run_input;
  ALTER TABLE run_input_v3 RENAME TO run_input;
  CREATE UNIQUE INDEX idx_run_input_current ON run_input(name) WHERE retired_at IS NULL;
  CREATE INDEX idx_run_input_object ON run_input(object_hash);
  DELETE FROM reconciled;
  `,
  // 4: the stat cache of run inputs (src/store/input-cache.ts), so that a directory given again
  // costs a stat per file, not a read and a hash. A cache, not a reference: gc ignores it, and a
  // row is trusted only while its object's file is in the store.
  `
  CREATE TABLE IF NOT EXISTS input_stat (
    path        TEXT    PRIMARY KEY,  -- absolute, as the walk found it
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    ino         INTEGER NOT NULL,     -- as signed 64-bit
    dev         INTEGER NOT NULL,     -- as signed 64-bit
    object_hash TEXT    NOT NULL,     -- what was read, stored before this row was written
    recorded_at INTEGER NOT NULL      -- ms, taken before the stat
  ) WITHOUT ROWID;
  `,
  // 5: every attempt of a step, not only its latest: a failed one, each retry, a later run's.
  // Numbered by the step's `attempts` counter as it became. A step that had finished gets one row,
  // its latest attempt, from what its row holds (the earlier ones were never recorded; their
  // number tells how many there were); signal and resource use were not measured then.
  `
  CREATE TABLE attempt (
    step_id     INTEGER NOT NULL REFERENCES step(id),
    attempt     INTEGER NOT NULL,   -- 1, 2, ...: the step's attempts count after it
    run_id      INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('done', 'failed')),
    started_at  INTEGER,
    ended_at    INTEGER NOT NULL,
    exit_code   INTEGER,
    signal      TEXT,
    error       TEXT,
    timed_out   INTEGER NOT NULL DEFAULT 0,
    log_hash    TEXT    REFERENCES object(hash),
    cpu_user_ms INTEGER,            -- the script's process tree; null when not measured
    cpu_sys_ms  INTEGER,
    max_rss_kb  INTEGER,
    PRIMARY KEY (step_id, attempt)
  ) WITHOUT ROWID;
  -- A step claimed again since it finished holds the new claim's start and run: those are not its attempt's.
  INSERT INTO attempt(step_id, attempt, run_id, status, started_at, ended_at, exit_code, error, timed_out, log_hash)
    SELECT id, attempts, CASE WHEN started_at <= finished_at THEN run_id END,
           CASE WHEN error IS NULL THEN 'done' ELSE 'failed' END, CASE WHEN started_at <= finished_at THEN started_at END,
           finished_at, exit_code, error, coalesce(error GLOB 'timed out after *', 0), log_hash
      FROM step WHERE attempts > 0 AND finished_at IS NOT NULL;
  `,
];
