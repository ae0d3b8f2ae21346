/*
 * task-pipeline's spawner helper in C: the same protocol as the python3 and perl helpers in
 * spawner-helper.ts (read that comment first), at a fraction of their cost per script.
 *
 * stdin:  `<byte length>\n<payload>`, payload NUL-separated fields:
 *           E n NAME=value...                                  base environment n
 *           R id cwd stdout stderr base argc argv... NAME=value...  run (queued while `limit` run)
 *           P id cwd stdout stderr base objects outdir input state log flags argc argv... NAME=value...
 *                                                              run, and when it exits 0 store its
 *                                                              outputs and log (collect.c)
 *           C id                                               cancel a run still queued
 * stdout: `S id pid`, `F id message`, `Q id`, `X id code -` or `X id - signo`, one line each
 *         (a P run's `O` and `K` lines come before its `X`),
 *         written together: at the end of a turn of the loop when no run is queued, else
 *         once the oldest has waited REPLY_DELAY_MS.
 *
 * Scripts are started with posix_spawn (vfork-like: nothing of this process is copied), each
 * the leader of a new session, stdin /dev/null, every signal at its default and none blocked,
 * exactly the environment given. When a script exits, whatever it left in its process group is
 * SIGKILLed before `X` is written. When the engine is gone (EOF on stdin, a failed write to
 * stdout, or SIGTERM, which the kernel also sends when the engine dies: PR_SET_PDEATHSIG) every
 * process group the helper started gets SIGTERM, and SIGKILL END_GRACE_MS later (or at once
 * when their leaders have all exited), and the helper exits: nobody is left to record what the
 * scripts make, and the next run must not find them still at work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collect.h"

struct fields { char **v; size_t n; };

/* A message's payload split in place at its NULs. */
static struct fields split(char *payload, size_t len) {
  struct fields f = { NULL, 0 };
  size_t cap = 16;
  f.v = malloc(cap * sizeof *f.v);
  if (!f.v) abort();
  f.v[f.n++] = payload;
  for (size_t i = 0; i < len; i++) {
    if (payload[i] != '\0') continue;
    if (f.n == cap) {
      cap *= 2;
      f.v = realloc(f.v, cap * sizeof *f.v);
      if (!f.v) abort();
    }
    f.v[f.n++] = payload + i + 1;
  }
  return f;
}

struct request { char *payload; struct fields f; struct request *next; };
static struct request *queue_head, *queue_tail;

struct running { pid_t pid; char *id; struct collect_spec *collect; };
static struct running *running;
static size_t running_n, running_cap;

static struct fields *bases;
static size_t bases_n;

static long limit = 1L << 30;
static sigset_t child_default;
static int wake[2];

/* Replies wait here, at least until the end of the loop's turn: the `X` of a script and the
 * `S` of the one started in its place go in one write, one wakeup of the engine instead of two. */
static char out_buf[1 << 16];
static size_t out_len;
/* When the oldest reply still in out_buf was written there. */
static long out_since;
/*
 * How long a reply may wait for others while runs are queued here. Each write wakes the
 * engine on the other core (an IPI, a VM exit on this kind of machine); scripts of a few ms
 * end several to a write. The engine keeps enough queued here to cover it (spawner-executor.ts).
 */
#define REPLY_DELAY_MS 4

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* How long the scripts of a vanished engine get between SIGTERM and SIGKILL. */
#define END_GRACE_MS 500

