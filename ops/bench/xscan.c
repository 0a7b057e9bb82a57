/*
 * xscan.c - zero-copy framing and reading of XMPP stanzas (see xscan.h).
 *
 * Everything here works on bytes in place: markup_end() finds the end of
 * one piece of markup (a tag, honouring quoted attribute values; CDATA; a
 * processing instruction or comment), element_len() follows start and end
 * tags to the end of an element, and the xs_el views point into the
 * caller's buffer. Nothing allocates.
 */
#include "xscan.h"

#include <string.h>

enum { MK_START = 1, MK_END, MK_EMPTY, MK_OTHER, MK_TEXT_CDATA };

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Index just past the first occurrence of the NUL-terminated pattern at or
 * after i, or 0 if it does not occur in p[0..n). */
static size_t find_after(const char *p, size_t n, size_t i, const char *pat)
{
    size_t m = strlen(pat);
    while (i + m <= n) {
        const char *q = memchr(p + i, pat[0], n - i - m + 1);
        if (!q) return 0;
        i = (size_t)(q - p);
        if (memcmp(q, pat, m) == 0) return i + m;
        i++;
    }
    return 0;
}

/* Non-zero while p[i..n) could still become the prefix pat. */
static int maybe_prefix(const char *p, size_t n, size_t i, const char *pat)
{
    size_t m = strlen(pat), have = n - i;
    return have < m && memcmp(p + i, pat, have) == 0;
}

/* The markup starting at p[i] == '<': returns the index just past it and
 * its kind in *kind, 0 if it is incomplete, or (size_t)-1 if malformed. */
static size_t markup_end(const char *p, size_t n, size_t i, int *kind)
{
    if (i + 1 >= n) return 0;
    char c = p[i + 1];
    if (c == '?') { *kind = MK_OTHER; return find_after(p, n, i + 2, "?>"); }
    if (c == '!') {
        if (maybe_prefix(p, n, i, "<![CDATA[") || maybe_prefix(p, n, i, "<!--")) return 0;
        if (n - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0) {
            *kind = MK_TEXT_CDATA;
            return find_after(p, n, i + 9, "]]>");
        }
        if (n - i >= 4 && memcmp(p + i, "<!--", 4) == 0) {
            *kind = MK_OTHER;
            return find_after(p, n, i + 4, "-->");
        }
        return (size_t)-1;  /* DTDs have no place in XMPP */
    }
    size_t j = i + 1;
    char quote = 0;
    while (j < n) {
        if (quote) {
            const char *q = memchr(p + j, quote, n - j);
            if (!q) return 0;
            j = (size_t)(q - p) + 1;
            quote = 0;
            continue;
        }
        char d = p[j];
        if (d == '>') {
            if (c == '/') *kind = MK_END;
            else *kind = p[j - 1] == '/' ? MK_EMPTY : MK_START;
            return j + 1;
        }
        if (d == '\'' || d == '"') quote = d;
        else if (d == '<') return (size_t)-1;
        j++;
    }
    return 0;
}

/* Length of the element starting at p[0] == '<', 0 if incomplete, or
 * (size_t)-1 if malformed. */
static size_t element_len(const char *p, size_t n)
{
    size_t i = 0;
    long depth = 0;
    while (i < n) {
        if (p[i] != '<') {
            const char *q = memchr(p + i, '<', n - i);
            if (!q) return 0;
            i = (size_t)(q - p);
            continue;
        }
        int kind = 0;
        size_t e = markup_end(p, n, i, &kind);
        if (e == 0 || e == (size_t)-1) return e;
        if (kind == MK_START) depth++;
        else if (kind == MK_END && --depth < 0) return (size_t)-1;
        else if (i == 0 && kind != MK_EMPTY) return (size_t)-1;
        i = e;
        if (depth == 0) return i;
    }
    return 0;
}

