#ifndef TASK_PIPELINE_SPAWNER_H
#define TASK_PIPELINE_SPAWNER_H
#include <stddef.h>
#include <sys/types.h>

#include "collect.h"

struct fields { char **v; size_t n; };

/* Longest piece of script output echoed as one `T` line (-verbose); longer lines come in pieces. */
#define TEE_LINE 4096

/* A script started and not reaped yet. */
struct running {
  pid_t pid;
  char *id;
  struct collect_spec *collect; /* what to store when it ends; NULL: nothing */
  int tee;                      /* -verbose: the pipe its output comes through, else -1 */
  int log;                      /* where the tee writes that output (its log), else -1 */
  size_t line_n;                /* bytes of an unfinished line in line */
  char line[TEE_LINE];
};

extern struct running *running;
extern size_t running_n;

/* launch.c: start the script of a run request, replying `S` (and adding it to running) or `F`. */
void launch(struct fields *f, const struct fields *bases, size_t bases_n);

/* launch.c: copy what waits in a running script's tee pipe to its log and to `T` lines; at_end also
 * flushes an unfinished line and closes the pipe. */
void tee_drain(struct running *r, int at_end);

void free_collect(struct collect_spec *c);

/* messages.c: a payload split in place at its NULs; reading stdin, each complete message to handle(). */
struct fields split(char *payload, size_t len);
void read_requests(char **buf, size_t *cap, size_t *len);

/* list-dir.c: `--list DIR [CUT_BELOW CHUNK_MAX SORTED_MAX]`, the entries of a directory with their
 * stats, and the chunks of its summary (the engine's input check); argv from DIR on. */
int list_dir(int argc, char **argv);

/* spawner.c */
void handle(char *payload, size_t len);
/* Stop every script started and exit: the engine is gone. */
void end_all(void) __attribute__((noreturn));

#endif