static void end_all(void) {
  for (size_t i = 0; i < running_n; i++) kill(-running[i].pid, SIGTERM);
  long until = now_ms() + END_GRACE_MS;
  while (now_ms() < until) {
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

static volatile sig_atomic_t engine_gone;

static void flush_replies(void) {
  for (char *p = out_buf; out_len > 0;) {
    ssize_t w = write(1, p, out_len);
    if (w < 0) {
      if (errno == EINTR) continue;
      end_all(); /* the engine is gone */
    }
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

/* The value of NAME in an environment given as NAME=value strings, or NULL. */
static const char *lookup(char **env, size_t n, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < n; i++) {
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') return env[i] + len + 1;
  }
  return NULL;
}

/* A bare command name looked up in the script's own PATH, as execvp in the child would. */
static char *resolve(const char *prog, const char *path) {
  if (strchr(prog, '/')) return strdup(prog);
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  size_t plen = strlen(prog);
  for (const char *dir = path;;) {
    const char *end = strchr(dir, ':');
    size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
    char *full = malloc(dlen + plen + 3);
    if (!full) abort();
    if (dlen == 0) sprintf(full, "./%s", prog);
    else sprintf(full, "%.*s/%s", (int)dlen, dir, prog);
    if (access(full, X_OK) == 0) return full;
    free(full);
    if (!end) return NULL;
    dir = end + 1;
  }
}

static void one_line(char *s) {
  for (; *s; s++) if (*s == '\n' || *s == '\r') *s = ' ';
}

static void free_collect(struct collect_spec *c) {
  if (!c) return;
  free(c->objects);
  free(c->out_dir);
  free(c->input);
  free(c->log);
  free(c);
}

static void launch(struct request *r) {
  struct fields *f = &r->f;
  /* P: R with six more fields after base: objects, OUTPUT_DIR, the input object, its state, log, flags. */
  size_t argc_at = strcmp(f->v[0], "P") == 0 ? 12 : 6;
  if (f->n < argc_at + 1) { reply("F %s malformed request\n", f->n > 1 ? f->v[1] : "?"); return; }
  char *id = f->v[1], *cwd = f->v[2], *out = f->v[3], *err = f->v[4], *base = f->v[5];
  long argc = strtol(f->v[argc_at], NULL, 10);
  if (argc < 1 || argc_at + 1 + (size_t)argc > f->n) { reply("F %s malformed request\n", id); return; }
  char **extra = f->v + argc_at + 1 + argc;
  size_t extra_n = f->n - argc_at - 1 - (size_t)argc;
  char **argv = malloc(((size_t)argc + 1) * sizeof *argv);
  if (!argv) abort();
  memcpy(argv, f->v + argc_at + 1, (size_t)argc * sizeof *argv);
  argv[argc] = NULL;
  /* The last field is empty when the payload ends with NUL; it is not a variable. */
  while (extra_n > 0 && extra[extra_n - 1][0] == '\0') extra_n--;

  struct fields *b = NULL;
  if (base[0] != '\0') {
    size_t k = strtoul(base, NULL, 10);
    if (k < bases_n) b = &bases[k];
  }
  size_t env_n = 0;
  char **env = malloc((extra_n + (b ? b->n : 0) + 1) * sizeof *env);
  if (!env) abort();
  for (size_t i = 0; i < extra_n; i++) env[env_n++] = extra[i];
  for (size_t i = 0; b && i < b->n; i++) {
    const char *eq = strchr(b->v[i], '=');
    if (!eq) continue;
    int overridden = 0;
    for (size_t j = 0; j < extra_n && !overridden; j++) {
      overridden = strncmp(extra[j], b->v[i], (size_t)(eq - b->v[i]) + 1) == 0;
    }
    if (!overridden) env[env_n++] = b->v[i];
  }
  env[env_n] = NULL;

  char *prog = resolve(argv[0], lookup(env, env_n, "PATH"));
  if (!prog) {
    reply("F %s %s: command not found\n", id, argv[0]);
    free(env);
    free(argv);
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY, 0);
  if (strcmp(out, err) == 0) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &child_default);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  struct collect_spec *collect = NULL;
  if (argc_at == 12) {
    collect = calloc(1, sizeof *collect);
    if (!collect) abort();
    collect->objects = strdup(f->v[6]);
    collect->out_dir = strdup(f->v[7]);
    collect->input = strdup(f->v[8]);
    collect_note_input(collect, f->v[9]);
    collect->log = strdup(f->v[10]);
    collect->durable = strchr(f->v[11], 'd') != NULL;
  }
  pid_t pid;
  int rc = posix_spawn(&pid, prog, &fa, &at, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  free(env);
  free(argv);
  if (rc != 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", prog, strerror(rc));
    one_line(msg);
    reply("F %s %s\n", id, msg);
    free(prog);
    free_collect(collect);
    return;
  }
  free(prog);
  if (running_n == running_cap) {
    running_cap = running_cap ? running_cap * 2 : 16;
    running = realloc(running, running_cap * sizeof *running);
    if (!running) abort();
  }
  running[running_n].pid = pid;
  running[running_n].id = strdup(id);
  running[running_n].collect = collect;
  running_n++;
  reply("S %s %d\n", id, (int)pid);
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
    launch(r);
    free_request(r);
  }
}

/* Scripts that exited, in the order reaped: answered after the next ones have started. */
struct exited { char *id; int status; struct collect_spec *collect; };

static void reap(void) {
  struct exited *done = NULL;
  size_t done_n = 0, done_cap = 0;
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    for (size_t i = 0; i < running_n; i++) {
      if (running[i].pid != pid) continue;
      /* Whatever the script left running in its group goes with it. */
      kill(-pid, SIGKILL);
      if (done_n == done_cap) {
        done_cap = done_cap ? done_cap * 2 : 4;
        done = realloc(done, done_cap * sizeof *done);
        if (!done) abort();
      }
      done[done_n++] = (struct exited){ running[i].id, st, running[i].collect };
      running[i] = running[--running_n];
      break;
    }
  }
  if (done_n == 0) return;
  /* The freed slots take their next scripts before the outputs of these are stored. */
  start_queued();
  for (size_t i = 0; i < done_n; i++) {
    struct exited *e = &done[i];
    if (WIFSIGNALED(e->status)) {
      reply("X %s - %d\n", e->id, WTERMSIG(e->status));
    } else {
      if (e->collect && WEXITSTATUS(e->status) == 0) collect_step(e->id, e->collect);
      reply("X %s %d -\n", e->id, WEXITSTATUS(e->status));
    }
    free(e->id);
    free_collect(e->collect);
  }
  free(done);
}

static void handle(char *payload, size_t len) {
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
  } else if (strcmp(kind, "R") == 0 || strcmp(kind, "P") == 0) {
    if (queue_tail) queue_tail->next = r;
    else queue_head = r;
    queue_tail = r;
  } else {
    free_request(r);
  }
}

