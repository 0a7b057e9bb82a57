/*
 * xml_stream.c - the streaming XMPP parser on libexpat (see xml.h).
 *
 * Expat runs with namespace processing (separator '\x01', which cannot occur
 * in XML 1.0 text, so expanded names split unambiguously) and with the
 * encoding forced to UTF-8. The depth-0 element must be <stream:stream>; it
 * is reported through on_open. Each depth-1 element is built into a tree as
 * its events arrive and handed to on_stanza when its end tag is seen.
 * Character data inside a stanza is gathered in a buffer and flushed as one
 * text node at the next tag, so a stanza fed in any split yields the same
 * tree. Whitespace between stanzas is ignored; other text there is
 * bad-format.
 *
 * RFC 6120 section 11.1 restrictions: DOCTYPE, entity, unparsed-entity and
 * notation declarations, processing instructions and comments fail the
 * stream with restricted-xml as soon as expat reports them (a DOCTYPE is
 * reported before its internal subset is parsed, so entity expansion attacks
 * never get to expand anything). Parameter entity parsing is disabled.
 *
 * Limits (policy-violation), measured in bytes fed, via expat's byte index:
 *   - max_stanza: bytes from a stanza's start tag onwards; checked at every
 *     event inside the stanza and after every chunk, so an unterminated
 *     stanza is cut off once max_stanza bytes of it have been fed;
 *   - max_buffer: bytes outside any stanza - before and including the
 *     stream header, and between stanzas (whitespace keepalives count until
 *     the next stanza or header resets the count; a stanza's start tag that
 *     is still incomplete also counts here);
 *   - max_depth: an element deeper than this inside a stanza (the stanza
 *     element is depth 1);
 *   - max_attrs: attributes plus namespace declarations on one element.
 * A zero field in the limits passed to xml_stream_new means its default.
 *
 * Errors: the first error is kept, the expat parser is stopped
 * (XML_StopParser), any partly built stanza is freed, and every later
 * xml_stream_feed returns -1 without callbacks until xml_stream_reset.
 *
 * Stopping: xml_stream_stop() from a callback aborts expat
 * (XML_StopParser(p, XML_FALSE)); xml_stream_feed then returns 0 and the rest
 * of the chunk is dropped. Until xml_stream_reset, later feeds return 0 and
 * ignore their input. Called outside a feed it only sets that state. Expat
 * forbids XML_ParserReset from inside its own callbacks, so
 * xml_stream_reset (and xml_stream_free) must not be called from one;
 * xml_stream_reset returns -1 if it is. xml_stream_feed is not reentrant.
 * Reset frees the expat parser; the next feed creates a fresh one.
 *
 * Idle streams need not hold an expat parser: an expat parser with its
 * buffers and tables costs several KiB, and most connections spend most of
 * their life between stanzas. xml_stream_release frees the parser when the
 * stream is open, no stanza is begun and every byte was consumed by expat
 * (the owner decides when: creating a parser costs more than parsing a
 * small stanza, so a busy stream should keep its parser). The next feed
 * creates a new one and first parses, without callbacks or limit checks, a
 * copy of the stream's start tag reduced to its qualified name and its
 * namespace declarations (the replay header, kept since the header was
 * seen), so prefixes resolve and the closing tag matches as before. Byte
 * offsets for the limits continue across the switch (base, replay_len).
 * To reproduce the start tag's qualified name expat reports names as
 * "uri\x01local\x01prefix" triplets.
 */
#include "xml.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NS_SEP '\x01'
#define STREAMS_NS "http://etherx.jabber.org/streams"
#define XMLNS_XML "http://www.w3.org/XML/1998/namespace"
/* Chunks are handed to expat in pieces of at most this size so the size
 * limits are checked (and expat's buffering bounded) within big feeds. */
#define FEED_PIECE 65536

