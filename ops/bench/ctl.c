/*
 * ctl.c - coordinator/worker message framing (see ctl.h).
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int ctl_write(int fd, json_t *msg, const void *blob, size_t bloblen)
{
    if (bloblen && json_object_set_new(msg, "blob", json_integer((json_int_t)bloblen)) < 0) return -1;
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s) return -1;
    size_t n = strlen(s);
    int rc = n < CTL_MAX_LINE && write_all(fd, s, n) == 0 && write_all(fd, "\n", 1) == 0 ? 0 : -1;
    free(s);
    if (rc == 0 && bloblen) rc = write_all(fd, blob, bloblen);
    return rc;
}

int ctl_parse(const buf_t *b, json_t **msg, const char **blob, size_t *bloblen, size_t *total)
{
    const char *p = buf_head(b);
    size_t n = buf_pending(b);
    const char *nl = memchr(p, '\n', n);
    if (!nl) return n > CTL_MAX_LINE ? -1 : 0;
    size_t line = (size_t)(nl - p);
    json_error_t err;
    json_t *m = json_loadb(p, line, 0, &err);
    if (!json_is_object(m)) {
        json_decref(m);
        return -1;
    }
    json_int_t k = json_integer_value(json_object_get(m, "blob"));
    if (k < 0 || (size_t)k > CTL_MAX_BLOB) {
        json_decref(m);
        return -1;
    }
    if (n - line - 1 < (size_t)k) {
        json_decref(m);
        return 0;
    }
    *msg = m;
    *blob = nl + 1;
    *bloblen = (size_t)k;
    *total = line + 1 + (size_t)k;
    return 1;
}
