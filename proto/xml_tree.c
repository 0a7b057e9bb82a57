/*
 * xml_tree.c - element trees, the serializer, and one-shot document parsing
 * (see xml.h).
 *
 * Trees are plain linked nodes: every element owns its attributes and its
 * children; text nodes carry a NUL-terminated copy of their bytes. Freeing is
 * iterative, so arbitrarily deep trees cannot overflow the stack there.
 *
 * Attribute names: unqualified attributes are stored under their local
 * name; attributes in the XML namespace under "xml:<local>" (xml:lang); an
 * attribute in any other namespace under "{uri}local" (Clark notation, which
 * cannot clash with a real attribute name). The serializer writes the last
 * kind with a generated prefix declared on the same element. Attributes named
 * "xmlns" or "xmlns:*" are never written: namespaces live in the ns field.
 *
 * xml_parse_document reuses the stream parser by wrapping the document as
 * the only child of a synthetic <stream:stream>, so it enforces exactly the
 * same restrictions (no DTD, PI, comment; depth and attribute limits).
 */
#include "xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- nodes ---- */

/* Free the fields and the struct of one node, ignoring its links. */
static void node_destroy(xml_node *n)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

/* Bumped by every function that creates or changes a node (see
 * xml_generation in xml.h). */
static unsigned long xml_gen;

unsigned long xml_generation(void)
{
    return xml_gen;
}

xml_node *xml_node_new(const char *name, const char *ns)
{
    xml_gen++;
    xml_node *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    n->name = strdup(name);
    n->ns = strdup(ns ? ns : "");
    if (!n->name || !n->ns) {
        node_destroy(n);
        return NULL;
    }
    return n;
}

/* A detached text node holding a copy of text[0..len). */
static xml_node *text_new(const char *text, size_t len)
{
    xml_node *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    if (len) memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->text_len = len;
    return n;
}

void xml_unlink(xml_node *child)
{
    xml_gen++;
    xml_node *p = child ? child->parent : NULL;
    if (!p) return;
    xml_node *prev = NULL;
    for (xml_node *c = p->first; c && c != child; c = c->next) prev = c;
    if (prev) prev->next = child->next;
    else p->first = child->next;
    if (p->last == child) p->last = prev;
    child->parent = NULL;
    child->next = NULL;
}

/* Free a detached subtree without recursion: always free the first leaf
 * reachable from the current node, then continue with its sibling or
 * parent. */
static void subtree_free(xml_node *root)
{
    xml_node *n = root;
    while (n) {
        if (n->first) {
            n = n->first;
            continue;
        }
        xml_node *next = NULL;
        if (n != root) {
            xml_node *p = n->parent;
            p->first = n->next; /* n is always p's first child here */
            if (!p->first) p->last = NULL;
            next = n->next ? n->next : p;
        }
        node_destroy(n);
        n = next;
    }
}

void xml_node_free(xml_node **np)
{
    if (!np || !*np) return;
    xml_unlink(*np);
    subtree_free(*np);
    *np = NULL;
}

xml_node *xml_node_copy(const xml_node *n)
{
    if (!n) return NULL;
    xml_node *c = n->name ? xml_node_new(n->name, n->ns) : text_new(n->text, n->text_len);
    if (!c) return NULL;
    for (size_t i = 0; i < n->nattrs; i++) {
        if (xml_attr_set(c, n->attrs[i].name, n->attrs[i].value) < 0) goto fail;
    }
    for (const xml_node *k = n->first; k; k = k->next) {
        xml_node *kc = xml_node_copy(k);
        if (!kc) goto fail;
        xml_append(c, kc);
    }
    return c;
fail:
    xml_node_free(&c);
    return NULL;
}

/* ---- attributes ---- */

/* Index of the attribute called name, or -1. */
static long attr_index(const xml_node *n, const char *name)
{
    for (size_t i = 0; n && i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0) return (long)i;
    }
    return -1;
}

