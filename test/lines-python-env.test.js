// The shipped Python helper (python/task_pipeline_lines.py) sets each step's variables for the
// step's code, its os.environ and the subprocesses it starts, as a one-shot script has them, without
// the memory leak of C's setenv (glibc keeps every NAME=value string it replaces): a long-lived
// process runs hundreds of thousands of steps. Real python3, fed requests through `run`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON_DIR = join(fileURLToPath(new URL('..', import.meta.url)), 'python');
const STEPS = 100_000;

// Resident memory before and after STEPS requests of distinct paths, names and hashes; the step
// checks what it sees, and every 20,000th step starts a shell that prints its INPUT_FILE. Step 5 sets
// INPUT_NAME itself: the steps after it must still get their own, in os.environ and in a subprocess.
const PROGRAM = `
import json, os, subprocess, sys
import task_pipeline_lines as t

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if sys.argv[1] == "setenv":
    # The plain way, for comparison: os.environ set per step, through C's setenv.
    def set_env(request):
        for key, var in t._ENV.items():
            if key in request:
                os.environ[var] = str(request[key])
            else:
                os.environ.pop(var, None)
    t._set_env = set_env

def requests():
    for i in range(${STEPS}):
        yield json.dumps({"input_file": "/db/tmp/slot-0/in/item-%07d.txt" % i, "input_name": "item-%07d.txt" % i,
                          "input_hash": "%064x" % (i * 7919), "output_dir": "/db/tmp/slot-0/out",
                          "tmpdir": "/db/tmp/slot-0/scratch", "step_id": i + 1}) + "\\n"

seen = []
def step(s):
    assert os.environ["INPUT_FILE"] == s.input_file and os.getenv("INPUT_HASH") == s.input_hash
    assert os.environ["STEP_ID"] == str(s.step_id) and "INPUT_DIR" not in os.environ
    assert os.environ["INPUT_NAME"] == s.input_name
    if s.step_id % 20000 == 1:
        seen.append(subprocess.run(["sh", "-c", 'printf "%s %s %s" "$INPUT_FILE" "$INPUT_NAME" "$STEP_ID"'],
                                   capture_output=True, text=True).stdout)
    if s.step_id == 5:
        os.environ["INPUT_NAME"] = "set by the step"   # the next step must still get its own

class Replies:
    """Checks each reply as it comes (a buffer of them all would itself grow)."""
    bad = []
    def write(self, text):
        if text != '{"ok": true}\\n' and len(self.bad) < 3:
            self.bad.append(text)
    def flush(self):
        pass

warm = rss()
replies = Replies()
t.run(step, requests(), replies)
print(json.dumps({"grew": rss() - warm, "bad": replies.bad, "seen": seen}))
`;

function runSteps(mode) {
  const out = execFileSync('python3', ['-c', PROGRAM, mode], {
    env: { ...process.env, PYTHONPATH: PYTHON_DIR },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

test('each step sees its own variables, in os.environ and in a subprocess, and memory stays flat', () => {
  const r = runSteps('helper');
  assert.deepEqual(r.bad, [], 'every step answered ok');
  assert.deepEqual(r.seen, [
    '/db/tmp/slot-0/in/item-0000000.txt item-0000000.txt 1',
    '/db/tmp/slot-0/in/item-0020000.txt item-0020000.txt 20001',
    '/db/tmp/slot-0/in/item-0040000.txt item-0040000.txt 40001',
    '/db/tmp/slot-0/in/item-0060000.txt item-0060000.txt 60001',
    '/db/tmp/slot-0/in/item-0080000.txt item-0080000.txt 80001',
  ]);
  assert.ok(r.grew < 4 * 2 ** 20, `resident memory grew by ${r.grew} bytes over ${STEPS} steps`);
});

test('setting os.environ per step the plain way grows memory (the check above can fail)', () => {
  const r = runSteps('setenv');
  assert.deepEqual(r.bad, []);
  assert.ok(r.grew > 16 * 2 ** 20, `resident memory grew by only ${r.grew} bytes over ${STEPS} steps`);
});