xscan_kind xscan_frame(const char *p, size_t n, int in_stream, size_t *used, size_t *start,
                       size_t *len)
{
    size_t i = 0;
    for (;;) {
        while (i < n && is_space(p[i])) i++;
        *used = i;
        if (i == n) return XS_MORE;
        if (p[i] != '<') return XS_ERROR;
        int kind = 0;
        if (!in_stream) {
            size_t e = markup_end(p, n, i, &kind);
            if (e == (size_t)-1) return XS_ERROR;
            if (e == 0) return XS_MORE;
            if (kind == MK_OTHER && p[i + 1] == '?') { i = e; continue; } /* XML declaration */
            if (kind != MK_START) return XS_ERROR;
            *start = i;
            *len = e - i;
            *used = e;
            return XS_HEADER;
        }
        if (i + 1 < n && p[i + 1] == '/') {
            size_t e = markup_end(p, n, i, &kind);
            if (e == (size_t)-1) return XS_ERROR;
            if (e == 0) return XS_MORE;
            *start = i;
            *len = e - i;
            *used = e;
            return XS_CLOSE;
        }
        size_t e = element_len(p + i, n - i);
        if (e == (size_t)-1) return XS_ERROR;
        if (e == 0) return XS_MORE;
        *start = i;
        *len = e;
        *used = i + e;
        return XS_STANZA;
    }
}

int xscan_root(const char *p, size_t n, xs_el *el)
{
    int kind = 0;
    memset(el, 0, sizeof *el);
    if (n < 3 || p[0] != '<') return -1;
    size_t te = markup_end(p, n, 0, &kind);
    if (te == 0 || te == (size_t)-1 || (kind != MK_START && kind != MK_EMPTY)) return -1;
    size_t j = 1;
    while (j < te && !is_space(p[j]) && p[j] != '/' && p[j] != '>') j++;
    const char *name = p + 1;
    size_t name_len = j - 1;
    const char *colon = memchr(name, ':', name_len);
    if (colon) {
        name_len -= (size_t)(colon + 1 - name);
        name = colon + 1;
    }
    el->start = p;
    el->name = name;
    el->name_len = name_len;
    el->attrs = p + j;
    el->attrs_len = te - j - (kind == MK_EMPTY ? 2 : 1);
    if (kind == MK_EMPTY) {
        el->inner = p + te;
        el->len = te;
        return 0;
    }
    size_t e = element_len(p, n);
    if (e == 0 || e == (size_t)-1) return -1;
    size_t close = e - 1;
    while (close > te && p[close] != '<') close--;
    el->inner = p + te;
    el->inner_len = close - te;
    el->len = e;
    return 0;
}

int xscan_attr(const xs_el *el, const char *name, const char **v, size_t *vlen)
{
    const char *p = el->attrs, *end = el->attrs + el->attrs_len;
    size_t want = strlen(name);
    while (p < end) {
        while (p < end && is_space(*p)) p++;
        const char *an = p;
        while (p < end && *p != '=' && !is_space(*p)) p++;
        size_t alen = (size_t)(p - an);
        while (p < end && is_space(*p)) p++;
        if (p >= end || *p != '=') return 0;
        p++;
        while (p < end && is_space(*p)) p++;
        if (p >= end || (*p != '\'' && *p != '"')) return 0;
        char q = *p++;
        const char *val = p;
        const char *qe = memchr(p, q, (size_t)(end - p));
        if (!qe) return 0;
        p = qe + 1;
        const char *colon = memchr(an, ':', alen);
        int match = alen == want && memcmp(an, name, want) == 0;
        if (!match && colon && !(alen > 6 && memcmp(an, "xmlns:", 6) == 0) &&
            strchr(name, ':') == NULL) {
            size_t ll = alen - (size_t)(colon + 1 - an);
            match = ll == want && memcmp(colon + 1, name, want) == 0;
        }
        if (match) {
            *v = val;
            *vlen = (size_t)(qe - val);
            return 1;
        }
    }
    return 0;
}

int xscan_is(const xs_el *el, const char *name)
{
    size_t n = strlen(name);
    return el->name_len == n && memcmp(el->name, name, n) == 0;
}

int xscan_eq(const char *v, size_t vlen, const char *s)
{
    size_t n = strlen(s);
    return vlen == n && memcmp(v, s, n) == 0;
}

