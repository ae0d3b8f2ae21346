/*
 * task-pipeline's spawner helper: a small long-lived process that starts the engine's scripts,
 * reaps them and stores their outputs, so that the engine's thread only writes requests and
 * records rows (spawner-executor.ts is the other end).
 *
 * stdin:  `<byte length>\n<payload>`, payload NUL-separated fields:
 *   E n NAME=value...                      base environment n (sent once, used by many runs)
 *   R id cwd stdout stderr base flags objects outdir input state log argc argv... NAME=value...
 *                                          run (queued while `limit` run): the variables over base n;
 *                                          stdout/stderr are paths to open (/proc/<engine>/fd/N);
 *                                          flags: d (-durable), v (tee the output: `T` lines);
 *                                          objects... log: what to store when it ends (collect.c),
 *                                          objects empty for nothing
 *   C id                                   cancel a run still queued
 * stdout, one line each: `S id pid` started, `F id message` could not start, `Q id` cancelled,
 *   `T id text` a line of its output (v), then `O`/`K` (collect.c), then
 *   `X id code|- signo|- user_us sys_us maxrss_kb` (wait4's rusage of its process tree),
 *   written together: at the end of a turn of the loop when no run is queued, else once the
 *   oldest has waited REPLY_DELAY_MS.
 *
 * Each script leads a new session, stdin /dev/null, every signal at its default and none
 * blocked, exactly the environment given. When it exits, whatever it left in its process group
 * is SIGKILLed before `X`. When the engine is gone (EOF on stdin, a failed write, or SIGTERM,
 * which the kernel sends when the engine dies: PR_SET_PDEATHSIG) every group started gets
 * SIGTERM, SIGKILL END_GRACE_MS later, and the helper exits: nobody is left to record the work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawner.h"

struct request { char *payload; struct fields f; struct request *next; };
static struct request *queue_head, *queue_tail;
static struct fields *bases;
static size_t bases_n;
static long limit = 1L << 30;
static int wake[2];
static volatile sig_atomic_t engine_gone;

/* Replies wait here at least until the end of the turn: the `X` of a script and the `S` of the
 * one started in its place go in one write, one wakeup of the engine instead of two. */
static char out_buf[1 << 16];
static size_t out_len;
static long out_since; /* when the oldest reply in out_buf was put there */
/* How long replies may wait for company while runs are queued (bench/PROFILE.md). */
#define REPLY_DELAY_MS 4
/* How long the scripts of a vanished engine get between SIGTERM and SIGKILL. */
#define END_GRACE_MS 500

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void end_all(void) {
  for (size_t i = 0; i < running_n; i++) kill(-running[i].pid, SIGTERM);
  for (long until = now_ms() + END_GRACE_MS; now_ms() < until;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid < 0 && errno == ECHILD) break;
    if (pid > 0) continue;
    struct timespec t = { 0, 5 * 1000000L };
    nanosleep(&t, NULL);
  }
  /* Leaders that exited may have left others in their groups. */
  for (size_t i = 0; i < running_n; i++) kill(-running[i].pid, SIGKILL);
  _exit(0);
}

static void flush_replies(void) {
  for (char *p = out_buf; out_len > 0;) {
    ssize_t w = write(1, p, out_len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) end_all(); /* the engine is gone */
    p += w;
    out_len -= (size_t)w;
  }
}

void reply(const char *fmt, ...) {
  for (int attempt = 0; attempt < 2; attempt++) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof out_buf - out_len;
    int n = vsnprintf(out_buf + out_len, room, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < room) {
      if (out_len == 0) out_since = now_ms();
      out_len += (size_t)n;
      return;
    }
    if (out_len == 0) {
      /* Longer than the whole buffer: cut, still one line. */
      out_buf[sizeof out_buf - 2] = '\n';
      out_len = sizeof out_buf - 1;
      out_since = now_ms();
      return;
    }
    flush_replies();
  }
}

static void free_request(struct request *r) {
  free(r->f.v);
  free(r->payload);
  free(r);
}

static void start_queued(void) {
  while (queue_head && (long)running_n < limit) {
    struct request *r = queue_head;
    queue_head = r->next;
    if (!queue_head) queue_tail = NULL;
    launch(&r->f, bases, bases_n);
    free_request(r);
  }
}

static long us_of(struct timeval t) { return (long)t.tv_sec * 1000000L + t.tv_usec; }

/* Scripts that exited, in the order reaped: answered after the next ones have started. */
struct exited { char *id; int status; struct rusage ru; struct collect_spec *collect; };