const char *xml_attr_get(const xml_node *n, const char *name)
{
    long i = attr_index(n, name);
    return i < 0 ? NULL : n->attrs[i].value;
}

int xml_attr_set(xml_node *n, const char *name, const char *value)
{
    xml_gen++;
    if (!n || !n->name || !name || !value) return -1;
    char *v = strdup(value);
    if (!v) return -1;
    long i = attr_index(n, name);
    if (i >= 0) {
        free(n->attrs[i].value);
        n->attrs[i].value = v;
        return 0;
    }
    if (n->nattrs == n->attrs_cap) {
        size_t cap = n->attrs_cap ? n->attrs_cap * 2 : 4;
        xml_attr *a = realloc(n->attrs, cap * sizeof(*a));
        if (!a) goto fail;
        n->attrs = a;
        n->attrs_cap = cap;
    }
    char *k = strdup(name);
    if (!k) goto fail;
    n->attrs[n->nattrs].name = k;
    n->attrs[n->nattrs].value = v;
    n->nattrs++;
    return 0;
fail:
    free(v);
    return -1;
}

void xml_attr_del(xml_node *n, const char *name)
{
    xml_gen++;
    long i = attr_index(n, name);
    if (i < 0) return;
    free(n->attrs[i].name);
    free(n->attrs[i].value);
    memmove(&n->attrs[i], &n->attrs[i + 1], (n->nattrs - (size_t)i - 1) * sizeof(xml_attr));
    n->nattrs--;
}

/* ---- children ---- */

/* Does element c match the (possibly NULL) name and ns filters? */
static int child_matches(const xml_node *c, const char *name, const char *ns)
{
    return c->name && (!name || strcmp(c->name, name) == 0) && (!ns || strcmp(c->ns, ns) == 0);
}

xml_node *xml_child(const xml_node *n, const char *name, const char *ns)
{
    return n ? xml_child_next(n, NULL, name, ns) : NULL;
}

/* after == NULL starts at the first child. */
xml_node *xml_child_next(const xml_node *n, const xml_node *after, const char *name, const char *ns)
{
    if (!n) return NULL;
    for (xml_node *c = after ? after->next : n->first; c; c = c->next) {
        if (child_matches(c, name, ns)) return c;
    }
    return NULL;
}

void xml_append(xml_node *parent, xml_node *child)
{
    xml_gen++;
    if (!parent || !child) return;
    xml_unlink(child);
    child->parent = parent;
    if (parent->last) parent->last->next = child;
    else parent->first = child;
    parent->last = child;
}

xml_node *xml_add_child(xml_node *parent, const char *name, const char *ns)
{
    if (!parent) return NULL;
    xml_node *c = xml_node_new(name, ns ? ns : parent->ns);
    if (c) xml_append(parent, c);
    return c;
}

int xml_add_text(xml_node *parent, const char *text, size_t len)
{
    xml_gen++;
    if (!parent) return -1;
    xml_node *t = text_new(text, len);
    if (!t) return -1;
    xml_append(parent, t);
    return 0;
}

char *xml_text(const xml_node *n)
{
    buf_t b = BUF_INIT;
    for (const xml_node *c = n ? n->first : NULL; c; c = c->next) {
        if (!c->name && buf_append(&b, c->text, c->text_len) < 0) {
            buf_free(&b);
            return NULL;
        }
    }
    return buf_steal(&b, NULL);
}

size_t xml_child_count(const xml_node *n)
{
    size_t k = 0;
    for (const xml_node *c = n ? n->first : NULL; c; c = c->next) {
        if (c->name) k++;
    }
    return k;
}

/* ---- serializer ---- */

/* Write one attribute, name='value'. "{uri}local" names get a prefix
 * declaration; seq numbers the prefixes used on this element. */
