import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The spawner's helper: a small long-lived perl process (perl-base is part of every Debian
 * and most Unix systems) that forks the scripts for the engine. Forking a 5 MB perl costs a
 * fraction of forking the engine, whose fork copies the page tables of a 100 MB heap, and it
 * happens outside the engine's event loop.
 *
 * Messages on its stdin: `<byte length>\n<payload>`, payload NUL-separated fields:
 * `E, n, NAME=value...` defines base environment n (sent once, used by many runs);
 * `R, id, cwd, stdout path, stderr path, base n or empty, argc, argv..., NAME=value...` runs a
 * script with base n and these variables over it, as soon as fewer scripts than the limit (its
 * argument) run: the engine keeps the next steps queued here, so that a script starts the
 * moment another exits, however busy the engine is; `C, id` cancels a run still queued. Paths are /proc/<pid>/fd/<n> of the engine's
 * own open files; the same path for both opens it once (one file offset).
 * Replies on its stdout, one line each: `S id pid` started, `F id message` could not start,
 * `Q id` cancelled before it started,
 * `X id code signo` exited (`-` for the half that does not apply), sent once the helper has
 * SIGKILLed what the script left in its process group.
 * Each script is a session and process-group leader (setsid), stdin /dev/null, exactly the
 * given environment. When the engine is gone (EOF on stdin, SIGTERM, or a failed write for the
 * Python one, which also asks the kernel for SIGTERM when the engine dies) the helper sends
 * SIGTERM to every process group it started, SIGKILL half a second later, and exits: the same
 * as native/spawner.c.
 */
export const HELPER_SOURCE = String.raw`
use strict; use warnings; use POSIX ();
$| = 1;
my %id_of;
my $limit = $ARGV[0] // 1e9;
my @queue;
my $gone = 0;
$SIG{CHLD} = sub {};
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { $gone = 1 };
sub end_all {
  my @groups = map { -$_ } keys %id_of;
  kill 'TERM', @groups if @groups;
  for (1 .. 100) {
    my $pid = waitpid(-1, POSIX::WNOHANG());
    last if $pid < 0;
    select(undef, undef, undef, 0.005) if $pid == 0;
  }
  kill 'KILL', @groups if @groups;
  POSIX::_exit(0);
}
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $st = $?;
    my $id = delete $id_of{$pid};
    next unless defined $id;
    kill 'KILL', -$pid;
    if ($st & 127) { print "X $id - ", ($st & 127), "\n" } else { print "X $id ", ($st >> 8), " -\n" }
  }
}
sub child {
  my ($cwd, $out, $err, $argv, $env) = @_;
  POSIX::setsid() or die "setsid: $!\n";
  chdir $cwd or die "chdir $cwd: $!\n";
  my $null = POSIX::open('/dev/null', POSIX::O_RDONLY()) // die "/dev/null: $!\n";
  my $o = POSIX::open($out, POSIX::O_WRONLY()) // die "open stdout: $!\n";
  my $e = $err eq $out ? $o : (POSIX::open($err, POSIX::O_WRONLY()) // die "open stderr: $!\n");
  POSIX::dup2($null, 0) // die "dup2: $!\n";
  POSIX::dup2($o, 1) // die "dup2: $!\n";
  POSIX::dup2($e, 2) // die "dup2: $!\n";
  for my $fd ($null, $o, $e) { POSIX::close($fd) if $fd > 2 }
  $SIG{CHLD} = 'DEFAULT';
  $SIG{PIPE} = 'DEFAULT';
  %ENV = map { split /=/, $_, 2 } @$env;
  { no warnings; exec { $argv->[0] } @$argv; }
  die "$argv->[0]: $!\n";
}
my %bases;
sub handle {
  my @f = split /\0/, $_[0], -1;
  my $kind = $f[0];
  if ($kind eq 'E') { $bases{$f[1]} = [@f[2 .. $#f]]; return }
  if ($kind eq 'C') {
    my $before = @queue;
    @queue = grep { $_->[1] ne $f[1] } @queue;
    print "Q $f[1]\n" if @queue < $before;
    return;
  }
  push @queue, \@f;
}
sub start_queued {
  launch(shift @queue) while @queue && keys(%id_of) < $limit;
}
sub launch {
  my @f = @{$_[0]};
  shift @f;
  my ($id, $cwd, $out, $err, $base, $argc) = splice(@f, 0, 6);
  my @argv = splice(@f, 0, $argc);
  unshift @f, @{$bases{$base}} if $base ne '';
  # Perl opens pipes close-on-exec: the error pipe reads EOF once exec succeeds.
  pipe(my $er, my $ew) or do { print "F $id pipe: $!\n"; return };
  my $pid = fork();
  if (!defined $pid) { print "F $id fork: $!\n"; return }
  if ($pid == 0) {
    close $er;
    eval { child($cwd, $out, $err, \@argv, \@f) };
    my $msg = $@ || "exec failed\n";
    syswrite($ew, $msg);
    POSIX::_exit(127);
  }
  close $ew;
  my $msg = '';
  while (1) {
    my $r = sysread($er, my $chunk, 4096);
    if (!defined $r) { next if $!{EINTR}; last }
    last if $r == 0;
    $msg .= $chunk;
  }
  close $er;
  if ($msg ne '') {
    waitpid($pid, 0);
    $msg =~ s/\s+/ /g;
    print "F $id $msg\n";
    return;
  }
  $id_of{$pid} = $id;
  print "S $id $pid\n";
}
my $buf = '';
my $rin = '';
vec($rin, 0, 1) = 1;
# Each turn reads what the engine sent before reaping: a cancel written before a kill is
# seen before the killed script's slot could start the step it cancels.
while (1) {
  # SIGCHLD interrupts select; the timeout only covers one arriving just before it blocks.
  my $n = select(my $rout = $rin, undef, undef, %id_of ? 0.005 : undef);
  end_all() if $gone;
  if ($n > 0) {
    my $r = sysread(STDIN, $buf, 1 << 16, length $buf);
    if (!defined $r) { next if $!{EINTR}; last }
    last if $r == 0;
    while (1) {
      my $nl = index($buf, "\n");
      last if $nl < 0;
      my $len = substr($buf, 0, $nl);
      last if length($buf) < $nl + 1 + $len;
      my $payload = substr($buf, $nl + 1, $len);
      substr($buf, 0, $nl + 1 + $len) = '';
      handle($payload);
    }
  }
  reap();
  start_queued();
}
end_all();
`;

