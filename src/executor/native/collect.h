#ifndef TASK_PIPELINE_COLLECT_H
#define TASK_PIPELINE_COLLECT_H
#include <sys/stat.h>

/* Files up to this size are stored by the helper; a step with a bigger one is left to the engine. */
#define COLLECT_LIMIT (1 << 20)

/* What a run asks the helper to store when its script ends (see collect.c). */
struct collect_spec {
  char *objects; /* <db>/objects */
  char *out_dir; /* the step's OUTPUT_DIR */
  char *input;   /* the input object's file: INPUT_FILE is a hard link of it */
  char *log;     /* the file its stdout and stderr went to */
  int durable;
  int have_expect;
  /* The object's inode as the engine's last link or unlink of it left it: the script must leave it so. */
  unsigned long long ino;
  long long size, mtime_ns, ctime_ns;
  unsigned long long mode;
};

/* The engine's `ino size mtime_ns ctime_ns mode` (decimal): what the input must still be when the script exits. */
void collect_note_input(struct collect_spec *c, const char *state);

/* After the script ended: store its log, and its outputs if it exited 0; replies `O` lines and one `K` line for id. */
void collect_step(const char *id, struct collect_spec *c, int exited_ok);

/* From spawner.c: a reply line to the engine. */
void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
