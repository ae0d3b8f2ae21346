// The lines protocol's wire format (src/executor/lines/codec.ts), as pure functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, encodeRequest, parseReply } from '../dist/executor/lines/codec.js';

test('the lines codec: one request line, replies strictly {"ok": true} or {"error": "..."}', () => {
  const line = encodeRequest({
    input_file: '/x/in\nname',
    input_name: 'a\nb',
    input_hash: 'h',
    output_dir: '/o',
    tmpdir: '/t',
    step_id: 7,
  });
  assert.equal(line.indexOf('\n'), line.length - 1, 'exactly one newline, at the end');
  assert.equal(JSON.parse(line).input_name, 'a\nb');
  assert.deepEqual(parseReply('{"ok": true}'), { ok: true });
  assert.deepEqual(parseReply('{"ok":true}\r'), { ok: true });
  assert.deepEqual(parseReply('{"error": "boom"}'), { ok: false, error: 'boom' });
  for (const bad of [
    'hello',
    '',
    '{"ok": false}',
    '{"ok": "yes"}',
    '[]',
    'null',
    '{"error": ""}',
    '{"error": 3}',
    '{"ok": true, "error": "x"}',
  ]) {
    assert.ok('garbage' in parseReply(bad), `${JSON.stringify(bad)} is not a reply`);
  }
  const s = new LineSplitter(8);
  assert.deepEqual(s.push(Buffer.from('ab')), []);
  assert.deepEqual(s.push(Buffer.from('c\nd\n')), ['abc', 'd']);
  assert.equal(s.push(Buffer.from('123456789')), 'too-long');
});
