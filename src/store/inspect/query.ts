/**
 * What the inspection code reads and writes the metadata through, whichever engine holds it: SQL in
 * one text for both, run by one implementation per engine (sqlite-query.ts; postgres/pg-query.ts).
 *
 * The SQL is SQLite's, kept to what the PostgreSQL side translates (postgres/pg-dialect.ts lists the
 * rewrites: placeholders, hex <-> blob, blob literals, temp tables, INSERT OR IGNORE, CROSS JOIN ...
 * ON). SQLite runs it as written, so its plans (and the tests that pin them) are untouched. Rows come
 * back as SQLite gives them on both: numbers for integers and counts, 0 or 1 for booleans.
 */
export type Params = unknown[] | Record<string, unknown>;

/**
 * After a text column in ORDER BY: byte order, as SQLite sorts by default, whatever collation the
 * PostgreSQL db was created with (the shim makes it COLLATE "C"). SQLite's indexes still serve it.
 */
export const BYTES = 'COLLATE BINARY';

export interface Query {
  readonly engine: 'sqlite' | 'postgres';
  all<T>(sql: string, params?: Params): Promise<T[]>;
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  /** A statement that writes: resolves to the number of rows it changed. */
  run(sql: string, params?: Params): Promise<number>;
  /** Several statements without parameters (temp table set-up and tear-down). */
  exec(sql: string): Promise<void>;
  /**
   * Put the ids of the current graph's steps into temp table `table` (id primary key): SQLite walks
   * it in SQL (CURRENT_STEPS_CTE, with its tp_match), PostgreSQL in JavaScript (pg-current.ts).
   */
  fillCurrentSteps(table: string): Promise<void>;
  /** `fn` in one write transaction (SQLite: BEGIN IMMEDIATE), rolled back if it throws. */
  tx<T>(fn: () => Promise<T>): Promise<T>;
}

/** The first column of the first row (SQLite's `pluck().get()`). */
export async function value<T>(q: Query, sql: string, params?: Params): Promise<T | undefined> {
  const row = await q.get<Record<string, unknown>>(sql, params);
  return row === undefined ? undefined : (Object.values(row)[0] as T);
}

/** The first column of every row. */
export async function column<T>(q: Query, sql: string, params?: Params): Promise<T[]> {
  return (await q.all<Record<string, unknown>>(sql, params)).map((r) => Object.values(r)[0] as T);
}

/**
 * A db opened for inspection: its queries, the directory that holds `objects/` (the db directory,
 * or PostgreSQL's -store), how messages name it, and the flags that name it again in a hint.
 */
export interface InspectDb {
  q: Query;
  store: string;
  name: string;
  dbArgs: string;
}
