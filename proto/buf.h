/*
 * buf.h - growable byte buffer used for output queues and serialization.
 *
 * A buf_t owns its storage. All append functions return 0 on success and -1
 * when memory cannot be allocated (the buffer is left unchanged). The data
 * is always NUL-terminated after a successful append, so text built in a
 * buffer can be used as a C string.
 */
#ifndef XMPP_BUF_H
#define XMPP_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct buf {
    char *data;   /* storage, NUL-terminated when len > 0 or after append */
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t off;   /* bytes consumed from the front (see buf_consume) */
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with XML escaping: & < > always, and ' " when attr is non-zero. */
int buf_append_xml_escaped(buf_t *b, const char *s, size_t n, int attr);
/* Bytes not yet consumed, and their count. */
static inline const char *buf_head(const buf_t *b) { return b->data + b->off; }
static inline size_t buf_pending(const buf_t *b) { return b->len - b->off; }
/* Mark n bytes at the front as consumed; compacts when everything is gone. */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Take the storage out of the buffer (caller frees); the buffer is reset. */
char *buf_steal(buf_t *b, size_t *len);
void buf_free(buf_t *b);

#endif