/**
 * The same helper in Python: os.posix_spawn (vfork-like in glibc: no page tables copied, no
 * copy-on-write faults), and SIGCHLD through signal.set_wakeup_fd, so an exit is never missed
 * between two selects. posix_spawn has no chdir action: the helper, single-threaded, moves
 * itself to the script's cwd first. A bare command name is looked up in the script's PATH,
 * as execvp in the child would. Python ignores SIGPIPE and SIGXFSZ: the scripts get every
 * signal back to its default.
 */
export const PY_HELPER_SOURCE = String.raw`
import collections, os, select, shutil, signal, sys, time
limit = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 30
queue = collections.deque()
r, w = os.pipe()
os.set_blocking(r, False)
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGCHLD, lambda *a: None)
gone = []
signal.signal(signal.SIGTERM, lambda *a: gone.append(1))
try:
    import ctypes
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        gone.append(1)
except Exception:
    pass
DEFAULTS = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP) and s < signal.SIGRTMIN]
ids = {}
where = {}
here = None
def end_all():
    groups = list(ids)
    for pid in groups:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.005)
        except ChildProcessError:
            break
    for pid in groups:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)
def reply(text):
    try:
        os.write(1, text.encode())
    except OSError:
        end_all()
def reap():
    while ids:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        i = ids.pop(pid, None)
        if i is None:
            continue
        # Whatever the script left running in its group goes with it (no error if nothing is left).
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        if os.WIFSIGNALED(st):
            reply('X %s - %d\n' % (i, os.WTERMSIG(st)))
        else:
            reply('X %s %d -\n' % (i, os.WEXITSTATUS(st)))
bases = {}
def handle(payload):
    f = payload.split(b'\0')
    if f[0] == b'E':
        bases[f[1]] = dict(kv.split(b'=', 1) for kv in f[2:])
    elif f[0] == b'C':
        for q in queue:
            if q[1] == f[1]:
                queue.remove(q)
                reply('Q %s\n' % f[1].decode())
                break
    else:
        queue.append(f)
def start_queued():
    while queue and len(ids) < limit:
        launch(queue.popleft())
def launch(f):
    global here
    i, cwd, out, err, base, argc = f[1].decode(), f[2], f[3], f[4], f[5], int(f[6])
    argv = f[7:7 + argc]
    env = dict(bases[base]) if base else {}
    env.update(kv.split(b'=', 1) for kv in f[7 + argc:])
    actions = [(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0), (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY, 0)]
    if err == out:
        actions.append((os.POSIX_SPAWN_DUP2, 1, 2))
    else:
        actions.append((os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY, 0))
    try:
        if cwd != here:
            os.chdir(cwd)
            here = cwd
        prog = argv[0]
        if b'/' not in prog:
            key = (prog, env.get(b'PATH'))
            if key not in where:
                found = shutil.which(prog.decode(), path=(env.get(b'PATH') or b'').decode())
                where[key] = found.encode() if found else None
            if where[key] is None:
                raise FileNotFoundError('%s: command not found' % prog.decode())
            prog = where[key]
        pid = os.posix_spawn(prog, argv, env, file_actions=actions, setsid=True, setsigdef=DEFAULTS, setsigmask=[])
    except OSError as e:
        reply('F %s %s\n' % (i, str(e).replace('\n', ' ')))
        return
    ids[pid] = i
    reply('S %s %d\n' % (i, pid))
buf = b''
# Each turn reads what the engine sent before reaping: a cancel written before a kill is
# seen before the killed script's slot could start the step it cancels.
while True:
    ready = select.select([0, r], [], [])[0]
    if gone:
        end_all()
    if r in ready:
        try:
            os.read(r, 4096)
        except BlockingIOError:
            pass
    if 0 in ready:
        try:
            data = os.read(0, 1 << 16)
        except OSError:
            data = b''
        if not data:
            end_all()
        buf += data
        while True:
            nl = buf.find(b'\n')
            if nl < 0:
                break
            n = int(buf[:nl])
            if len(buf) < nl + 1 + n:
                break
            handle(buf[nl + 1:nl + 1 + n])
            buf = buf[nl + 1 + n:]
    reap()
    start_queued()
`;