static int write_attr(buf_t *out, const xml_attr *a, unsigned *seq)
{
    const char *name = a->name;
    if (strcmp(name, "xmlns") == 0 || strncmp(name, "xmlns:", 6) == 0) return 0;
    const char *close = name[0] == '{' ? strchr(name, '}') : NULL;
    if (close) {
        unsigned k = (*seq)++;
        if (buf_printf(out, " xmlns:ns%u='", k) < 0
            || buf_append_xml_escaped(out, name + 1, (size_t)(close - name - 1), 1) < 0
            || buf_printf(out, "' ns%u:%s='", k, close + 1) < 0) return -1;
    } else if (buf_append(out, " ", 1) < 0 || buf_puts(out, name) < 0 || buf_append(out, "='", 2) < 0) {
        return -1;
    }
    if (buf_append_xml_escaped(out, a->value, strlen(a->value), 1) < 0) return -1;
    return buf_append(out, "'", 1);
}

/* Serialize n; scope is the default namespace in effect (NULL: none
 * known, declare unless n's ns is ""). */
static int serialize_node(const xml_node *n, const char *scope, buf_t *out)
{
    if (!n->name) return buf_append_xml_escaped(out, n->text, n->text_len, 0);
    int declare = scope ? strcmp(n->ns, scope) != 0 : n->ns[0] != '\0';
    if (buf_append(out, "<", 1) < 0 || buf_puts(out, n->name) < 0) return -1;
    if (declare && (buf_puts(out, " xmlns='") < 0
        || buf_append_xml_escaped(out, n->ns, strlen(n->ns), 1) < 0
        || buf_append(out, "'", 1) < 0)) return -1;
    unsigned seq = 0;
    for (size_t i = 0; i < n->nattrs; i++) {
        if (write_attr(out, &n->attrs[i], &seq) < 0) return -1;
    }
    if (!n->first) return buf_puts(out, "/>");
    if (buf_append(out, ">", 1) < 0) return -1;
    for (const xml_node *c = n->first; c; c = c->next) {
        if (serialize_node(c, n->ns, out) < 0) return -1;
    }
    if (buf_append(out, "</", 2) < 0 || buf_puts(out, n->name) < 0) return -1;
    return buf_append(out, ">", 1);
}

/* On failure out is restored to its previous length. */
int xml_serialize(const xml_node *n, const char *inherited_ns, buf_t *out)
{
    if (!n || !out) return -1;
    size_t before = out->len;
    if (serialize_node(n, inherited_ns, out) == 0) return 0;
    out->len = before;
    if (out->data) out->data[before] = '\0';
    return -1;
}

/* ---- one-shot documents ---- */

#define DOC_WRAP_OPEN "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
#define DOC_WRAP_CLOSE "</stream:stream>"

typedef struct doc_ctx {
    xml_node *root;  /* the first top-level element */
    int extra;       /* more top-level elements were seen */
    int closed;      /* the synthetic stream was closed */
    int ended;       /* the end marker fed after the document was seen */
} doc_ctx;

/* Fed after each document on the long-lived stream: seeing it as its own
 * top-level element proves the document was complete (expat may hold an
 * unfinished tag without reporting anything). */
#define DOC_END_MARK "<e xmlns='urn:xmppd:doc-end'/>"

static void doc_open(void *ud, xml_node *header, const char *default_ns)
{
    xml_node_free(&header);
}

static void doc_stanza(void *ud, xml_node *stanza)
{
    doc_ctx *c = ud;
    if (strcmp(stanza->name, "e") == 0 && strcmp(stanza->ns, "urn:xmppd:doc-end") == 0) {
        c->ended = 1;
        xml_node_free(&stanza);
    } else if (c->root || c->ended) {
        c->extra = 1;
        xml_node_free(&stanza);
    } else {
        c->root = stanza;
    }
}

static void doc_close(void *ud)
{
    ((doc_ctx *)ud)->closed = 1;
}

/* Length of a leading XML declaration ("<?xml" up to "?>"), or 0. The
 * declaration is fed before the synthetic stream header so that expat still
 * sees it at the start of the entity and validates it. */