struct xml_stream {
    XML_Parser p;            /* NULL while no bytes of the stream are pending */
    xml_limits lim;
    xml_stream_cb cb;
    void *ud;
    xml_err err;             /* first error, XML_OK while healthy */
    char *errtext;           /* detail of err, or NULL (then the condition) */
    int stopped;             /* xml_stream_stop was called; input ignored */
    int in_feed;             /* inside XML_Parse */
    int in_cb;               /* inside a user callback */
    unsigned depth;          /* open elements, the stream element included */
    unsigned pending_decls;  /* namespace decls seen for the next start tag */
    char *default_ns;        /* default namespace declared on the header */
    xml_node *stanza;        /* root of the stanza being built, or NULL */
    xml_node *cur;           /* innermost open element of that stanza */
    buf_t text;              /* character data not yet flushed into cur */
    unsigned long long fed;  /* bytes handed to this expat parser */
    unsigned long long pos;  /* end of the furthest event reported so far */
    unsigned long long mark; /* start of the current stanza, or of the
                                current outside-stanza region */
    buf_t decls;             /* namespace declarations of the header being read */
    const char *replay;      /* replay header once the stream is open, or NULL */
    char *own_replay;        /* replay when it is not a shared one */
    size_t replay_len;       /* bytes of replay fed to the current expat parser */
    unsigned long long base; /* stream offset of the current parser's first real byte */
    int replaying;           /* parsing the replay header: no callbacks */
};

void xml_limits_default(xml_limits *l)
{
    l->max_stanza = 262144;
    l->max_depth = 32;
    l->max_attrs = 64;
    l->max_buffer = 65536;
}

const char *xml_err_condition(xml_err err)
{
    switch (err) {
    case XML_ERR_NOT_WELL_FORMED: return "not-well-formed";
    case XML_ERR_RESTRICTED_XML: return "restricted-xml";
    case XML_ERR_POLICY_VIOLATION: return "policy-violation";
    case XML_ERR_INVALID_NAMESPACE: return "invalid-namespace";
    case XML_ERR_BAD_FORMAT: return "bad-format";
    case XML_ERR_NOMEM: return "internal-server-error";
    case XML_OK: break;
    }
    return "undefined-condition";
}

/* ---- state helpers ---- */

static int halted(const xml_stream *s)
{
    return s->err != XML_OK || s->stopped;
}

/* Free the partly built stanza and any pending text. */
static void drop_partial(xml_stream *s)
{
    xml_node_free(&s->stanza);
    s->cur = NULL;
    buf_free(&s->text);
}

/* Record the first error, stop expat if it is running, drop partial state. */
static void fail(xml_stream *s, xml_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(xml_stream *s, xml_err err, const char *fmt, ...)
{
    if (s->err != XML_OK) return;
    s->err = err;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->errtext, fmt, ap) < 0) s->errtext = NULL;
    va_end(ap);
    if (s->in_feed && s->p) XML_StopParser(s->p, XML_FALSE);
    drop_partial(s);
}

/* Byte offset where the current expat event starts. */
static unsigned long long ev_start(const xml_stream *s)
{
    XML_Index i = XML_GetCurrentByteIndex(s->p);
    return i < 0 ? s->fed : (unsigned long long)i - s->replay_len + s->base;
}

/* Byte offset just past the current event (or past the furthest event seen,
 * which matters for the end event of an empty element). */
static unsigned long long ev_end(xml_stream *s)
{
    int n = XML_GetCurrentByteCount(s->p);
    unsigned long long e = ev_start(s) + (unsigned long long)(n > 0 ? n : 0);
    if (e > s->pos) s->pos = e;
    return s->pos;
}

/* Fail if the outside-stanza region now reaches past upto. 0/-1. */
static int check_outside(xml_stream *s, unsigned long long upto)
{
    if (upto <= s->mark || upto - s->mark <= s->lim.max_buffer) return 0;
    fail(s, XML_ERR_POLICY_VIOLATION, "more than %zu bytes outside a stanza", s->lim.max_buffer);
    return -1;
}

/* Fail if the current stanza, up to the current event, is too big. 0/-1. */
static int check_stanza(xml_stream *s, unsigned long long upto)
{
    if (upto <= s->mark || upto - s->mark <= s->lim.max_stanza) return 0;
    fail(s, XML_ERR_POLICY_VIOLATION, "stanza larger than %zu bytes", s->lim.max_stanza);
    return -1;
}

