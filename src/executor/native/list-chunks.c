/* The chunks of a directory's summary, cut and summed up as the engine does it (src/store/input-summary.ts),
 * for `--list` (list-dir.c). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "list-dir.h"
#include "sha256.h"

/* As the engine computes a Stats' mtimeMs and ctimeMs from the seconds and nanoseconds (the build
 * keeps the compiler from fusing the multiply and the add, which would round differently). */
static double ms(double s, double ns) { return s * 1e3 + ns / 1e6; }

/* A chunk's digest as input-summary.ts's DirDigest computes it: SHA-256 of its names, each
 * followed by a NUL, then of each file's size, mtimeMs, ctimeMs, inode and device as doubles
 * (NaN for a failed stat); and its latest mtime or ctime, NaN if a stat failed. */
int sum_chunk(chunk_t *c) {
  size_t files = c->end - c->first, bytes = files * 5 * sizeof(double);
  for (size_t i = c->first; i < c->end; i++) bytes += entries[i].len + 1;
  unsigned char *buf = malloc(bytes);
  if (!buf) return -1;
  size_t at = 0;
  for (size_t i = c->first; i < c->end; i++) {
    memcpy(buf + at, names + entries[i].name, entries[i].len + 1);
    at += entries[i].len + 1;
  }
  double latest = -INFINITY;
  for (size_t i = c->first; i < c->end; i++) {
    const double *v = entries[i].v;
    double s[5] = {NAN, NAN, NAN, NAN, NAN};
    if (entries[i].kind == 'f') {
      s[0] = v[0], s[1] = ms(v[1], v[2]), s[2] = ms(v[3], v[4]), s[3] = v[5], s[4] = v[6];
      if (!isnan(latest)) latest = fmax(latest, fmax(s[1], s[2]));
    } else latest = NAN;
    memcpy(buf + at, s, sizeof s);
    at += sizeof s;
  }
  sha256_hex(buf, bytes, c->hex);
  c->latest = latest;
  free(buf);
  return 0;
}

/* FNV-1a over the name's UTF-16 code units, as input-summary.ts's nameHash; 0 if the name is not
 * valid UTF-8 (the engine would see other characters than its bytes say) or holds a tab or a
 * newline (the check refuses it, and says so). */
static int name_hash(const unsigned char *s, uint32_t *out) {
  uint32_t h = 0x811c9dc5u;
  while (*s) {
    uint32_t cp, c = *s;
    if (c == '\t' || c == '\n') return 0;
    if (c < 0x80) cp = c, s += 1;
    else if (c >= 0xC2 && c < 0xE0 && (s[1] & 0xC0) == 0x80) cp = (c & 0x1F) << 6 | (s[1] & 0x3F), s += 2;
    else if (c >= 0xE0 && c < 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
      cp = (c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F), s += 3;
      if (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000)) return 0;
    } else if (c >= 0xF0 && c < 0xF5 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
      cp = (c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F), s += 4;
      if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    } else
      return 0;
    if (cp < 0x10000) h = (h ^ cp) * 0x01000193u;
    else {
      cp -= 0x10000;
      h = (h ^ (0xD800 + (cp >> 10))) * 0x01000193u;
      h = (h ^ (0xDC00 + (cp & 0x3FF))) * 0x01000193u;
    }
  }
  *out = h;
  return 1;
}

/* Which directories allow chunk mode: see the top of list-dir.c. */
int plan_chunks(uint32_t cut_below, size_t chunk_max) {
  size_t files = 0;
  for (size_t i = 0; i < n_entries; i++) {
    unsigned char t = entries[i].type;
    if (t == DT_DIR || t == DT_LNK || t == DT_UNKNOWN) return 0;
    if (t == DT_REG && !name_hash((const unsigned char *)names + entries[i].name, &entries[i].hash)) return 0;
  }
  /* Allocated before the entries are compacted: without memory, the plain listing needs them whole. */
  chunks = malloc((n_entries ? n_entries : 1) * sizeof *chunks);
  blocks = malloc((n_entries ? n_entries : 1) * sizeof *blocks);
  if (!chunks || !blocks) return 0;
  /* The other types are none of the walk's files: left out. */
  for (size_t i = 0; i < n_entries; i++)
    if (entries[i].type == DT_REG) entries[files++] = entries[i];
  n_entries = files;
  size_t first = 0;
  for (size_t i = 0; i < files; i++)
    if (entries[i].hash < cut_below || i + 1 - first == chunk_max || i + 1 == files) {
      chunks[n_chunks++] = (chunk_t){.first = first, .end = i + 1};
      first = i + 1;
    }
  size_t from = 0;
  for (size_t c = 0; c < n_chunks; c++)
    if (chunks[c].end - chunks[from].first >= BLOCK_ENTRIES || c + 1 == n_chunks) {
      blocks[n_blocks++] = (block_t){chunks[from].first, chunks[c].end, from, c + 1};
      from = c + 1;
    }
  return 1;
}
