import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The spawner's helper: a small long-lived perl process (perl-base is part of every Debian
 * and most Unix systems) that forks the scripts for the engine. Forking a 5 MB perl costs a
 * fraction of forking the engine, whose fork copies the page tables of a 100 MB heap, and it
 * happens outside the engine's event loop.
 *
 * Requests on its stdin: `<byte length>\n<payload>`, payload = NUL-separated
 * `id, cwd, stdout path, stderr path, argc, argv..., NAME=value...`. Paths are /proc/<pid>/fd/<n>
 * of the engine's own open files; the same path for both opens it once (one file offset).
 * Replies on its stdout, one line each: `S id pid` started, `F id message` could not start,
 * `X id code signo` exited (`-` for the half that does not apply).
 * Each script is a session and process-group leader (setsid), stdin /dev/null, exactly the
 * given environment. EOF on stdin ends the helper (the engine is gone).
 */
export const HELPER_SOURCE = String.raw`
use strict; use warnings; use POSIX ();
$| = 1;
my %id_of;
$SIG{CHLD} = sub {};
$SIG{PIPE} = 'IGNORE';
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $st = $?;
    my $id = delete $id_of{$pid};
    next unless defined $id;
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
  exec { $argv->[0] } @$argv;
  die "$argv->[0]: $!\n";
}
sub launch {
  my @f = split /\0/, $_[0], -1;
  my ($id, $cwd, $out, $err, $argc) = splice(@f, 0, 5);
  my @argv = splice(@f, 0, $argc);
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
while (1) {
  reap();
  # SIGCHLD interrupts select; the timeout only covers one arriving just before it blocks.
  my $n = select(my $rout = $rin, undef, undef, %id_of ? 0.005 : undef);
  next unless $n > 0;
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
    launch($payload);
  }
}
`;

/** Start a helper. TASK_PIPELINE_SPAWNER_PERL names another perl (hidden; for tests and odd systems). */
export function startHelper(): ChildProcess {
  const perl = process.env.TASK_PIPELINE_SPAWNER_PERL ?? 'perl';
  return spawn(perl, ['-e', HELPER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
}
