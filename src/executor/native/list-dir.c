#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spawner.h"

/* `task-pipeline-spawner --list DIR`: one record per entry of DIR (not recursive), for the engine's
 * input check (src/engine/list-dir.ts): a kind byte, the name's length (uint32) and bytes, and for
 * a file the stat the check would take, seven doubles: size, mtime s and ns, ctime s and ns, inode,
 * device. Kinds are as the engine's own walk decides them (input-walk.ts): 'f' a regular file, or
 * a symlink to one; 'n' a regular file whose stat failed; 'd' a directory (walked by the engine);
 * 'x' anything else. A stat relative to the directory's descriptor spares the kernel the path.
 * Exit 0 when the whole listing was written, 2 when the directory could not be read. */
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

int list_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
  if (!d) return 2;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) break;
    const char *name = e->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    unsigned char type = e->d_type;
    struct stat st;
    if (type == DT_UNKNOWN) /* as the engine's walk does: the entry's own type */
      type = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ? DT_UNKNOWN
             : S_ISREG(st.st_mode)                          ? DT_REG
             : S_ISDIR(st.st_mode)                          ? DT_DIR
             : S_ISLNK(st.st_mode)                          ? DT_LNK
                                                            : DT_UNKNOWN;
    char kind = 'x';
    if (type == DT_DIR) kind = 'd';
    else if (type == DT_REG) kind = fstatat(dfd, name, &st, 0) == 0 ? 'f' : 'n';
    else if (type == DT_LNK && fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode)) kind = 'f';
    uint32_t len = (uint32_t)strlen(name);
    if (put(&kind, 1) || put(&len, 4) || put(name, len)) return 2;
    if (kind == 'f') {
      double v[7] = {(double)st.st_size,     (double)st.st_mtim.tv_sec, (double)st.st_mtim.tv_nsec,
                     (double)st.st_ctim.tv_sec, (double)st.st_ctim.tv_nsec, (double)st.st_ino,
                     (double)st.st_dev};
      if (put(v, sizeof v)) return 2;
    }
  }
  int failed = errno != 0;
  closedir(d);
  if (failed || flush_out() != 0) return 2;
  return 0;
}
