import Database from 'better-sqlite3';

/**
 * The names the -input arguments claim, to find one claimed twice before anything is written.
 * Kept in an anonymous SQLite database, which lives on disk beyond a small page cache: checking
 * 500,000 names costs no more memory than checking 5,000. Only built when two arguments or more
 * are given (one argument's names are distinct paths).
 */
export class InputNames {
  private readonly db = new Database('');
  private readonly insert;
  private readonly pathOf;

  constructor() {
    this.db.pragma('journal_mode = OFF');
    this.db.pragma('synchronous = OFF');
    this.db.exec('CREATE TABLE name(name TEXT PRIMARY KEY, path TEXT NOT NULL) WITHOUT ROWID');
    this.insert = this.db.prepare('INSERT INTO name(name, path) VALUES (?, ?) ON CONFLICT(name) DO NOTHING');
    this.pathOf = this.db.prepare('SELECT path FROM name WHERE name = ?').pluck();
    this.db.exec('BEGIN');
  }

  /** Claim a name for a path: null if it is new, else the path that claimed it first (maybe this one). */
  claim(name: string, path: string): string | null {
    if (this.insert.run(name, path).changes === 1) return null;
    return this.pathOf.get(name) as string;
  }

  close(): void {
    this.db.close();
  }
}
