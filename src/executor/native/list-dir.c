#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "list-dir.h"
#include "spawner.h"

/* `task-pipeline-spawner --list DIR [CUT_BELOW CHUNK_MAX SORTED_MAX]`: one record per entry of DIR
 * (not recursive), for the engine's input check (src/engine/list-dir.ts): a kind byte, the name's
 * length (uint32) and bytes, and for a file the stat the check would take, seven doubles: size,
 * mtime s and ns, ctime s and ns, inode, device. Kinds are as the engine's own walk decides them
 * (input-walk.ts): 'f' a regular file, or a symlink to one; 'n' a regular file whose stat failed;
 * 'd' a directory (walked by the engine); 'x' anything else. A stat relative to the directory's
 * descriptor spares the kernel the path.
 *
 * With the three numbers, a directory the engine would take in its own order as it comes (more
 * than SORTED_MAX entries), whose entries are all regular files or of types the walk ignores,
 * with names the check accepts (UTF-8, no tab or newline), is also cut into the chunks of its
 * summary (src/store/input-summary.ts: a chunk ends after a name whose hash is below CUT_BELOW,
 * or at CHUNK_MAX files) and each chunk summed up here: records are then 'c' records, each a
 * chunk's file count (uint32), digest (64 hex digits), latest mtime or ctime in ms (double), the
 * length (uint32) of its files' records, and those records. The engine then handles a chunk its
 * summary knows as one record, not file by file.
 *
 * The names are read first, so that a directory that cannot be read fails before anything is
 * written (exit 2, nothing on stdout: the engine then walks it itself and says what failed). The
 * stats (and digests) are then taken a block of entries at a time by one thread per core (the
 * check waits on them, and stats of one directory scale across cores), and each block is written,
 * in the directory's order, as soon as it and those before it are done: the engine reads a block
 * while the next ones are stat'ed. Exit 0 when the whole listing was written. */
/* At most this many stat threads. */
#define MAX_THREADS 8

static int dfd;
char *names;
entry_t *entries;
size_t n_entries;
chunk_t *chunks;
size_t n_chunks;
block_t *blocks;
size_t n_blocks;
static size_t blocks_written;
static atomic_size_t next_block;
static atomic_uchar *block_done;

static void stat_entry(entry_t *e) {
  const char *name = names + e->name;
  unsigned char type = e->type;
  struct stat st;
  if (type == DT_UNKNOWN) /* as the engine's walk does: the entry's own type */
    type = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ? DT_UNKNOWN
           : S_ISREG(st.st_mode)                          ? DT_REG
           : S_ISDIR(st.st_mode)                          ? DT_DIR
           : S_ISLNK(st.st_mode)                          ? DT_LNK
                                                          : DT_UNKNOWN;
  e->kind = 'x';
  if (type == DT_DIR) e->kind = 'd';
  else if (type == DT_REG) e->kind = fstatat(dfd, name, &st, 0) == 0 ? 'f' : 'n';
  else if (type == DT_LNK && fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode)) e->kind = 'f';
  if (e->kind != 'f') return;
  double v[7] = {(double)st.st_size,        (double)st.st_mtim.tv_sec, (double)st.st_mtim.tv_nsec,
                 (double)st.st_ctim.tv_sec, (double)st.st_ctim.tv_nsec, (double)st.st_ino,
                 (double)st.st_dev};
  memcpy(e->v, v, sizeof v);
}

/* Stats (and sums up) the next block nobody has taken; 0 when there is none left, -1 on failure. */
static int take_block(void) {
  size_t b = atomic_fetch_add(&next_block, 1);
  if (b >= n_blocks) return 0;
  for (size_t i = blocks[b].first; i < blocks[b].end; i++) stat_entry(&entries[i]);
  for (size_t c = blocks[b].chunk_first; c < blocks[b].chunk_end; c++)
    if (sum_chunk(&chunks[c]) != 0) return -1;
  atomic_store_explicit(&block_done[b], 1, memory_order_release);
  return 1;
}

static atomic_int failed;

static void *stat_blocks(void *unused) {
  (void)unused;
  int r;
  while ((r = take_block()) > 0) {
  }
  if (r < 0) atomic_store(&failed, 1);
  return NULL;
}

static char out[1 << 16];
static size_t used;