/* Append pending character data to the open element. 0/-1. */
static int flush_text(xml_stream *s)
{
    if (s->text.len == 0) return 0;
    if (s->cur && xml_add_text(s->cur, s->text.data, s->text.len) < 0) {
        fail(s, XML_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (s->text.cap > 4096) buf_free(&s->text); /* don't keep big buffers */
    else buf_reset(&s->text);
    return 0;
}

/* ---- building nodes from expat names ---- */

/* Length of the local part of an expat name: up to the separator before
 * the prefix of a triplet, or the end. */
static size_t local_len(const char *local)
{
    return strcspn(local, "\x01");
}

/* Store attribute expanded name qname on n with the naming rules of
 * xml_tree.c: "local", "xml:local", or "{uri}local". 0/-1. */
static int add_attr(xml_node *n, const char *qname, const char *value)
{
    const char *sep = strchr(qname, NS_SEP);
    if (!sep) return xml_attr_set(n, qname, value);
    buf_t b = BUF_INIT;
    size_t ulen = (size_t)(sep - qname);
    int llen = (int)local_len(sep + 1);
    int rc;
    if (ulen == strlen(XMLNS_XML) && memcmp(qname, XMLNS_XML, ulen) == 0)
        rc = buf_printf(&b, "xml:%.*s", llen, sep + 1);
    else
        rc = buf_printf(&b, "{%.*s}%.*s", (int)ulen, qname, llen, sep + 1);
    if (rc == 0) rc = xml_attr_set(n, b.data, value);
    buf_free(&b);
    return rc;
}

/* A new element for expat name qname ("uri\x01local[\x01prefix]" or
 * "local") with the attributes atts (name/value pairs). NULL on allocation
 * failure. */
static xml_node *make_element(const char *qname, const char **atts)
{
    const char *sep = strchr(qname, NS_SEP);
    xml_node *n;
    if (sep) {
        char *ns = strndup(qname, (size_t)(sep - qname));
        char *local = strndup(sep + 1, local_len(sep + 1));
        n = ns && local ? xml_node_new(local, ns) : NULL;
        free(ns);
        free(local);
    } else {
        n = xml_node_new(qname, "");
    }
    for (size_t i = 0; n && atts[i]; i += 2) {
        if (add_attr(n, atts[i], atts[i + 1]) < 0) xml_node_free(&n);
    }
    return n;
}

/* ---- user callbacks ---- */

static void deliver_open(xml_stream *s, xml_node *h)
{
    if (!s->cb.on_open) {
        xml_node_free(&h);
        return;
    }
    s->in_cb = 1;
    s->cb.on_open(s->ud, h, s->default_ns ? s->default_ns : "");
    s->in_cb = 0;
}

static void deliver_stanza(xml_stream *s, xml_node *n)
{
    if (!s->cb.on_stanza) {
        xml_node_free(&n);
        return;
    }
    s->in_cb = 1;
    s->cb.on_stanza(s->ud, n);
    s->in_cb = 0;
}

static void deliver_close(xml_stream *s)
{
    if (!s->cb.on_close) return;
    s->in_cb = 1;
    s->cb.on_close(s->ud);
    s->in_cb = 0;
}

/* ---- expat handlers ---- */

/* The replay headers of nearly every client stream, shared rather than
 * kept per stream. */
static const char *const common_replays[] = {
    "<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS "'>",
    "<stream:stream xmlns:stream='" STREAMS_NS "' xmlns='jabber:client'>",
};

static void free_replay(xml_stream *s)
{
    free(s->own_replay);
    s->own_replay = NULL;
    s->replay = NULL;
}

/* Keep the replay header for the stream element qname: its qualified name
 * as written and the namespace declarations gathered in s->decls. 0/-1. */
static int keep_replay(xml_stream *s, const char *qname)
{
    const char *local = strchr(qname, NS_SEP);
    local = local ? local + 1 : qname;
    size_t llen = local_len(local);
    const char *prefix = local[llen] == NS_SEP ? local + llen + 1 : NULL;
    buf_t b = BUF_INIT;
    int rc = buf_puts(&b, "<");
    if (rc == 0 && prefix) rc = buf_printf(&b, "%s:", prefix);
    if (rc == 0) rc = buf_append(&b, local, llen);
    if (rc == 0 && s->decls.len) rc = buf_append(&b, s->decls.data, s->decls.len);
    if (rc == 0) rc = buf_puts(&b, ">");
    buf_free(&s->decls);
    if (rc < 0) {
        buf_free(&b);
        return -1;
    }
    free_replay(s);
    for (size_t i = 0; i < sizeof common_replays / sizeof common_replays[0]; i++) {
        if (strcmp(b.data, common_replays[i]) == 0) {
            buf_free(&b);
            s->replay = common_replays[i];
            return 0;
        }
    }
    s->own_replay = buf_steal(&b, NULL);
    s->replay = s->own_replay;
    return 0;
}

/* The depth-0 element: validate it as the stream header and report it. */
static void open_stream(xml_stream *s, const char *qname, const char **atts)
{
    xml_node *h = make_element(qname, atts);
    if (!h) {
        fail(s, XML_ERR_NOMEM, "out of memory");
        return;
    }
    if (strcmp(h->name, "stream") != 0) {
        fail(s, XML_ERR_BAD_FORMAT, "root element <%.64s/> is not <stream:stream/>", h->name);
    } else if (strcmp(h->ns, STREAMS_NS) != 0) {
        fail(s, XML_ERR_INVALID_NAMESPACE, "stream namespace '%.100s' is not " STREAMS_NS, h->ns);
    } else if (keep_replay(s, qname) < 0) {
        fail(s, XML_ERR_NOMEM, "out of memory");
    } else if (check_outside(s, ev_end(s)) == 0) {
        s->depth = 1;
        s->mark = s->pos;
        deliver_open(s, h);
        return;
    }
    xml_node_free(&h);
}

/* A start tag inside the stream: a stanza or an element within one. */
static void open_element(xml_stream *s, const char *qname, const char **atts)
{
    if (s->depth == 1) {
        if (check_outside(s, ev_start(s)) < 0) return;
        s->mark = ev_start(s);
    }
    if (s->depth > s->lim.max_depth) { /* the new element's stanza depth */
        fail(s, XML_ERR_POLICY_VIOLATION, "elements nested deeper than %u", s->lim.max_depth);
        return;
    }
    if (check_stanza(s, ev_end(s)) < 0 || flush_text(s) < 0) return;
    xml_node *n = make_element(qname, atts);
    if (!n) {
        fail(s, XML_ERR_NOMEM, "out of memory");
        return;
    }
    if (s->cur) xml_append(s->cur, n);
    else s->stanza = n;
    s->cur = n;
    s->depth++;
}

static void XMLCALL on_start(void *ud, const XML_Char *qname, const XML_Char **atts)
{
    xml_stream *s = ud;
    if (halted(s)) return;
    if (s->replaying) { /* the replay header stands for the open stream */
        s->depth = 1;
        return;
    }
    unsigned long n = s->pending_decls;
    s->pending_decls = 0;
    for (size_t i = 0; atts[i]; i += 2) n++;
    if (n > s->lim.max_attrs) {
        fail(s, XML_ERR_POLICY_VIOLATION, "more than %u attributes on an element", s->lim.max_attrs);
        return;
    }
    if (s->depth == 0) open_stream(s, qname, atts);
    else open_element(s, qname, atts);
}

static void XMLCALL on_end(void *ud, const XML_Char *qname)
{
    xml_stream *s = ud;
    if (halted(s) || s->depth == 0) return;
    if (s->depth == 1) { /* </stream:stream> */
        s->depth = 0;
        deliver_close(s);
        return;
    }
    if (check_stanza(s, ev_end(s)) < 0 || flush_text(s) < 0) return;
    xml_node *done = s->cur;
    s->cur = done->parent;
    s->depth--;
    if (s->depth == 1) {
        s->stanza = NULL;
        s->mark = s->pos;
        deliver_stanza(s, done);
    }
}

static int all_space(const char *t, int len)
{
    for (int i = 0; i < len; i++) {
        if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n') return 0;
    }
    return 1;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    xml_stream *s = ud;
    if (halted(s)) return;
    if (s->depth <= 1) { /* between stanzas: whitespace keepalives only */
        if (!all_space(t, len)) fail(s, XML_ERR_BAD_FORMAT, "text outside a stanza");
        else check_outside(s, ev_end(s));
        return;
    }
    if (check_stanza(s, ev_end(s)) < 0) return;
    if (buf_append(&s->text, t, (size_t)len) < 0) fail(s, XML_ERR_NOMEM, "out of memory");
}

/* Add a declaration of the stream header to s->decls, as written in the
 * replay header. 0/-1. */
static int record_decl(xml_stream *s, const char *prefix, const char *uri)
{
    int rc = prefix ? buf_printf(&s->decls, " xmlns:%s='", prefix) : buf_puts(&s->decls, " xmlns='");
    if (rc == 0 && uri) rc = buf_append_xml_escaped(&s->decls, uri, strlen(uri), 1);
    if (rc == 0) rc = buf_puts(&s->decls, "'");
    return rc;
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    xml_stream *s = ud;
    if (halted(s) || s->replaying) return;
    s->pending_decls++;
    if (s->depth != 0) return;
    if (record_decl(s, prefix, uri) < 0) {
        fail(s, XML_ERR_NOMEM, "out of memory");
        return;
    }
    if (prefix) return;
    free(s->default_ns);
    s->default_ns = strdup(uri ? uri : "");
    if (!s->default_ns) fail(s, XML_ERR_NOMEM, "out of memory");
}

static void restricted(void *ud, const char *what)
{
    xml_stream *s = ud;
    if (!halted(s)) fail(s, XML_ERR_RESTRICTED_XML, "%s not allowed", what);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    restricted(ud, "DOCTYPE");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    restricted(ud, "entity declaration");
}

static void XMLCALL on_unparsed_decl(void *ud, const XML_Char *name, const XML_Char *base,
                                     const XML_Char *sysid, const XML_Char *pubid,
                                     const XML_Char *notation)
{
    restricted(ud, "unparsed entity declaration");
}

static void XMLCALL on_notation_decl(void *ud, const XML_Char *name, const XML_Char *base,
                                     const XML_Char *sysid, const XML_Char *pubid)
{
    restricted(ud, "notation declaration");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    restricted(ud, "processing instruction");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    restricted(ud, "comment");
}

/* ---- lifecycle ---- */

/* The hash salt of every parser of this process: random once, so expat
 * keeps its protection against hash flooding without asking the kernel
 * for entropy on every parser (re)start. */
static unsigned long parser_salt(void)
{
    static unsigned long salt;
    while (salt == 0 && getrandom(&salt, sizeof salt, 0) != (ssize_t)sizeof salt) {
    }
    return salt;
}

/* Give s (which has none) a fresh, configured expat parser. 0/-1. */
static int make_parser(xml_stream *s)
{
    XML_Parser p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p) return -1;
    XML_SetHashSalt(p, parser_salt());
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_decl);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetUnparsedEntityDeclHandler(p, on_unparsed_decl);
    XML_SetNotationDeclHandler(p, on_notation_decl);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetCommentHandler(p, on_comment);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetReturnNSTriplet(p, XML_TRUE);
    s->p = p;
    return 0;
}

