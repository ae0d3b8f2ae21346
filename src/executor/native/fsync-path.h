#ifndef TASK_PIPELINE_FSYNC_PATH_H
#define TASK_PIPELINE_FSYNC_PATH_H

/* fsync a file or directory by its path; 0, or -1 with errno set. */
int durable_fsync(const char *path);

/*
 * -durable, after an object's rename into objects/AB/CD (renamed = 1), or once an object was found
 * there already (renamed = 0): the directories on its path, so that its name survives a power
 * loss too. The rules of durable-dirs.ts. 0, or -1 with errno set.
 */
int durable_settle(const char *objects, const char *hash, int renamed);

#endif
