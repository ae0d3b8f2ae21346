/*
 * Starting a script (posix_spawn: nothing of the helper is copied) and, under -verbose, teeing its
 * output: it comes through a pipe, goes to its log as it would have directly, and to the engine as
 * `T id line` replies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawner.h"

struct running *running;
size_t running_n;
static size_t running_cap;

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

void free_collect(struct collect_spec *c) {
  if (!c) return;
  free(c->objects);
  free(c->out_dir);
  free(c->input);
  free(c->log);
  free(c);
}

/* The request's variables over its base environment (variables named in both: the request's). */
static char **environment(char **extra, size_t extra_n, const struct fields *b, size_t *env_n) {
  char **env = malloc((extra_n + (b ? b->n : 0) + 1) * sizeof *env);
  if (!env) abort();
  size_t n = 0;
  for (size_t i = 0; i < extra_n; i++) env[n++] = extra[i];
  for (size_t i = 0; b && i < b->n; i++) {
    const char *eq = strchr(b->v[i], '=');
    if (!eq) continue;
    int overridden = 0;
    for (size_t j = 0; j < extra_n && !overridden; j++) {
      overridden = strncmp(extra[j], b->v[i], (size_t)(eq - b->v[i]) + 1) == 0;
    }
    if (!overridden) env[n++] = b->v[i];
  }
  env[n] = NULL;
  *env_n = n;
  return env;
}

static struct collect_spec *collect_of(char **v, int durable) {
  if (v[0][0] == '\0') return NULL;
  struct collect_spec *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->objects = strdup(v[0]);
  c->out_dir = strdup(v[1]);
  c->input = strdup(v[2]);
  collect_note_input(c, v[3]);
  c->log = strdup(v[4]);
  c->durable = durable;
  return c;
}

/* R id cwd stdout stderr base flags objects outdir input state log argc argv... NAME=value... */
#define ARGC_AT 12

void launch(struct fields *f, const struct fields *bases, size_t bases_n) {
  if (f->n < ARGC_AT + 1) { reply("F %s malformed request\n", f->n > 1 ? f->v[1] : "?"); return; }
  char *id = f->v[1], *cwd = f->v[2], *out = f->v[3], *err = f->v[4], *base = f->v[5], *flags = f->v[6];
  long argc = strtol(f->v[ARGC_AT], NULL, 10);
  if (argc < 1 || ARGC_AT + 1 + (size_t)argc > f->n) { reply("F %s malformed request\n", id); return; }
  char **argv = malloc(((size_t)argc + 1) * sizeof *argv);
  if (!argv) abort();
  memcpy(argv, f->v + ARGC_AT + 1, (size_t)argc * sizeof *argv);
  argv[argc] = NULL;
  char **extra = f->v + ARGC_AT + 1 + argc;
  size_t extra_n = f->n - ARGC_AT - 1 - (size_t)argc;
  /* The last field is empty when the payload ends with NUL; it is not a variable. */
  while (extra_n > 0 && extra[extra_n - 1][0] == '\0') extra_n--;
  size_t k = base[0] ? strtoul(base, NULL, 10) : bases_n;
  size_t env_n;
  char **env = environment(extra, extra_n, k < bases_n ? &bases[k] : NULL, &env_n);

  char *prog = resolve(argv[0], lookup(env, env_n, "PATH"));
  int tee[2] = { -1, -1 }, log = -1;
  if (prog && strchr(flags, 'v')) {
    log = open(err, O_WRONLY | O_CLOEXEC);
    if (log < 0 || pipe2(tee, O_CLOEXEC) != 0) tee[0] = tee[1] = -1;
  }
  int rc = ENOENT;
  pid_t pid;
  if (prog) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* Teed: stderr through the pipe, and stdout too when it goes to the same log. */
    if (tee[1] >= 0 && strcmp(out, err) == 0) posix_spawn_file_actions_adddup2(&fa, tee[1], 1);
    else posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY, 0);
    if (tee[1] >= 0) posix_spawn_file_actions_adddup2(&fa, tee[1], 2);
    else if (strcmp(out, err) == 0) posix_spawn_file_actions_adddup2(&fa, 1, 2);
    else posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY, 0);
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigemptyset(&all);
    for (int s = 1; s < SIGRTMIN; s++) if (s != SIGKILL && s != SIGSTOP) sigaddset(&all, s);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, prog, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
  }
  free(env);
  if (tee[1] >= 0) close(tee[1]);
  if (rc != 0) {
    char msg[512];
    if (prog) snprintf(msg, sizeof msg, "%s: %s", prog, strerror(rc));
    else snprintf(msg, sizeof msg, "%s: command not found", argv[0]);
    for (char *s = msg; *s; s++) if (*s == '\n' || *s == '\r') *s = ' ';
    reply("F %s %s\n", id, msg);
    if (tee[0] >= 0) close(tee[0]);
    if (log >= 0) close(log);
  } else {
    if (running_n == running_cap) {
      running_cap = running_cap ? running_cap * 2 : 16;
      running = realloc(running, running_cap * sizeof *running);
      if (!running) abort();
    }
    struct running *r = &running[running_n++];
    r->pid = pid;
    r->id = strdup(id);
    r->collect = collect_of(f->v + 7, strchr(flags, 'd') != NULL);
    r->tee = tee[0];
    r->log = tee[0] >= 0 ? log : -1;
    if (tee[0] < 0 && log >= 0) close(log);
    else if (tee[0] >= 0) fcntl(tee[0], F_SETFL, O_NONBLOCK);
    r->line_n = 0;
    reply("S %s %d\n", id, (int)pid);
  }
  free(prog);
  free(argv);
}

static void end_line(struct running *r) {
  reply("T %s %.*s\n", r->id, (int)r->line_n, r->line);
  r->line_n = 0;
}

void tee_drain(struct running *r, int at_end) {
  if (r->tee < 0) return;
  char buf[1 << 16];
  /* One read a turn while it runs (a flood must not hold up the others); at the end, what is left. */
  int eof = 0;
  for (int reads = 0; reads < (at_end ? 64 : 1); reads++) {
    ssize_t n = read(r->tee, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    eof = n == 0;
    if (n <= 0) break;
    for (ssize_t w = 0, done = 0; done < n; done += w) {
      w = write(r->log, buf + done, (size_t)(n - done));
      if (w < 0 && errno != EINTR) break; /* the log's own store reports what is missing */
      if (w < 0) w = 0;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') {
        end_line(r);
        continue;
      }
      r->line[r->line_n++] = buf[i] == '\0' ? ' ' : buf[i];
      if (r->line_n == TEE_LINE) end_line(r);
    }
  }
  if (!at_end && !eof) return;
  if (r->line_n > 0) end_line(r);
  close(r->tee);
  close(r->log);
  r->tee = r->log = -1;
}
