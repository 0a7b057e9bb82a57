/*
 * xml.h - element trees, serialization, and the streaming XMPP parser.
 *
 * An xml_node is either an element (name != NULL) or a text node
 * (name == NULL, text != NULL). Elements own their attributes and children;
 * freeing an element frees its subtree. Names are local names; the
 * namespace URI of an element is in ns ("" when none). Attributes without a
 * namespace are looked up by local name; the one namespaced attribute the
 * server cares about, xml:lang, is stored under the name "xml:lang".
 *
 * The stream parser (xml_stream_*) wraps libexpat with namespace processing.
 * Bytes may be fed in arbitrary chunks; a stanza split at any byte parses
 * the same as one fed whole. It reports the stream header once, each
 * top-level child of the stream as a complete tree, and the stream close.
 * It rejects what RFC 6120 section 11.1 forbids (DTDs, entity declarations,
 * processing instructions, comments) and enforces the configured limits.
 */
#ifndef XMPP_XML_H
#define XMPP_XML_H

#include <stddef.h>
#include "buf.h"

typedef struct xml_attr {
    char *name;   /* local name, or "xml:lang" for the xml namespace */
    char *value;  /* attribute value, unescaped */
} xml_attr;

typedef struct xml_node xml_node;
struct xml_node {
    char *name;          /* element local name; NULL for a text node */
    char *ns;            /* element namespace URI ("" if none); NULL for text */
    char *text;          /* text node content (NUL-terminated); NULL for elements */
    size_t text_len;     /* length of text */
    xml_attr *attrs;     /* attribute array */
    size_t nattrs;       /* number of attributes */
    size_t attrs_cap;    /* allocated attribute slots */
    xml_node *parent;    /* owning element, NULL for a root */
    xml_node *first;     /* first child */
    xml_node *last;      /* last child */
    xml_node *next;      /* next sibling */
};

/* Allocate a new element with the given local name and namespace (ns may be
 * NULL, meaning ""). Returns NULL on allocation failure. */
xml_node *xml_node_new(const char *name, const char *ns);
/* A counter bumped by every call that creates or changes any node: while
 * it stays the same, a tree parsed from some bytes still matches them (a
 * process can then pass the bytes on instead of serializing again). */
unsigned long xml_generation(void);
/* Free a node and its subtree and set *n to NULL. Accepts NULL. If the node
 * still has a parent it is unlinked first. */
void xml_node_free(xml_node **n);
/* Deep copy; returns NULL on allocation failure. */
xml_node *xml_node_copy(const xml_node *n);

/* Value of the attribute, or NULL. */
const char *xml_attr_get(const xml_node *n, const char *name);
/* Set (replace or add) an attribute; value is copied. 0/-1. */
int xml_attr_set(xml_node *n, const char *name, const char *value);
/* Remove an attribute if present. */
void xml_attr_del(xml_node *n, const char *name);

/* First child element with this local name and namespace. name == NULL
 * matches any name, ns == NULL matches any namespace. */
xml_node *xml_child(const xml_node *n, const char *name, const char *ns);
/* First child element after `after` (a child of n) matching as above. */
xml_node *xml_child_next(const xml_node *n, const xml_node *after, const char *name, const char *ns);
/* Append a new child element; ns NULL inherits the parent's namespace.
 * Returns the child (owned by the parent) or NULL. */
xml_node *xml_add_child(xml_node *parent, const char *name, const char *ns);
/* Append an existing node (taking ownership) as last child. */
void xml_append(xml_node *parent, xml_node *child);
/* Unlink a child from its parent without freeing it. */
void xml_unlink(xml_node *child);
/* Append a text node with a copy of text[0..len). 0/-1. */
int xml_add_text(xml_node *parent, const char *text, size_t len);
/* Concatenated text of the direct text children, malloc'd ("" if none);
 * NULL on allocation failure. */
char *xml_text(const xml_node *n);
/* Number of child elements (text nodes not counted). */
size_t xml_child_count(const xml_node *n);

