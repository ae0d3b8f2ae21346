/**
 * 7: the current run inputs of a directory by an index (source, then the row id it holds anyway):
 * a re-run that gives a directory again counts them, and sums their ids, to see that its summary
 * still holds (input-cache.ts), and lists them to name those it no longer holds. Without it, each
 * was a walk of every current input through the name index and a look-up of its row.
 */
export const MIGRATION_7 = `
  CREATE INDEX idx_run_input_source ON run_input(source) WHERE retired_at IS NULL;
`;
