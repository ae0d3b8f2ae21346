/*
 * The store's write path for a step, in the helper: the same contract as collect-outputs.ts
 * (the same checks, in the same order, with the same result), done where the script ran so that
 * the engine's thread only records rows. Per output: one open, read, hash, fchmod, close, and a
 * rename into objects/AB/CD/ unless an object of that size is there (shard directories are
 * made once per helper). A step with a file over COLLECT_LIMIT is left whole to the engine.
 *
 * Replies, before the step's `X` line:
 *   O id added size hash name           one per output (name: its path under OUTPUT_DIR)
 *   K id intact log [failure]           intact: 1, or 0 when the input object's inode is not as
 *                                       the engine said (only the log was stored: it looks closer)
 *     log      0 (empty, left in place) | size:hash (stored) | - (failed)
 *     failure  bad KIND ENTRY | err STAGE ERRNO ENTRY (ENTRY escaped: \t \n \r \\)
 *   K id js                             nothing done: the engine stores it all
 */
#define _GNU_SOURCE
#include "collect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsync-path.h"
#include "sha256.h"

struct file { char *path; char *name; off_t size; };
struct list { struct file *v; size_t n, cap; };

/* Why a walk or a store stopped: a bad entry, a system error, or a file for the engine. */
struct failure { const char *kind; char *entry; int err; const char *stage; int big; };

static unsigned char shard_known[65536 / 8];
static unsigned char buf[COLLECT_LIMIT + 1];

void collect_note_input(struct collect_spec *c, const char *state) {
  c->have_expect = sscanf(state, "%llu %lld %lld %lld %llu", &c->ino, &c->size, &c->mtime_ns, &c->ctime_ns, &c->mode) == 5;
}

/* The input as expected: a write, chmod, touch, link or rename changes its ctime, which a script cannot set back. */
static int input_unchanged(const struct collect_spec *c) {
  struct stat st;
  if (!c->have_expect || lstat(c->input, &st) != 0) return 0;
  long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  long long ctime = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  return (unsigned long long)st.st_ino == c->ino && (long long)st.st_size == c->size && mtime == c->mtime_ns &&
    ctime == c->ctime_ns && (unsigned long long)st.st_mode == c->mode;
}

static void push_file(struct list *l, char *path, char *name, off_t size) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v) abort();
  }
  l->v[l->n++] = (struct file){ path, name, size };
}

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (!s) abort();
  memcpy(s, a, la);
  s[la] = '/';
  memcpy(s + la + 1, b, lb + 1);
  return s;
}

static const char *kind_of(mode_t m) {
  if (S_ISLNK(m)) return "symlink";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  return "device";
}

static void fail(struct failure *f, const char *stage, const char *entry) {
  f->err = errno;
  f->stage = stage;
  f->entry = strdup(entry);
}

/* Every regular file under dir, every directory (to remove after); stops at the first entry that cannot be an output. */
static int walk(const char *dir, const char *prefix, struct list *files, struct list *dirs, struct failure *f) {
  DIR *d = opendir(dir);
  if (!d) {
    fail(f, "outputs", prefix);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char *name = prefix[0] ? join(prefix, e->d_name) : strdup(e->d_name);
    char *path = join(dir, e->d_name);
    if (!name) abort();
    if (strpbrk(e->d_name, "\t\n\r")) {
      f->kind = "name";
      f->entry = name;
      free(path);
      rc = -1;
      break;
    }
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      fail(f, "outputs", name);
      free(name);
      free(path);
      rc = -1;
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      push_file(dirs, path, NULL, 0);
      rc = walk(path, name, files, dirs, f);
      free(name);
    } else if (S_ISREG(st.st_mode)) {
      if (st.st_size > COLLECT_LIMIT) f->big = 1;
      push_file(files, path, name, st.st_size);
    } else {
      f->kind = kind_of(st.st_mode);
      f->entry = name;
      free(path);
      rc = -1;
    }
  }
  if (rc == 0 && errno != 0) {
    fail(f, "outputs", prefix);
    rc = -1;
  }
  closedir(d);
  return rc;
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

/* objects/AB/CD/ made if this helper has not seen it; 1 when it was made just now (so it holds nothing yet). */
static int ensure_shard(const char *objects, const char *hash, char *shard, size_t cap) {
  unsigned idx = (unsigned)(hexval(hash[0]) << 12 | hexval(hash[1]) << 8 | hexval(hash[2]) << 4 | hexval(hash[3]));
  snprintf(shard, cap, "%s/%.2s/%.2s", objects, hash, hash + 2);
  if (shard_known[idx >> 3] & (1 << (idx & 7))) return 0;
  int made = mkdir(shard, 0777) == 0;
  if (!made && errno == ENOENT) {
    char top[4096];
    snprintf(top, sizeof top, "%s/%.2s", objects, hash);
    if (mkdir(top, 0777) != 0 && errno != EEXIST) return -1;
    made = mkdir(shard, 0777) == 0;
  }
  if (!made && errno != EEXIST) return -1;
  shard_known[idx >> 3] |= (unsigned char)(1 << (idx & 7));
  return made;
}

