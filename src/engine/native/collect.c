/*
 * The store's write path for a step's outputs, in the helper: the same rules as
 * collect-outputs.ts and LocalObjectStore.adopt (objects-layout.md), done where the script
 * ran, so that the engine's thread only records rows. Per output: one open, read, hash,
 * fchmod, close, and a rename into objects/AB/CD/, unless an object of that size is already
 * there (the shard directories are made once per helper; in one made just now nothing is looked for). Whatever cannot be done here (a file over
 * COLLECT_LIMIT) is left untouched for the engine, which then does the whole step itself.
 *
 * Replies, before the step's `X` line:
 *   O id added size hash name      one per output (name: its path under OUTPUT_DIR)
 *   K id result log [detail]
 *     result  ok | changed (the input object's inode is not as the engine said: only the log was
 *             stored, the engine looks closer) | bad (detail: kind name) |
 *             err (detail: stage ERRNO message) | js (nothing done: the engine collects)
 *     log     0 (empty, left in place) | size:hash (stored) | js (too big: the engine stores it) | - (failed)
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
struct dirs { char **v; size_t n, cap; };

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

static void push_dir(struct dirs *d, char *path) {
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 8;
    d->v = realloc(d->v, d->cap * sizeof *d->v);
    if (!d->v) abort();
  }
  d->v[d->n++] = path;
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

/* Every regular file under dir, every directory (to remove after); stops at the first entry that cannot be an output. */
static int walk(const char *dir, const char *prefix, struct list *files, struct dirs *dirs, struct failure *f) {
  DIR *d = opendir(dir);
  if (!d) {
    f->err = errno;
    f->stage = "outputs";
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
      f->err = errno;
      f->stage = "outputs";
      free(name);
      free(path);
      rc = -1;
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      push_dir(dirs, path);
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
    f->err = errno;
    f->stage = "outputs";
    rc = -1;
  }
  closedir(d);
  return rc;
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
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
  if (durable && fsync_path(shard) != 0) return -1;
  if (durable && durable_settle(objects, hash, 0) != 0) return -1;
  *added = 1;
  return 0;
fail:;
  int saved = errno;
  if (fd >= 0) close(fd);
  errno = saved;
  return -1;
}

static void one_line(char *s) {
  for (; *s; s++) if (*s == '\n' || *s == '\r') *s = ' ';
}

static void reply_failure(const char *id, const char *log, const struct failure *f) {
  if (f->kind) {
    reply("K %s bad %s %s %s\n", id, log, f->kind, f->entry);
  } else {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", strerror(f->err));
    one_line(msg);
    const char *name = strerrorname_np(f->err);
    reply("K %s err %s %s %s %s\n", id, log, f->stage, name ? name : "EIO", msg);
  }
}

void collect_step(const char *id, struct collect_spec *c) {
  struct list files = { 0 };
  struct dirs dirs = { 0 };
  struct failure f = { 0 };
  int changed = !input_unchanged(c);
  struct stat lst;
  if (stat(c->log, &lst) != 0) lst.st_size = 0;
  int log_big = lst.st_size > COLLECT_LIMIT;

  int walked = changed ? 0 : walk(c->out_dir, "", &files, &dirs, &f);
  if (log_big || (walked == 0 && f.big)) {
    reply("K %s js js\n", id);
    goto done;
  }

  /* The outputs first (all checked before any is stored, so a bad entry leaves no stray object), then the log. */
  int stored = !changed && walked == 0;
  for (size_t i = 0; stored && i < files.n; i++) {
    char hash[65];
    off_t size;
    int added;
    if (store_file(files.v[i].path, c->objects, c->durable, hash, &size, &added) != 0) {
      f.err = errno;
      f.stage = "outputs";
      stored = 0;
      walked = -1;
      break;
    }
    reply("O %s %d %lld %s %s\n", id, added, (long long)size, hash, files.v[i].name);
  }
  if (stored) {
    for (size_t i = dirs.n; i-- > 0;) {
      if (rmdir(dirs.v[i]) != 0) {
        f.err = errno;
        f.stage = "outputs";
        stored = 0;
        walked = -1;
        break;
      }
    }
  }

  char log[128];
  snprintf(log, sizeof log, "0");
  if (lst.st_size > 0) {
    char hash[65];
    off_t size;
    int added;
    if (store_file(c->log, c->objects, c->durable, hash, &size, &added) == 0) {
      snprintf(log, sizeof log, "%lld:%s", (long long)size, hash);
    } else {
      snprintf(log, sizeof log, "-");
      if (walked == 0 && !changed) {
        f.err = errno;
        f.stage = "log";
        walked = -1;
      }
    }
  }
  if (changed) reply("K %s changed %s\n", id, log);
  else if (walked != 0) reply_failure(id, log, &f);
  else reply("K %s ok %s\n", id, log);

done:
  for (size_t i = 0; i < files.n; i++) {
    free(files.v[i].path);
    free(files.v[i].name);
  }
  for (size_t i = 0; i < dirs.n; i++) free(dirs.v[i]);
  free(files.v);
  free(dirs.v);
  free(f.entry);
}
