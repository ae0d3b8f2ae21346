/* The framing of the engine's messages: `<byte length>\n<payload>`, fields separated by NULs. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawner.h"

/* A message's payload split in place at its NULs. */
struct fields split(char *payload, size_t len) {
  size_t cap = 16;
  struct fields f = { malloc(cap * sizeof(char *)), 0 };
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

/* Read what the engine sent; every complete message is handled. */
void read_requests(char **buf, size_t *cap, size_t *len) {
  if (*cap - *len < 4096) {
    *cap *= 2;
    *buf = realloc(*buf, *cap);
    if (!*buf) abort();
  }
  ssize_t n = read(0, *buf + *len, *cap - *len);
  if ((n < 0 && errno != EINTR) || n == 0) end_all();
  if (n > 0) *len += (size_t)n;
  size_t at = 0;
  for (;;) {
    char *nl = memchr(*buf + at, '\n', *len - at);
    if (!nl) break;
    size_t size = strtoul(*buf + at, NULL, 10);
    size_t start = (size_t)(nl - *buf) + 1;
    if (*len - start < size) break;
    char *payload = malloc(size + 1);
    if (!payload) abort();
    memcpy(payload, *buf + start, size);
    payload[size] = '\0';
    handle(payload, size);
    at = start + size;
  }
  memmove(*buf, *buf + at, *len - at);
  *len -= at;
}