/* Serialize n and its subtree to out. inherited_ns is the default namespace
 * in scope where the output will be placed (e.g. "jabber:client" inside a
 * client stream); an element whose namespace equals the namespace in scope
 * gets no xmlns attribute, any other gets xmlns='...'. Pass NULL to always
 * declare the root's namespace. Text and attribute values are escaped.
 * Empty elements are written as <x/>. Returns 0/-1. */
int xml_serialize(const xml_node *n, const char *inherited_ns, buf_t *out);

/* Parse one complete XML document (e.g. a stanza taken from an envelope)
 * into a tree, with the same restrictions as the stream parser. Returns the
 * root element or NULL if the input is not acceptable. */
xml_node *xml_parse_document(const char *data, size_t len);

/* ---- streaming parser ---- */

typedef struct xml_limits {
    size_t max_stanza;    /* max bytes of one stanza (default 262144) */
    unsigned max_depth;   /* max element depth inside a stanza (default 32) */
    unsigned max_attrs;   /* max attributes per element (default 64) */
    size_t max_buffer;    /* max bytes buffered for a stream header or
                             between stanzas (default 65536) */
} xml_limits;

/* Fill limits with the defaults above. */
void xml_limits_default(xml_limits *l);

typedef enum xml_err {
    XML_OK = 0,
    XML_ERR_NOT_WELL_FORMED,   /* <not-well-formed/> */
    XML_ERR_RESTRICTED_XML,    /* <restricted-xml/>: DTD, entity decl, PI, comment */
    XML_ERR_POLICY_VIOLATION,  /* <policy-violation/>: a limit was exceeded */
    XML_ERR_INVALID_NAMESPACE, /* <invalid-namespace/>: bad stream namespace */
    XML_ERR_BAD_FORMAT,        /* <bad-format/>: e.g. root is not <stream:stream> */
    XML_ERR_NOMEM              /* <internal-server-error/> */
} xml_err;

/* The RFC 6120 stream error condition for err (e.g. "not-well-formed"). */
const char *xml_err_condition(xml_err err);

typedef struct xml_stream_cb {
    /* The stream header; header is an element named "stream" in
     * "http://etherx.jabber.org/streams" with its attributes, and the
     * callee owns it. default_ns is the stream's default namespace
     * (e.g. "jabber:client"), valid during the call only. */
    void (*on_open)(void *ud, xml_node *header, const char *default_ns);
    /* A complete top-level stanza; the callee owns it. */
    void (*on_stanza)(void *ud, xml_node *stanza);
    /* </stream:stream> was received. */
    void (*on_close)(void *ud);
} xml_stream_cb;

typedef struct xml_stream xml_stream;

/* Create a parser. limits may be NULL for defaults. NULL on failure. */
xml_stream *xml_stream_new(const xml_limits *limits, const xml_stream_cb *cb, void *ud);
/* Feed bytes. Callbacks run from inside this call. Returns 0, or -1 after
 * an error, whose kind xml_stream_error() tells; once failed, further feeds
 * return -1 and call nothing. A callback may call xml_stream_stop() to make
 * feed return early (remaining bytes of the chunk are ignored). */
int xml_stream_feed(xml_stream *s, const char *data, size_t len);
/* Ask a running xml_stream_feed to return after the current callback. */
void xml_stream_stop(xml_stream *s);
xml_err xml_stream_error(const xml_stream *s);
/* Non-zero if the stream is open, healthy and between stanzas (no
 * partial stanza or text pending). */
int xml_stream_idle(const xml_stream *s);
/* Free the expat parser of an idle stream whose bytes expat has all
 * consumed; the next feed makes a new one (see xml_stream.c). Not from a
 * callback. 1 if freed, 0 if kept. */
int xml_stream_release(xml_stream *s);
/* Non-zero while the stream holds an expat parser: from the first byte
 * of a stream until xml_stream_release frees it. */
int xml_stream_holds_parser(const xml_stream *s);
/* Human-readable detail of the last error (never NULL). */
const char *xml_stream_error_text(const xml_stream *s);
/* Forget all state, ready for a new stream header (stream restart after
 * STARTTLS or SASL). Must not be called from inside a callback. 0/-1. */
int xml_stream_reset(xml_stream *s);
void xml_stream_free(xml_stream **s);

#endif
