// Pure logic of the PostgreSQL store: which failures are waited out, and URLs in messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPostgresUrl, isTransient, redactUrl } from '../dist/store/postgres/pg-db.js';

test('a lost or refused connection, a restart and a deadlock are tried again; a SQL error is not', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOENT', '57P01', '57P03', '08006', '40001', '40P01'])
    assert.equal(isTransient(Object.assign(new Error('x'), { code })), true, code);
  assert.equal(isTransient(new Error('Connection terminated unexpectedly')), true);
  for (const code of ['42P01', '23505', '3D000', '28P01', undefined])
    assert.equal(isTransient(Object.assign(new Error('x'), { code })), false, String(code));
  assert.equal(isTransient(null), false);
});

test('postgres URLs are recognised, and their passwords never printed', () => {
  assert.equal(isPostgresUrl('postgres://u@h/db'), true);
  assert.equal(isPostgresUrl('postgresql://u@h/db'), true);
  assert.equal(isPostgresUrl('./db'), false);
  assert.equal(isPostgresUrl('/tmp/postgres://x'), false);
  assert.equal(redactUrl('postgres://pipe:s3cret@dbhost:5432/pipe'), 'postgres://pipe:***@dbhost:5432/pipe');
  assert.equal(redactUrl('postgres://pipe@dbhost/pipe'), 'postgres://pipe@dbhost/pipe');
});
