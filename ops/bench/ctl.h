/*
 * ctl.h - messages between the coordinator and its workers.
 *
 * Control path, so JSON: a worker writes one JSON object per line to the
 * coordinator ({"ev":"barrier","name":...}, {"ev":"result",...},
 * {"ev":"error","msg":...}); an object with "blob": K is followed by K
 * raw bytes (latency samples as native uint32 microseconds, which is fine
 * between a parent and the children it forked). The coordinator answers
 * with text lines "go <barrier>".
 */
#ifndef BENCH_CTL_H
#define BENCH_CTL_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

#define CTL_MAX_LINE 65536           /* longest JSON line accepted */
#define CTL_MAX_BLOB (1u << 30)      /* largest blob accepted */

/* Write msg (plus "blob" and the bytes, when bloblen > 0) to the blocking
 * fd. The caller keeps msg. 0/-1. */
int ctl_write(int fd, json_t *msg, const void *blob, size_t bloblen);
/* Take one complete message from the front of b. Returns 1 with *msg (the
 * caller owns it) and *blob and *bloblen pointing into b (valid until the
 * caller consumes *total bytes of b), 0 if more bytes are needed, -1 if
 * the input is malformed. */
int ctl_parse(const buf_t *b, json_t **msg, const char **blob, size_t *bloblen, size_t *total);

#endif
