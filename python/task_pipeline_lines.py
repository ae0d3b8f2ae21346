"""task_pipeline_lines: write a task-pipeline step function once, run it as a long-lived process.

A task with ``protocol = "lines"`` is started once per concurrency slot and fed one JSON line per
step on stdin; it answers one JSON line per step on stdout. This module speaks that protocol, so a
script only says what one step does::

    import heavy_library                      # paid for once, not once per step
    import task_pipeline_lines

    def step(s):
        with open(s.input_file) as f, open(s.output_path("result.txt"), "w") as out:
            out.write(heavy_library.process(f.read()))

    task_pipeline_lines.run(step)

For each request, ``run`` sets ``os.environ`` (INPUT_FILE, INPUT_NAME, INPUT_HASH, OUTPUT_DIR,
TMPDIR, STEP_ID and, for a gather, INPUT_DIR) and ``tempfile.tempdir`` as a one-shot step would
have them, calls the function with a ``Step``, and answers ``{"ok": true}``; an exception becomes
``{"error": "..."}`` (its traceback goes to the step's log) and the process carries on. While the
function runs, ``print`` goes to stderr (the step's log): stdout carries the replies. ``run``
returns when stdin ends (the engine closes it at the end of a run).

A step must not depend on what earlier steps in the same process did (a cache that changes
results, a counter): ``task-pipeline audit`` re-runs steps each in a fresh process and reports
outputs that differ.

Shipped with task-pipeline (python/ in the package); the engine puts its directory on PYTHONPATH
for ``protocol = "lines"`` tasks. Python 3.8 or later, standard library only.
"""

import ctypes
import json
import os
import sys
import tempfile
import traceback

__all__ = ["Step", "run"]

_ENV = {
    "input_file": "INPUT_FILE",
    "input_name": "INPUT_NAME",
    "input_hash": "INPUT_HASH",
    "output_dir": "OUTPUT_DIR",
    "tmpdir": "TMPDIR",
    "step_id": "STEP_ID",
    "input_dir": "INPUT_DIR",
}


class Step:
    """One step's request: the same values a one-shot script finds in its environment."""

    def __init__(self, request):
        self.request = request
        self.input_file = request["input_file"]
        self.input_name = request["input_name"]
        self.input_hash = request["input_hash"]
        self.output_dir = request["output_dir"]
        self.tmpdir = request["tmpdir"]
        self.step_id = request["step_id"]
        self.input_dir = request.get("input_dir")

    def output_path(self, name):
        """The path of output ``name`` (may contain "/"; its directories are made)."""
        path = os.path.join(self.output_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def read_text(self, encoding="utf-8"):
        with open(self.input_file, encoding=encoding) as f:
            return f.read()


class _StepEnv:
    """Sets the step's variables in the process environment without leaking a string per step.

    ``os.environ[k] = v`` calls C's setenv, and glibc's setenv never frees the ``NAME=value``
    strings it replaces (a caller may still hold one from getenv): about 100 bytes per variable per
    step, 400 MB over a million steps of one process. Here each variable's ``NAME=value`` lives in a
    buffer this object owns, given to C's putenv (which keeps the pointer, no copy) and rewritten in
    place while the value fits. os.environ's mapping is updated to match, so ``os.environ``,
    ``os.getenv`` and subprocesses all see the step's values, as with a one-shot script. Where
    putenv is not reachable through ctypes, os.environ is set as usual (and leaks).
    """

    def __init__(self):
        self._buffers = {}
        data = getattr(os.environ, "_data", None)
        try:
            libc = ctypes.CDLL(None)
            putenv, getenv = libc.putenv, libc.getenv
            putenv.argtypes = [ctypes.c_char_p]
            getenv.argtypes = [ctypes.c_char_p]
            getenv.restype = ctypes.c_void_p
        except (OSError, AttributeError):
            putenv = getenv = None
        self._putenv = putenv if isinstance(data, dict) else None
        self._getenv = getenv

    def set(self, var, value):
        if self._putenv is None:
            os.environ[var] = value
            return
        entry = os.fsencode(var) + b"=" + os.fsencode(value)
        buf = self._buffers.get(var)
        if buf is not None and len(entry) < len(buf) and self._in_environ(var, buf):
            ctypes.memmove(buf, entry + b"\0", len(entry) + 1)
        else:
            # Room for longer values to come, so that most steps rewrite in place.
            buf = ctypes.create_string_buffer(entry, max(2 * len(entry), 256))
            if self._putenv(buf) != 0:
                raise OSError("putenv failed for " + var)
            # The C environment points here now: the old buffer can go, this one must stay.
            self._buffers[var] = buf
        os.environ._data[os.environ.encodekey(var)] = os.environ.encodevalue(value)

    def _in_environ(self, var, buf):
        """The C environment's entry for var is still this buffer (the step did not set or unset it)."""
        value = self._getenv(os.fsencode(var))
        return value == ctypes.addressof(buf) + len(os.fsencode(var)) + 1

    def unset(self, var):
        os.environ.pop(var, None)
        self._buffers.pop(var, None)


_step_env = _StepEnv()


def _set_env(request):
    for key, var in _ENV.items():
        if key in request:
            _step_env.set(var, str(request[key]))
        else:
            _step_env.unset(var)
    tempfile.tempdir = request["tmpdir"]


def _reply(out, value):
    sys.stderr.flush()
    out.write(json.dumps(value) + "\n")
    out.flush()


def run(fn, stdin=None, stdout=None):
    """Call ``fn(step)`` for each request line until stdin ends, answering each."""
    stdin = stdin if stdin is not None else sys.stdin
    out = stdout if stdout is not None else sys.stdout
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                _set_env(request)
                fn(Step(request))
            except Exception as e:  # the step fails; the process carries on
                traceback.print_exc()
                _reply(out, {"error": "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__})
            else:
                _reply(out, {"ok": True})
    finally:
        sys.stdout = saved