static void reap(void) {
  struct exited *done = NULL;
  size_t done_n = 0, done_cap = 0;
  for (;;) {
    int st;
    struct rusage ru;
    pid_t pid = wait4(-1, &st, WNOHANG, &ru);
    if (pid <= 0) break;
    for (size_t i = 0; i < running_n; i++) {
      if (running[i].pid != pid) continue;
      /* Whatever the script left running in its group goes with it. */
      kill(-pid, SIGKILL);
      tee_drain(&running[i], 1);
      if (done_n == done_cap) {
        done_cap = done_cap ? done_cap * 2 : 4;
        done = realloc(done, done_cap * sizeof *done);
        if (!done) abort();
      }
      done[done_n++] = (struct exited){ running[i].id, st, ru, running[i].collect };
      running[i] = running[--running_n];
      break;
    }
  }
  if (done_n == 0) return;
  /* The freed slots take their next scripts before the outputs of these are stored. */
  start_queued();
  for (size_t i = 0; i < done_n; i++) {
    struct exited *e = &done[i];
    int ok = WIFEXITED(e->status) && WEXITSTATUS(e->status) == 0;
    if (e->collect) collect_step(e->id, e->collect, ok);
    long user = us_of(e->ru.ru_utime), sys = us_of(e->ru.ru_stime);
    if (WIFSIGNALED(e->status)) reply("X %s - %d %ld %ld %ld\n", e->id, WTERMSIG(e->status), user, sys, e->ru.ru_maxrss);
    else reply("X %s %d - %ld %ld %ld\n", e->id, WEXITSTATUS(e->status), user, sys, e->ru.ru_maxrss);
    free(e->id);
    free_collect(e->collect);
  }
  free(done);
}

void handle(char *payload, size_t len) {
  struct request *r = malloc(sizeof *r);
  if (!r) abort();
  r->payload = payload;
  r->f = split(payload, len);
  r->next = NULL;
  char *kind = r->f.v[0];
  if (strcmp(kind, "E") == 0 && r->f.n >= 2) {
    size_t k = strtoul(r->f.v[1], NULL, 10);
    if (k >= bases_n) {
      bases = realloc(bases, (k + 1) * sizeof *bases);
      if (!bases) abort();
      memset(bases + bases_n, 0, (k + 1 - bases_n) * sizeof *bases);
      bases_n = k + 1;
    }
    /* Kept for the helper's life: the variables point into this payload. */
    bases[k].v = r->f.v + 2;
    bases[k].n = r->f.n - 2;
    while (bases[k].n > 0 && bases[k].v[bases[k].n - 1][0] == '\0') bases[k].n--;
    free(r);
  } else if (strcmp(kind, "C") == 0 && r->f.n >= 2) {
    for (struct request **p = &queue_head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
      if (strcmp((*p)->f.v[1], r->f.v[1]) != 0) continue;
      struct request *gone = *p;
      *p = gone->next;
      if (queue_tail == gone) queue_tail = prev;
      reply("Q %s\n", r->f.v[1]);
      free_request(gone);
      break;
    }
    free_request(r);
  } else if (strcmp(kind, "R") == 0) {
    if (queue_tail) queue_tail->next = r;
    else queue_head = r;
    queue_tail = r;
  } else {
    free_request(r);
  }
}

static void on_signal(int sig) {
  if (sig == SIGTERM) engine_gone = 1;
  int saved = errno;
  ssize_t ignored = write(wake[1], "", 1);
  (void)ignored;
  errno = saved;
}

int main(int argc, char **argv) {
  if ((argc == 3 || argc == 6) && strcmp(argv[1], "--list") == 0) return list_dir(argc - 2, argv + 2);
  if (argc > 1) limit = strtol(argv[1], NULL, 10);
  if (limit < 1) limit = 1;
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  sa.sa_flags = 0;
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* No signal comes for a parent that died just before the request: then getppid has changed.
   * (One that died earlier still closed our stdin.) */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != parent) engine_gone = 1;

  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  struct pollfd *p = NULL;
  size_t p_cap = 0;
  if (!buf) return 1;
  /* Each turn reads what the engine sent before reaping: a cancel written before a kill is
   * seen before the killed script's slot could start the step it cancels. */
  for (;;) {
    if (p_cap < running_n + 2) {
      p_cap = running_n + 18;
      p = realloc(p, p_cap * sizeof *p);
      if (!p) abort();
    }
    p[0] = (struct pollfd){ 0, POLLIN, 0 };
    p[1] = (struct pollfd){ wake[0], POLLIN, 0 };
    size_t n = 2;
    for (size_t i = 0; i < running_n; i++) p[n++] = (struct pollfd){ running[i].tee, POLLIN, 0 };
    int timeout = -1;
    if (out_len > 0) {
      long waited = now_ms() - out_since;
      timeout = waited >= REPLY_DELAY_MS ? 0 : (int)(REPLY_DELAY_MS - waited);
    }
    if (poll(p, n, timeout) < 0 && errno != EINTR) end_all();
    if (engine_gone) end_all();
    if (p[1].revents & POLLIN) {
      char drain[256];
      while (read(wake[0], drain, sizeof drain) > 0) {}
    }
    for (size_t i = 2; i < n; i++) {
      if (p[i].revents & (POLLIN | POLLHUP)) tee_drain(&running[i - 2], 0);
    }
    if (p[0].revents & (POLLIN | POLLHUP)) read_requests(&buf, &cap, &len);
    reap();
    start_queued();
    /* With nothing queued the engine must hear at once, to send more. */
    if (out_len > 0 && (!queue_head || now_ms() - out_since >= REPLY_DELAY_MS)) flush_replies();
  }
}