static void on_term(int sig) {
  (void)sig;
  engine_gone = 1;
  int saved = errno;
  ssize_t ignored = write(wake[1], "", 1);
  (void)ignored;
  errno = saved;
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t ignored = write(wake[1], "", 1);
  (void)ignored;
  errno = saved;
}

int main(int argc, char **argv) {
  if (argc > 1) limit = strtol(argv[1], NULL, 10);
  if (limit < 1) limit = 1;
  sigemptyset(&child_default);
  for (int s = 1; s < SIGRTMIN; s++) {
    if (s != SIGKILL && s != SIGSTOP) sigaddset(&child_default, s);
  }
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  sa.sa_handler = on_term;
  sa.sa_flags = 0;
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* No signal comes for a parent that died just before the request: then getppid has changed.
   * (One that died earlier still closed our stdin.) */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != parent) engine_gone = 1;

  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 1;
  /* Each turn reads what the engine sent before reaping: a cancel written before a kill is
   * seen before the killed script's slot could start the step it cancels. */
  for (;;) {
    struct pollfd p[2] = { { 0, POLLIN, 0 }, { wake[0], POLLIN, 0 } };
    int timeout = -1;
    if (out_len > 0) {
      long waited = now_ms() - out_since;
      timeout = waited >= REPLY_DELAY_MS ? 0 : (int)(REPLY_DELAY_MS - waited);
    }
    if (poll(p, 2, timeout) < 0 && errno != EINTR) end_all();
    if (engine_gone) end_all();
    if (p[1].revents & POLLIN) {
      char drain[256];
      while (read(wake[0], drain, sizeof drain) > 0) {}
    }
    if (p[0].revents & (POLLIN | POLLHUP)) {
      if (cap - len < 4096) {
        cap *= 2;
        buf = realloc(buf, cap);
        if (!buf) return 1;
      }
      ssize_t n = read(0, buf + len, cap - len);
      if ((n < 0 && errno != EINTR) || n == 0) end_all();
      if (n > 0) len += (size_t)n;
      size_t at = 0;
      for (;;) {
        char *nl = memchr(buf + at, '\n', len - at);
        if (!nl) break;
        size_t size = strtoul(buf + at, NULL, 10);
        size_t start = (size_t)(nl - buf) + 1;
        if (len - start < size) break;
        char *payload = malloc(size + 1);
        if (!payload) return 1;
        memcpy(payload, buf + start, size);
        payload[size] = '\0';
        handle(payload, size);
        at = start + size;
      }
      memmove(buf, buf + at, len - at);
      len -= at;
    }
    reap();
    start_queued();
    /* Replies wait up to REPLY_DELAY_MS for company while the engine has queued enough here to
     * keep every slot busy; with nothing queued it must hear at once, to send more. */
    if (out_len > 0 && (!queue_head || now_ms() - out_since >= REPLY_DELAY_MS)) flush_replies();
  }
}
