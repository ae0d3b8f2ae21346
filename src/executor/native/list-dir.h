#ifndef TASK_PIPELINE_LIST_DIR_H
#define TASK_PIPELINE_LIST_DIR_H
/* The listing of `--list` (list-dir.c), and its chunks (list-chunks.c): one directory per process,
 * so its state is these globals, shared by the two files and the stat threads. */
#include <stddef.h>
#include <stdint.h>

typedef struct {
  size_t name; /* offset in names */
  uint32_t len;
  unsigned char type;
  char kind;
  uint32_t hash; /* of the name, as input-summary.ts's nameHash */
  double v[7];
} entry_t;

typedef struct {
  size_t first, end; /* entries */
  double latest;
  char hex[65];
} chunk_t;

/* Blocks of entries (in chunk mode, of whole chunks) that a thread takes at a time. */
typedef struct {
  size_t first, end;             /* entries */
  size_t chunk_first, chunk_end; /* chunks */
} block_t;

/* Entries a thread takes at a time (rounded up to whole chunks in chunk mode). */
#define BLOCK_ENTRIES 1024

extern char *names;
extern entry_t *entries;
extern size_t n_entries;
extern chunk_t *chunks;
extern size_t n_chunks;
extern block_t *blocks;
extern size_t n_blocks;

/* Chunk mode, if the directory allows it (list-dir.c, at the top): its regular files only, cut into
 * the summary's chunks, blocks of whole chunks. 0 when it does not, or memory ran out (the plain
 * listing is as exact). */
int plan_chunks(uint32_t cut_below, size_t chunk_max);
/* Sums a chunk up, its files stat'ed: its digest and latest change. -1 when memory ran out. */
int sum_chunk(chunk_t *c);

#endif