/* Release everything tied to the current stream but the expat parser,
 * keeping the configuration. */
static void clear_state(xml_stream *s)
{
    drop_partial(s);
    free(s->default_ns);
    s->default_ns = NULL;
    buf_free(&s->decls);
    free_replay(s);
    s->replay_len = 0;
    s->base = 0;
    s->err = XML_OK;
    free(s->errtext);
    s->errtext = NULL;
    s->stopped = 0;
    s->depth = 0;
    s->pending_decls = 0;
    s->fed = s->pos = s->mark = 0;
}

xml_stream *xml_stream_new(const xml_limits *limits, const xml_stream_cb *cb, void *ud)
{
    xml_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    xml_limits_default(&s->lim);
    if (limits) {
        if (limits->max_stanza) s->lim.max_stanza = limits->max_stanza;
        if (limits->max_depth) s->lim.max_depth = limits->max_depth;
        if (limits->max_attrs) s->lim.max_attrs = limits->max_attrs;
        if (limits->max_buffer) s->lim.max_buffer = limits->max_buffer;
    }
    if (cb) s->cb = *cb;
    s->ud = ud;
    return s;
}

/* Map an error expat reported by itself (not one of ours). */
static void expat_failed(xml_stream *s)
{
    enum XML_Error code = XML_GetErrorCode(s->p);
    xml_err e = code == XML_ERROR_NO_MEMORY ? XML_ERR_NOMEM : XML_ERR_NOT_WELL_FORMED;
    fail(s, e, "%s at line %lu, column %lu", XML_ErrorString(code),
         (unsigned long)XML_GetErrorLineNumber(s->p), (unsigned long)XML_GetErrorColumnNumber(s->p));
}

