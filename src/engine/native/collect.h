#ifndef TASK_PIPELINE_COLLECT_H
#define TASK_PIPELINE_COLLECT_H
#include <sys/stat.h>

/* Files up to this size are stored by the helper; a step with a bigger one is left to the engine. */
#define COLLECT_LIMIT (1 << 20)

/* What a `P` run asks the helper to store when its script exits 0 (see collect.c). */
struct collect_spec {
  char *objects; /* <db>/objects */
  char *out_dir; /* the step's OUTPUT_DIR */
  char *input;   /* its INPUT_FILE, a private copy */
  char *log;     /* the file its stdout and stderr went to */
  int durable;
  int have_before;
  struct stat before; /* INPUT_FILE as the script got it */
};

/* Called as the script starts: what INPUT_FILE is, to tell later whether the script changed it. */
void collect_note_input(struct collect_spec *c);

/* After the script exited 0: store its outputs and log; replies `O` lines and one `K` line for id. */
void collect_step(const char *id, struct collect_spec *c);

/* From spawner.c: a reply line to the engine. */
void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
