import type { Params } from '../inspect/query.js';

/**
 * The inspection SQL is written once, in SQLite's dialect (store/inspect/query.ts); this turns it
 * into PostgreSQL's. The rewrites, outside string literals:
 * - `?` and `:name` placeholders become `$1`, `$2`...; a named one used twice keeps its number;
 * - hashes: `unhex(X)` becomes `decode(X, 'hex')`, `lower(hex(X))` becomes `encode(X, 'hex')`, a
 *   blob literal `x'AB..'` becomes `decode('AB..', 'hex')` (bytea on this side, BLOB on that one);
 * - a list given as one JSON array parameter, `json_each(X) a`, becomes
 *   `json_array_elements_text(X::json) WITH ORDINALITY AS a(value, key)`: `a.value` is text there (CAST
 *   it to compare with a number), and `a.key` numbers the elements from 1, not 0 (join lists on it only);
 * - `CROSS JOIN t a ON` (SQLite's join-order hint) becomes `JOIN t a ON`;
 * - `COLLATE BINARY` (byte order, SQLite's default) becomes `COLLATE "C"`;
 * - `instr(a, b)` (where b starts in a, 0 if nowhere) becomes `strpos(a, b)`;
 * - `INSERT OR IGNORE INTO` becomes `INSERT INTO ... ON CONFLICT DO NOTHING`;
 * - temp tables: `temp.` is `pg_temp.`, BLOB is bytea, INTEGER is bigint, WITHOUT ROWID goes;
 * - a mixed-case alias (`AS stepId`) is quoted, since PostgreSQL folds unquoted names to lower case.
 * Anything else must already mean the same on both engines (the tests run every statement on both).
 */
export function toPostgres(sql: string, params: Params | undefined): { text: string; values: unknown[] } {
  const shape = translate(sql);
  if (params === undefined) return { text: shape.text, values: [] };
  if (Array.isArray(params)) return { text: shape.text, values: params };
  return { text: shape.text, values: shape.names.map((n) => params[n]) };
}

const cache = new Map<string, { text: string; names: string[] }>();

function translate(sql: string): { text: string; names: string[] } {
  const hit = cache.get(sql);
  if (hit) return hit;
  const names: string[] = [];
  let positional = 0;
  const statements = splitOutsideLiterals(sql.replace(/\bx'([0-9a-fA-F]*)'/g, "decode('$1', 'hex')"), ';').map(
    (statement) => {
      const ignore = /\bINSERT\s+OR\s+IGNORE\s+INTO\b/i.test(statement);
      const code = mapOutsideLiterals(statement, (part) =>
        part
          .replace(/\?/g, () => `$${++positional}`)
          .replace(/(?<![:\w]):([A-Za-z_]\w*)/g, (_m, name: string) => {
            if (!names.includes(name)) names.push(name);
            return `$${names.indexOf(name) + 1}`;
          })
          .replace(
            /\bjson_each\(([^()]+)\)\s+(\w+)/g,
            (_m, list: string, alias: string) =>
              `json_array_elements_text(${list}::json) WITH ORDINALITY AS ${alias}(value, key)`,
          )
          .replace(/\blower\(hex\(([^()]+)\)\)/g, "encode($1, 'hex')")
          .replace(/\bunhex\(([^()]+)\)/g, "decode($1, 'hex')")
          .replace(/\bCROSS JOIN(\s+[\w.]+\s+\w+\s+ON)\b/g, 'JOIN$1')
          .replace(/\bCOLLATE BINARY\b/g, 'COLLATE "C"')
          .replace(/\binstr\(/g, 'strpos(')
          .replace(/\bINSERT\s+OR\s+IGNORE\s+INTO\b/gi, 'INSERT INTO')
          .replace(/\btemp\./g, 'pg_temp.')
          .replace(/\bBLOB\b/g, 'bytea')
          .replace(/\bINTEGER\b/g, 'bigint')
          .replace(/\bWITHOUT ROWID\b/g, '')
          .replace(/\bAS ([A-Za-z_]\w*)\b/g, (m, alias: string) => (/[A-Z]/.test(alias) ? `AS "${alias}"` : m)),
      );
      return ignore && code.trim() !== '' ? `${code.trimEnd()} ON CONFLICT DO NOTHING` : code;
    },
  );
  if (positional > 0 && names.length > 0) throw new Error(`SQL mixes ? and :name placeholders: ${sql}`);
  const shape = { text: statements.join(';'), names };
  cache.set(sql, shape);
  return shape;
}

/** `sql` split at `sep` where it is not inside a '...' literal. */
function splitOutsideLiterals(sql: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < sql.length; i++) {
    if (sql[i] === "'") quoted = !quoted;
    else if (!quoted && sql[i] === sep) {
      out.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  out.push(sql.slice(start));
  return out;
}

/** `fn` applied to the parts of `sql` outside '...' literals ('' inside a literal is two quotes: still inside). */
function mapOutsideLiterals(sql: string, fn: (code: string) => string): string {
  return sql
    .split("'")
    .map((part, i) => (i % 2 === 0 ? fn(part) : part))
    .join("'");
}
