#ifndef TASK_PIPELINE_SHA256_H
#define TASK_PIPELINE_SHA256_H
#include <stddef.h>
#include <stdint.h>

/* The lowercase hex SHA-256 of data, NUL-terminated, into out. */
void sha256_hex(const unsigned char *data, size_t len, char out[65]);

#endif
