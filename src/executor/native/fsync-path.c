/*
 * -durable in the helper: the rules of durable-dirs.ts. A name is on disk once every directory on
 * its path has been fsynced since it got its entry: the shard after each rename into it; objects/AB/CD
 * in objects/AB, objects/AB in objects/, objects/ in the db directory (made by this run, or by an
 * earlier one without -durable), each once per helper: a directory that existed when it was fsynced
 * keeps its entry (only gc removes shards, never during a run).
 */
#define _GNU_SOURCE
#include "fsync-path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Shards fsynced once (their entries then are on disk); shards named in objects/AB; objects/AB named in objects/. */
static unsigned char contents_synced[65536 / 8];
static unsigned char shard_named[65536 / 8];
static unsigned char top_named[256 / 8];
static int objects_named;

int durable_fsync(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static int test_bit(const unsigned char *bits, unsigned i) { return bits[i >> 3] & (1 << (i & 7)); }
static void set_bit(unsigned char *bits, unsigned i) { bits[i >> 3] |= (unsigned char)(1 << (i & 7)); }

int durable_settle(const char *objects, const char *hash, int renamed) {
  unsigned top = (unsigned)(hexval(hash[0]) << 4 | hexval(hash[1]));
  unsigned idx = top << 8 | (unsigned)(hexval(hash[2]) << 4 | hexval(hash[3]));
  char dir[4200];
  if (renamed || !test_bit(contents_synced, idx)) {
    snprintf(dir, sizeof dir, "%s/%.2s/%.2s", objects, hash, hash + 2);
    if (durable_fsync(dir) != 0) return -1;
    set_bit(contents_synced, idx);
  }
  if (!test_bit(shard_named, idx)) {
    snprintf(dir, sizeof dir, "%s/%.2s", objects, hash);
    if (durable_fsync(dir) != 0) return -1;
    set_bit(shard_named, idx);
  }
  if (!test_bit(top_named, top)) {
    if (durable_fsync(objects) != 0) return -1;
    set_bit(top_named, top);
  }
  if (!objects_named) {
    const char *slash = strrchr(objects, '/');
    if (slash == objects) snprintf(dir, sizeof dir, "/");
    else if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - objects), objects);
    else snprintf(dir, sizeof dir, ".");
    if (durable_fsync(dir) != 0) return -1;
    objects_named = 1;
  }
  return 0;
}