/* After a piece was parsed: bytes fed but not yet complete must still fit
 * the limit of the region they belong to. 0/-1. */
static int check_after_feed(xml_stream *s)
{
    if (s->depth >= 2) return check_stanza(s, s->fed);
    return check_outside(s, s->fed);
}

/* Parse one piece (len <= FEED_PIECE). 0 to go on, 1 when stopped, -1. */
static int feed_piece(xml_stream *s, const char *data, size_t len)
{
    s->in_feed = 1;
    enum XML_Status st = XML_Parse(s->p, data, (int)len, XML_FALSE);
    s->in_feed = 0;
    s->fed += len;
    if (s->err != XML_OK) return -1;
    if (s->stopped) return 1;
    if (st != XML_STATUS_OK) {
        expat_failed(s);
        return -1;
    }
    return check_after_feed(s);
}

int xml_stream_release(xml_stream *s)
{
    if (!s || s->in_feed || !s->p || !s->replay || !xml_stream_idle(s)) return 0;
    XML_Index i = XML_GetCurrentByteIndex(s->p);
    if (i < 0 || ev_start(s) != s->fed) return 0; /* a partial token would be lost */
    XML_ParserFree(s->p);
    s->p = NULL;
    buf_free(&s->text);
    s->base = s->fed;
    s->replay_len = 0;
    return 1;
}