static size_t xml_decl_len(const char *data, size_t len)
{
    if (len < 6 || memcmp(data, "<?xml", 5) != 0) return 0;
    if (data[5] != ' ' && data[5] != '\t' && data[5] != '\r' && data[5] != '\n') return 0;
    for (size_t i = 5; i + 1 < len; i++) {
        if (data[i] == '?' && data[i + 1] == '>') return i + 2;
    }
    return 0;
}

/* Feed the pieces of the wrapped document; 0 if all were accepted. */
static int doc_feed(xml_stream *s, const char *data, size_t len)
{
    size_t decl = xml_decl_len(data, len);
    if (xml_stream_feed(s, data, decl) < 0) return -1;
    if (xml_stream_feed(s, DOC_WRAP_OPEN, strlen(DOC_WRAP_OPEN)) < 0) return -1;
    if (xml_stream_feed(s, data + decl, len - decl) < 0) return -1;
    return xml_stream_feed(s, DOC_WRAP_CLOSE, strlen(DOC_WRAP_CLOSE));
}

/* Size limits do not apply (the input is already in memory); depth and
 * attribute limits are the defaults. */
/* Documents parsed by one stream before it is restarted: restarting
 * costs more than a document, but a long-lived expat parser keeps every
 * distinct element name it has seen, so it must not live forever. */
#define DOC_STREAM_RUNS 1024

static xml_stream *doc_stream;  /* one per process (processes are single-threaded) */
static doc_ctx doc_state;       /* what doc_stream's callbacks collected */
static unsigned doc_runs;       /* documents fed since the stream was (re)opened */
static int doc_open_ok;         /* the synthetic stream header has been fed */

/* Make doc_stream ready at the start of a fresh synthetic stream
 * (header not fed). 0/-1. */
static int doc_restart(void)
{
    doc_open_ok = 0;
    doc_runs = 0;
    if (!doc_stream) {
        xml_limits lim;
        xml_limits_default(&lim);
        lim.max_stanza = SIZE_MAX;
        lim.max_buffer = SIZE_MAX;
        xml_stream_cb cb = {doc_open, doc_stanza, doc_close};
        doc_stream = xml_stream_new(&lim, &cb, &doc_state);
        return doc_stream ? 0 : -1;
    }
    return xml_stream_reset(doc_stream);
}

/* A document with an XML declaration: parsed alone in a fresh stream. */
static int doc_parse_alone(const char *data, size_t len)
{
    if (doc_restart() < 0) return -1;
    int rc = doc_feed(doc_stream, data, len);
    if (rc == 0 && (!doc_state.closed || doc_state.extra)) rc = -1;
    doc_open_ok = 0; /* the stream was closed: restart next time */
    return rc;
}

/* The common case: the document is fed as the next stanza of a long-lived
 * synthetic stream, which must then be between stanzas again with
 * exactly one element collected. */
static int doc_parse_next(const char *data, size_t len)
{
    if ((!doc_open_ok || doc_runs >= DOC_STREAM_RUNS) && doc_restart() < 0) return -1;
    if (!doc_open_ok) {
        if (xml_stream_feed(doc_stream, DOC_WRAP_OPEN, strlen(DOC_WRAP_OPEN)) < 0) return -1;
        doc_open_ok = 1;
    }
    doc_runs++;
    if (xml_stream_feed(doc_stream, data, len) < 0 ||
        xml_stream_feed(doc_stream, DOC_END_MARK, strlen(DOC_END_MARK)) < 0 || !xml_stream_idle(doc_stream) ||
        !doc_state.ended || doc_state.extra || doc_state.closed) {
        doc_open_ok = 0;
        return -1;
    }
    return 0;
}

xml_node *xml_parse_document(const char *data, size_t len)
{
    if (!data) return NULL;
    doc_state = (doc_ctx){NULL, 0, 0, 0};
    int rc = xml_decl_len(data, len) ? doc_parse_alone(data, len) : doc_parse_next(data, len);
    if (rc < 0) xml_node_free(&doc_state.root);
    xml_node *root = doc_state.root;
    doc_state.root = NULL;
    return root;
}