static int flush_out(void) {
  for (size_t at = 0; at < used;) {
    ssize_t n = write(1, out + at, used - at);
    if (n < 0) return -1;
    at += (size_t)n;
  }
  used = 0;
  return 0;
}

static int put(const void *p, size_t n) {
  if (used + n > sizeof out && flush_out() != 0) return -1;
  if (n > sizeof out) return -1;
  memcpy(out + used, p, n);
  used += n;
  return 0;
}

static size_t record_bytes(const entry_t *e) { return 5 + e->len + (e->kind == 'f' ? 7 * sizeof(double) : 0); }

static int put_entry(const entry_t *e) {
  if (put(&e->kind, 1) || put(&e->len, 4) || put(names + e->name, e->len)) return -1;
  return e->kind == 'f' ? put(e->v, sizeof e->v) : 0;
}

static int put_chunk(const chunk_t *c) {
  uint32_t files = (uint32_t)(c->end - c->first), bytes = 0;
  for (size_t i = c->first; i < c->end; i++) bytes += (uint32_t)record_bytes(&entries[i]);
  if (put("c", 1) || put(&files, 4) || put(c->hex, 64) || put(&c->latest, sizeof c->latest) || put(&bytes, 4))
    return -1;
  for (size_t i = c->first; i < c->end; i++)
    if (put_entry(&entries[i])) return -1;
  return 0;
}

/* Writes the blocks done since the last one written, in order, up to the first not done yet. */
static int write_done(void) {
  for (; blocks_written < n_blocks && atomic_load_explicit(&block_done[blocks_written], memory_order_acquire);
       blocks_written++) {
    const block_t *b = &blocks[blocks_written];
    if (n_chunks > 0) {
      for (size_t c = b->chunk_first; c < b->chunk_end; c++)
        if (put_chunk(&chunks[c])) return -1;
    } else
      for (size_t i = b->first; i < b->end; i++)
        if (put_entry(&entries[i])) return -1;
  }
  return flush_out();
}

/* Grows *buf (of *cap bytes) to hold at least need bytes. */
static int grow(void **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  void *p = realloc(*buf, c);
  if (!p) return -1;
  *buf = p, *cap = c;
  return 0;
}

int list_dir(int argc, char **argv) {
  const char *dir = argv[0];
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
  if (!d) return 2;
  size_t names_used = 0, names_cap = 0, entries_cap = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) break;
    const char *name = e->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t len = strlen(name);
    if (grow((void **)&names, &names_cap, names_used + len + 1) ||
        grow((void **)&entries, &entries_cap, (n_entries + 1) * sizeof(entry_t)))
      return 2;
    memcpy(names + names_used, name, len + 1);
    entries[n_entries++] = (entry_t){.name = names_used, .len = (uint32_t)len, .type = e->d_type};
    names_used += len + 1;
  }
  if (errno != 0) return 2;
  if (argc == 4 && n_entries > strtoull(argv[3], NULL, 10))
    plan_chunks((uint32_t)strtoull(argv[1], NULL, 10), strtoull(argv[2], NULL, 10));
  if (n_chunks == 0) {
    n_blocks = 0;
    blocks = realloc(blocks, ((n_entries + BLOCK_ENTRIES - 1) / BLOCK_ENTRIES + 1) * sizeof *blocks);
    if (!blocks) return 2;
    for (size_t i = 0; i < n_entries; i += BLOCK_ENTRIES)
      blocks[n_blocks++] = (block_t){i, i + BLOCK_ENTRIES < n_entries ? i + BLOCK_ENTRIES : n_entries, 0, 0};
  }
  block_done = calloc(n_blocks ? n_blocks : 1, sizeof *block_done);
  if (!block_done) return 2;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  size_t threads = cores < 2 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (size_t)cores;
  if (threads > n_blocks) threads = n_blocks ? n_blocks : 1;
  pthread_t tid[MAX_THREADS];
  size_t started = 0;
  /* A thread that cannot be started leaves its blocks to the others. */
  for (size_t t = 1; t < threads; t++)
    if (pthread_create(&tid[started], NULL, stat_blocks, NULL) == 0) started++;
  /* This thread stats too, and writes what is done between its blocks. */
  int r;
  while ((r = take_block()) > 0)
    if (write_done() != 0) return 2;
  for (size_t t = 0; t < started; t++) pthread_join(tid[t], NULL);
  if (r < 0 || atomic_load(&failed) || write_done() != 0) return 2;
  closedir(d);
  return 0;
}