/* Create the expat parser of a stream that has none: for a new stream
 * plainly, for an open one brought to its state with the replay header.
 * 0/-1. */
static int restore_parser(xml_stream *s)
{
    if (make_parser(s) < 0) {
        fail(s, XML_ERR_NOMEM, "out of memory creating the XML parser");
        return -1;
    }
    if (!s->replay) return 0;
    size_t n = strlen(s->replay);
    s->replaying = 1;
    s->in_feed = 1;
    enum XML_Status st = XML_Parse(s->p, s->replay, (int)n, XML_FALSE);
    s->in_feed = 0;
    s->replaying = 0;
    s->replay_len = n;
    if (s->err != XML_OK) return -1;
    if (st != XML_STATUS_OK || s->depth != 1) {
        fail(s, XML_ERR_NOMEM, "cannot restore the XML parser");
        return -1;
    }
    return 0;
}

int xml_stream_feed(xml_stream *s, const char *data, size_t len)
{
    if (!s || s->err != XML_OK || s->in_feed) return -1;
    if (s->stopped) return 0;
    if (len == 0) return 0;
    if (!s->p && restore_parser(s) < 0) return -1;
    while (len > 0) {
        size_t n = len > FEED_PIECE ? FEED_PIECE : len;
        int rc = feed_piece(s, data, n);
        if (rc != 0) return rc < 0 ? -1 : 0;
        data += n;
        len -= n;
    }
    return 0;
}

void xml_stream_stop(xml_stream *s)
{
    if (!s || s->stopped) return;
    s->stopped = 1;
    if (s->in_feed && s->err == XML_OK) XML_StopParser(s->p, XML_FALSE);
}

int xml_stream_idle(const xml_stream *s)
{
    return s && s->err == XML_OK && !s->stopped && s->depth == 1 && !s->stanza && s->text.len == 0;
}

int xml_stream_holds_parser(const xml_stream *s)
{
    return s && s->p != NULL;
}

xml_err xml_stream_error(const xml_stream *s)
{
    return s ? s->err : XML_ERR_NOMEM;
}

const char *xml_stream_error_text(const xml_stream *s)
{
    if (!s) return "no parser";
    if (s->err == XML_OK) return "no error";
    return s->errtext ? s->errtext : xml_err_condition(s->err);
}

int xml_stream_reset(xml_stream *s)
{
    if (!s || s->in_cb || s->in_feed) return -1;
    clear_state(s);
    if (s->p) XML_ParserFree(s->p); /* the next feed creates one */
    s->p = NULL;
    return 0;
}

void xml_stream_free(xml_stream **sp)
{
    if (!sp || !*sp) return;
    clear_state(*sp);
    if ((*sp)->p) XML_ParserFree((*sp)->p);
    free(*sp);
    *sp = NULL;
}