/* Hash a small file, make it read-only, rename it under its hash: as LocalObjectStore.adopt. */
static int store_file(const char *path, const char *objects, int durable, char hash[65], off_t *size, int *added) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      goto fail;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == sizeof buf) {
      errno = EFBIG; /* grew past the limit after the walk: nothing writes there any more */
      goto fail;
    }
  }
  sha256_hex(buf, n, hash);
  *size = (off_t)n;
  char shard[4096], final[4200];
  int fresh = ensure_shard(objects, hash, shard, sizeof shard);
  if (fresh < 0) goto fail;
  snprintf(final, sizeof final, "%s/%s", shard, hash + 4);
  if (!fresh) {
    struct stat st;
    if (stat(final, &st) == 0 && st.st_size == (off_t)n) {
      if (durable && (durable_fsync(final) != 0 || durable_settle(objects, hash, 0) != 0)) goto fail;
      close(fd);
      *added = 0;
      return unlink(path);
    }
  }
  /* A missing object, or a damaged one (wrong size) that these verified bytes now repair. */
  if (fchmod(fd, 0444) != 0) goto fail;
  if (durable && fsync(fd) != 0) goto fail;
  close(fd);
  fd = -1;
  if (rename(path, final) != 0) return -1;
  if (durable && durable_fsync(shard) != 0) return -1;
  if (durable && durable_settle(objects, hash, 0) != 0) return -1;
  *added = 1;
  return 0;
fail:;
  int saved = errno;
  if (fd >= 0) close(fd);
  errno = saved;
  return -1;
}

/* A name on one reply line: tabs, newlines and backslashes escaped. */
static void reply_escaped(const char *s) {
  char out[8192];
  size_t n = 0;
  for (; *s && n < sizeof out - 3; s++) {
    const char *e = *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : *s == '\\' ? "\\\\" : NULL;
    if (e) {
      memcpy(out + n, e, 2);
      n += 2;
    } else {
      out[n++] = *s;
    }
  }
  out[n] = '\0';
  reply("%s\n", out);
}

static void reply_summary(const char *id, int intact, const char *log, const struct failure *f) {
  if (f->kind) {
    reply("K %s %d %s bad %s ", id, intact, log, f->kind);
  } else if (f->err) {
    const char *name = strerrorname_np(f->err);
    reply("K %s %d %s err %s %s ", id, intact, log, f->stage, name ? name : "EIO");
  } else {
    reply("K %s %d %s\n", id, intact, log);
    return;
  }
  reply_escaped(f->entry ? f->entry : "");
}

void collect_step(const char *id, struct collect_spec *c, int exited_ok) {
  struct list files = { 0 };
  struct list dirs = { 0 };
  struct failure f = { 0 };
  int intact = input_unchanged(c);
  struct stat lst;
  if (stat(c->log, &lst) != 0) lst.st_size = 0;
  /* Outputs only of a script that exited 0 and left its input as it was. */
  int walked = intact && exited_ok ? walk(c->out_dir, "", &files, &dirs, &f) : -1;
  if (lst.st_size > COLLECT_LIMIT || (walked == 0 && f.big)) {
    reply("K %s js\n", id);
    goto done;
  }
  /* Everything was checked before anything is stored: a bad entry leaves no stray object. */
  for (size_t i = 0; walked == 0 && i < files.n; i++) {
    char hash[65];
    off_t size;
    int added;
    if (store_file(files.v[i].path, c->objects, c->durable, hash, &size, &added) != 0) {
      fail(&f, "outputs", files.v[i].name);
      walked = -1;
      break;
    }
    reply("O %s %d %lld %s %s\n", id, added, (long long)size, hash, files.v[i].name);
  }
  for (size_t i = dirs.n; walked == 0 && i-- > 0;) {
    if (rmdir(dirs.v[i].path) != 0) {
      fail(&f, "outputs", dirs.v[i].path + strlen(c->out_dir) + 1);
      walked = -1;
    }
  }
  char log[128] = "0";
  if (lst.st_size > 0) {
    char hash[65];
    off_t size;
    int added;
    if (store_file(c->log, c->objects, c->durable, hash, &size, &added) == 0) {
      snprintf(log, sizeof log, "%lld:%s", (long long)size, hash);
    } else {
      snprintf(log, sizeof log, "-");
      if (!f.kind && !f.err) fail(&f, "log", "");
    }
  }
  reply_summary(id, intact, log, &f);

done:
  for (size_t i = 0; i < files.n; i++) {
    free(files.v[i].path);
    free(files.v[i].name);
  }
  for (size_t i = 0; i < dirs.n; i++) free(dirs.v[i].path);
  free(files.v);
  free(dirs.v);
  free(f.entry);
}