int xscan_child(const xs_el *parent, xs_el *child)
{
    const char *end = parent->inner + parent->inner_len;
    const char *p = child->len ? child->start + child->len : parent->inner;
    while (p < end) {
        if (*p != '<') {
            p = memchr(p, '<', (size_t)(end - p));
            if (!p) return 0;
            continue;
        }
        int kind = 0;
        size_t n = (size_t)(end - p);
        size_t e = markup_end(p, n, 0, &kind);
        if (e == 0 || e == (size_t)-1 || kind == MK_END) return 0;
        if (kind == MK_OTHER || kind == MK_TEXT_CDATA) { p += e; continue; }
        return xscan_root(p, n, child) == 0;
    }
    return 0;
}

int xscan_find(const xs_el *parent, const char *name, xs_el *out)
{
    xs_el c;
    memset(&c, 0, sizeof c);
    while (xscan_child(parent, &c)) {
        if (xscan_is(&c, name)) {
            *out = c;
            return 1;
        }
    }
    return 0;
}

/* Append the UTF-8 encoding of cp; -1 if it does not fit. */
static int put_utf8(char *out, size_t cap, size_t *o, unsigned long cp)
{
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) { b[0] = (unsigned char)cp; k = 1; }
    else if (cp < 0x800) { b[0] = (unsigned char)(0xC0 | (cp >> 6)); b[1] = (unsigned char)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12)); b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F)); k = 3;
    } else if (cp <= 0x10FFFF) {
        b[0] = (unsigned char)(0xF0 | (cp >> 18)); b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (unsigned char)(0x80 | (cp & 0x3F)); k = 4;
    } else return -1;
    if (*o + k >= cap) return -1;
    memcpy(out + *o, b, k);
    *o += k;
    return 0;
}

/* Decode the entity at p[0] == '&' (ending before end) into out. Returns
 * the bytes of input used, or 0 if malformed. */
static size_t entity(const char *p, const char *end, char *out, size_t cap, size_t *o)
{
    static const struct { const char *name; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}, {"&quot;", '"'}};
    const char *semi = memchr(p, ';', (size_t)(end - p));
    if (!semi) return 0;
    size_t len = (size_t)(semi - p) + 1;
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
        if (len == strlen(ents[i].name) && memcmp(p, ents[i].name, len) == 0) {
            if (*o + 1 >= cap) return 0;
            out[(*o)++] = ents[i].c;
            return len;
        }
    }
    if (len < 4 || p[1] != '#') return 0;
    unsigned long cp = 0;
    int hex = p[2] == 'x';
    for (const char *q = p + 2 + hex; q < semi; q++) {
        int d;
        if (*q >= '0' && *q <= '9') d = *q - '0';
        else if (hex && *q >= 'a' && *q <= 'f') d = *q - 'a' + 10;
        else if (hex && *q >= 'A' && *q <= 'F') d = *q - 'A' + 10;
        else return 0;
        cp = cp * (hex ? 16u : 10u) + (unsigned long)d;
        if (cp > 0x10FFFF) return 0;
    }
    return put_utf8(out, cap, o, cp) == 0 ? len : 0;
}

long xscan_text(const xs_el *el, char *out, size_t cap)
{
    const char *p = el->inner, *end = el->inner + el->inner_len;
    size_t o = 0;
    if (cap == 0) return -1;
    while (p < end) {
        if (*p == '<') {
            int kind = 0;
            size_t n = (size_t)(end - p);
            size_t e = markup_end(p, n, 0, &kind);
            if (e == 0 || e == (size_t)-1) return -1;
            if (kind == MK_TEXT_CDATA) {
                size_t k = e - 12;
                if (o + k >= cap) return -1;
                memcpy(out + o, p + 9, k);
                o += k;
            } else if (kind == MK_START) {
                e = element_len(p, n);
                if (e == 0 || e == (size_t)-1) return -1;
            }
            p += e;
        } else if (*p == '&') {
            size_t k = entity(p, end, out, cap, &o);
            if (!k) return -1;
            p += k;
        } else {
            if (o + 1 >= cap) return -1;
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return (long)o;
}