/** Only the C helper also stores a step's outputs (`P` runs, native/collect.c). */
export type HelperKind = 'c' | 'python' | 'perl';

/** Where `npm run build` puts the C helper (native/spawner.c), when a C compiler was there. */
export const NATIVE_HELPER = fileURLToPath(new URL('./native/task-pipeline-spawner', import.meta.url));

/**
 * Start a helper: the C one when it was built, else Python when python3 is on PATH, else perl;
 * null when none is (the executor then falls back). The hidden variable
 * TASK_PIPELINE_SPAWNER_HELPER=c|python|perl forces one (for measurements and tests).
 */
export function startHelper(limit: number): { process: ChildProcess; kind: HelperKind } | null {
  const forced = process.env.TASK_PIPELINE_SPAWNER_HELPER as HelperKind | undefined;
  const choice = forced ?? (executable(NATIVE_HELPER) ? 'c' : onPath('python3') ? 'python' : onPath('perl') ? 'perl' : null);
  if (choice === null) return null;
  const [cmd, args] = choice === 'c' ? [NATIVE_HELPER, []]
    : choice === 'python' ? ['python3', ['-c', PY_HELPER_SOURCE]] : ['perl', ['-e', HELPER_SOURCE]];
  // Its own process group: a Ctrl-C on the terminal is the engine's to handle (scripts go back to
  // pending), not a signal that kills the helper and fails the running steps.
  return { process: spawn(cmd, [...args, String(limit)], { stdio: ['pipe', 'pipe', 'inherit'], detached: true }), kind: choice };
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, cmd)));
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
