/*
 * xscan.h - zero-copy scanning of an XMPP stream for the load generator.
 *
 * The load generator must not spend its CPU building element trees for
 * every chat message, so it does not use the project's DOM parser on the
 * hot path. xscan_frame() cuts a byte stream into the stream header,
 * complete top-level stanzas and the stream close without copying;
 * xscan_root()/xscan_attr()/xscan_child() then read a stanza in place.
 *
 * This is a scanner for servers that speak well-formed XMPP, not a
 * validating parser: it tracks tags, quoted attribute values, CDATA
 * sections and the XML declaration, and does no namespace processing
 * (names are compared by local name, prefixes are ignored).
 */
#ifndef BENCH_XSCAN_H
#define BENCH_XSCAN_H

#include <stddef.h>

typedef enum xscan_kind {
    XS_MORE = 0,     /* need more bytes */
    XS_HEADER,       /* the <stream:stream ...> open tag */
    XS_STANZA,       /* one complete top-level child of the stream */
    XS_CLOSE,        /* </stream:stream> */
    XS_ERROR         /* not XML we can follow */
} xscan_kind;

/* Find the next item in p[0..n). in_stream says whether the stream header
 * was already seen. On XS_HEADER/XS_STANZA/XS_CLOSE, the item is
 * p[*start .. *start + *len) and *used is the number of bytes consumed
 * (whitespace and an XML declaration before it included). On XS_MORE,
 * *used is the number of leading bytes that may be dropped (whitespace). */
xscan_kind xscan_frame(const char *p, size_t n, int in_stream, size_t *used, size_t *start,
                       size_t *len);

/* One element, viewed in place. */
typedef struct xs_el {
    const char *start;    /* the '<' of the start tag */
    const char *name;     /* local name (prefix stripped) */
    size_t name_len;
    const char *attrs;    /* text between the name and the end of the start tag */
    size_t attrs_len;
    const char *inner;    /* content between start and end tag ("" if empty) */
    size_t inner_len;
    size_t len;           /* bytes of the whole element */
} xs_el;

/* View the element that starts at p[0] == '<' and is complete within n
 * bytes (as a stanza from xscan_frame is). 0/-1. */
int xscan_root(const char *p, size_t n, xs_el *el);
/* Value of attribute name (local name, or "xmlns", or "xml:lang") of el,
 * still XML-escaped. Returns 1 and sets *v and *vlen if present, 0 if not. */
int xscan_attr(const xs_el *el, const char *name, const char **v, size_t *vlen);
/* Non-zero if el's name is name. */
int xscan_is(const xs_el *el, const char *name);
/* Next child element of parent after *child (pass child->len == 0 to get
 * the first; set it up with an xs_el of zeroes). 1 when a child was found,
 * 0 at the end. */
int xscan_child(const xs_el *parent, xs_el *child);
/* First child named name (any namespace): 1 if found, 0 if not. */
int xscan_find(const xs_el *parent, const char *name, xs_el *out);
/* Non-zero if the attribute value v/vlen equals s. */
int xscan_eq(const char *v, size_t vlen, const char *s);
/* Copy the character data of el (child elements skipped) into out,
 * unescaping the five predefined entities and numeric references, at most
 * cap - 1 bytes, NUL-terminated. Returns the length, or -1 if it does not
 * fit or is malformed. */
long xscan_text(const xs_el *el, char *out, size_t cap);

#endif
