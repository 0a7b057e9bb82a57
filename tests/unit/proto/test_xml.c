/*
 * test_xml.c - unit tests for proto/xml_tree.c and proto/xml_stream.c:
 * tree operations, the serializer, one-shot document parsing, and the
 * streaming parser (chunking, RFC 6120 restrictions, limits, stop/reset).
 */
#include "test.h"
#include "xml.h"

#include <stdlib.h>
#include <string.h>

#define HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>"

/* ---- helpers ---- */

#define MAX_ST 16

typedef struct coll {
    xml_stream *s;
    xml_node *header;
    char default_ns[64];
    int opens, closes, nst, dropped;
    xml_node *st[MAX_ST];
    int stop_after; /* call xml_stream_stop after this many stanzas (0: never) */
} coll;

static void c_open(void *ud, xml_node *h, const char *ns)
{
    coll *c = ud;
    xml_node_free(&c->header);
    c->header = h;
    snprintf(c->default_ns, sizeof(c->default_ns), "%s", ns);
    c->opens++;
}

static void c_stanza(void *ud, xml_node *n)
{
    coll *c = ud;
    if (c->nst < MAX_ST) c->st[c->nst++] = n;
    else { c->dropped++; xml_node_free(&n); }
    if (c->stop_after && c->nst == c->stop_after) xml_stream_stop(c->s);
}

static void c_close(void *ud)
{
    ((coll *)ud)->closes++;
}

static const xml_stream_cb CB = {c_open, c_stanza, c_close};

static void coll_init(coll *c, const xml_limits *lim)
{
    memset(c, 0, sizeof(*c));
    c->s = xml_stream_new(lim, &CB, c);
}

static void coll_clear_stanzas(coll *c)
{
    for (int i = 0; i < c->nst; i++) xml_node_free(&c->st[i]);
    c->nst = 0;
}

static void coll_free(coll *c)
{
    coll_clear_stanzas(c);
    xml_node_free(&c->header);
    xml_stream_free(&c->s);
}

/* Serialization of n as a malloc'd string. */
static char *ser(const xml_node *n, const char *ns)
{
    buf_t b = BUF_INIT;
    if (xml_serialize(n, ns, &b) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static int feed_str(xml_stream *s, const char *str)
{
    return xml_stream_feed(s, str, strlen(str));
}

/* Feed a fresh default parser HDR + body; return the error (XML_OK if all
 * was accepted). */
static xml_err stream_error_for(const xml_limits *lim, const char *hdr, const char *body)
{
    coll c;
    coll_init(&c, lim);
    int rc = feed_str(c.s, hdr);
    xml_stream_release(c.s); /* the body then goes to a restored parser */
    if (rc == 0) rc = feed_str(c.s, body);
    xml_err e = xml_stream_error(c.s);
    if (rc < 0) {
        CHECK(e != XML_OK);
        CHECK(strlen(xml_stream_error_text(c.s)) > 0);
        /* once failed, nothing more is parsed or reported */
        int before = c.nst + c.opens + c.closes;
        CHECK_INT(feed_str(c.s, "<message/>"), -1);
        CHECK_INT(c.nst + c.opens + c.closes, before);
    }
    coll_free(&c);
    return e;
}

/* ---- tree API ---- */

static void test_tree_api(void)
{
    xml_node *m = xml_node_new("message", "jabber:client");
    CHECK(m != NULL);
    CHECK_INT(xml_attr_set(m, "to", "a@b"), 0);
    CHECK_INT(xml_attr_set(m, "type", "chat"), 0);
    CHECK_INT(xml_attr_set(m, "id", "1"), 0);
    CHECK_INT(xml_attr_set(m, "to", "c@d"), 0); /* replace keeps position */
    CHECK_STR(xml_attr_get(m, "to"), "c@d");
    xml_attr_del(m, "type");
    CHECK(xml_attr_get(m, "type") == NULL);
    CHECK_INT(m->nattrs, 2);
    CHECK_STR(m->attrs[0].name, "to");
    CHECK_STR(m->attrs[1].name, "id");

    xml_node *body = xml_add_child(m, "body", NULL);
    CHECK_STR(body->ns, "jabber:client");
    CHECK_INT(xml_add_text(body, "hel", 3), 0);
    CHECK_INT(xml_add_text(body, "lo", 2), 0);
    char *t = xml_text(body);
    CHECK_STR(t, "hello");
    free(t);
    xml_node *x1 = xml_add_child(m, "x", "urn:a");
    xml_node *x2 = xml_add_child(m, "x", "urn:b");
    CHECK_INT(xml_child_count(m), 3);
    CHECK(xml_child(m, "x", NULL) == x1);
    CHECK(xml_child(m, "x", "urn:b") == x2);
    CHECK(xml_child(m, NULL, "urn:b") == x2);
    CHECK(xml_child_next(m, x1, "x", NULL) == x2);
    CHECK(xml_child_next(m, x2, NULL, NULL) == NULL);
    CHECK(xml_child(m, "nope", NULL) == NULL);

    xml_node *copy = xml_node_copy(m);
    char *a = ser(m, NULL), *b = ser(copy, NULL);
    CHECK_STR(a, b);
    free(a);
    free(b);

    xml_unlink(x1);
    CHECK(x1->parent == NULL);
    CHECK_INT(xml_child_count(m), 2);
    xml_append(copy, x1);
    CHECK(copy->last == x1);
    xml_node_free(&x2); /* still linked: unlinked first */
    CHECK(x2 == NULL);
    CHECK(m->last == body);
    CHECK_INT(xml_child_count(m), 1);
    xml_node_free(&m);
    xml_node_free(&copy);
    xml_node_free(&m); /* NULL accepted */

    CHECK_STR(xml_err_condition(XML_ERR_NOT_WELL_FORMED), "not-well-formed");
    CHECK_STR(xml_err_condition(XML_ERR_RESTRICTED_XML), "restricted-xml");
    CHECK_STR(xml_err_condition(XML_ERR_POLICY_VIOLATION), "policy-violation");
    CHECK_STR(xml_err_condition(XML_ERR_INVALID_NAMESPACE), "invalid-namespace");
    CHECK_STR(xml_err_condition(XML_ERR_BAD_FORMAT), "bad-format");
    CHECK_STR(xml_err_condition(XML_ERR_NOMEM), "internal-server-error");
}

static void test_deep_tree_free(void)
{
    xml_node *root = xml_node_new("a", NULL), *n = root;
    for (int i = 0; i < 100000 && n; i++) n = xml_add_child(n, "a", NULL);
    CHECK(n != NULL);
    xml_node_free(&root);
}

/* ---- serializer ---- */

static void test_serialize_escaping(void)
{
    xml_node *x = xml_node_new("x", "");
    xml_attr_set(x, "a", "it's \"q\" & <x>");
    xml_add_text(x, "a & b < c > d", 13);
    char *s = ser(x, NULL);
    CHECK_STR(s, "<x a='it&apos;s &quot;q&quot; &amp; &lt;x&gt;'>a &amp; b &lt; c &gt; d</x>");
    free(s);
    xml_node_free(&x);

    xml_node *e = xml_node_new("presence", "jabber:client");
    xml_attr_set(e, "xml:lang", "en");
    s = ser(e, "jabber:client");
    CHECK_STR(s, "<presence xml:lang='en'/>");
    free(s);
    xml_node_free(&e);
}

static void test_serialize_namespaces(void)
{
    xml_node *m = xml_node_new("message", "jabber:client");
    xml_add_child(m, "body", NULL);
    xml_node *x = xml_add_child(m, "x", "urn:y");
    xml_add_child(x, "y", NULL);
    xml_add_child(x, "z", "jabber:client");
    char *s = ser(m, NULL);
    CHECK_STR(s, "<message xmlns='jabber:client'><body/><x xmlns='urn:y'><y/>"
                 "<z xmlns='jabber:client'/></x></message>");
    free(s);
    s = ser(m, "jabber:client");
    CHECK_STR(s, "<message><body/><x xmlns='urn:y'><y/><z xmlns='jabber:client'/></x></message>");
    free(s);
    s = ser(m, "jabber:server");
    CHECK_STR(s, "<message xmlns='jabber:client'><body/><x xmlns='urn:y'><y/>"
                 "<z xmlns='jabber:client'/></x></message>");
    free(s);
    xml_node_free(&m);

    xml_node *n = xml_node_new("n", NULL); /* no namespace */
    s = ser(n, NULL);
    CHECK_STR(s, "<n/>");
    free(s);
    s = ser(n, "jabber:client");
    CHECK_STR(s, "<n xmlns=''/>");
    free(s);
    xml_node_free(&n);
}

static void test_roundtrip(void)
{
    const char *in = "<message xmlns='jabber:client' to='a@b' type='chat'>"
                     "<body>hi &amp; bye</body><x xmlns='urn:y'/></message>";
    xml_node *n = xml_parse_document(in, strlen(in));
    CHECK(n != NULL);
    if (!n) return;
    CHECK_STR(n->name, "message");
    CHECK_STR(n->ns, "jabber:client");
    CHECK_STR(xml_attr_get(n, "type"), "chat");
    char *body = xml_text(xml_child(n, "body", "jabber:client"));
    CHECK_STR(body, "hi & bye");
    free(body);
    CHECK(xml_child(n, "x", "urn:y") != NULL);
    char *s = ser(n, NULL);
    CHECK_STR(s, in);
    free(s);
    xml_node_free(&n);
}

static void test_foreign_attr_roundtrip(void)
{
    const char *in = "<x xmlns='urn:a' xmlns:p='urn:p' p:k='1' xml:lang='de'/>";
    xml_node *n = xml_parse_document(in, strlen(in));
    CHECK(n != NULL);
    if (!n) return;
    CHECK_STR(xml_attr_get(n, "{urn:p}k"), "1");
    CHECK_STR(xml_attr_get(n, "xml:lang"), "de");
    char *s = ser(n, NULL);
    xml_node *again = s ? xml_parse_document(s, strlen(s)) : NULL;
    CHECK(again != NULL);
    char *s2 = again ? ser(again, NULL) : NULL;
    CHECK_STR(s2, s);
    CHECK_STR(xml_attr_get(again, "{urn:p}k"), "1");
    free(s);
    free(s2);
    xml_node_free(&n);
    xml_node_free(&again);
}

/* ---- one-shot documents ---- */

static void test_parse_document(void)
{
    static const char *good[] = {
        "<a/>",
        "<?xml version='1.0'?><a xmlns='urn:x'><b>t</b></a>",
        "<?xml version='1.0' encoding='UTF-8'?>\n<a/>\n",
        "  <a><![CDATA[<raw>]]></a>  ",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        xml_node *n = xml_parse_document(good[i], strlen(good[i]));
        CHECK(n != NULL);
        if (n) CHECK_STR(n->name, "a");
        xml_node_free(&n);
    }
    static const char *bad[] = {
        "", "   ", "<a>", "<a/><b/>", "<a/>junk", "junk<a/>", "<a></b>",
        "<!DOCTYPE a><a/>", "<a><!-- c --></a>", "<?pi x?><a/>", "<a>&nope;</a>",
        "<a/></stream:stream><stream:stream xmlns:stream='http://etherx.jabber.org/streams'><b/>",
        "<a>\xff</a>", "<p:a/>", "<?xml version='1.0'?><?xml version='1.0'?><a/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xml_node *n = xml_parse_document(bad[i], strlen(bad[i]));
        if (n) fprintf(stderr, "accepted bad document %zu: %s\n", i, bad[i]);
        CHECK(n == NULL);
        xml_node_free(&n);
    }
    const char *txt = "<a>x</a>";
    xml_node *a = xml_parse_document(txt, 4); /* truncated */
    CHECK(a == NULL);
    xml_node_free(&a);
}

/* ---- stream basics ---- */

static void test_stream_basic(void)
{
    coll c;
    coll_init(&c, NULL);
    CHECK_INT(feed_str(c.s, HDR), 0);
    CHECK_INT(c.opens, 1);
    CHECK_STR(c.default_ns, "jabber:client");
    CHECK(c.header != NULL);
    if (c.header) {
        CHECK_STR(c.header->name, "stream");
        CHECK_STR(c.header->ns, "http://etherx.jabber.org/streams");
        CHECK_STR(xml_attr_get(c.header, "to"), "example.com");
        CHECK_STR(xml_attr_get(c.header, "version"), "1.0");
        CHECK_STR(xml_attr_get(c.header, "xml:lang"), "en");
        CHECK(xml_attr_get(c.header, "xmlns") == NULL);
    }
    CHECK_INT(feed_str(c.s, "<message to='a@b'><body>hi</body></message>\n "
                            "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"), 0);
    CHECK_INT(c.nst, 2);
    if (c.nst == 2) {
        char *s = ser(c.st[0], "jabber:client");
        CHECK_STR(s, "<message to='a@b'><body>hi</body></message>");
        free(s);
        CHECK_STR(c.st[0]->ns, "jabber:client");
        xml_node *ping = xml_child(c.st[1], "ping", "urn:xmpp:ping");
        CHECK(ping != NULL);
        CHECK(c.st[1]->parent == NULL);
    }
    CHECK_INT(c.closes, 0);
    CHECK_INT(feed_str(c.s, "</stream:stream>"), 0);
    CHECK_INT(c.closes, 1);
    CHECK_INT(xml_stream_error(c.s), XML_OK);
    coll_free(&c);
}

static void test_partial_stanza_freed(void)
{
    coll c;
    coll_init(&c, NULL);
    CHECK_INT(feed_str(c.s, HDR "<message><body>half"), 0);
    CHECK_INT(c.nst, 0);
    coll_free(&c); /* the half-built tree must not leak */

    coll_init(&c, NULL);
    CHECK_INT(feed_str(c.s, HDR "<message><body>half"), 0);
    CHECK_INT(xml_stream_reset(c.s), 0);
    CHECK_INT(feed_str(c.s, HDR "<a/>"), 0);
    CHECK_INT(c.nst, 1);
    coll_free(&c);
}

static const char CHUNK_STANZA[] =
    "<message xmlns='jabber:client' to='r@x/y' id='m&apos;1' xml:lang='fr'>"
    "<body>caf\xc3\xa9 &amp; \xe2\x82\xac &#x1F600; <![CDATA[<b>&</b>]]> tail</body>"
    "\n  <thread>t1</thread><x xmlns='urn:y'><y a='1' b=\"&lt;\"/>text\xf0\x9f\x98\x80</x>"
    "</message>";

static char *parse_chunked(size_t step)
{
    coll c;
    coll_init(&c, NULL);
    char *out = NULL;
    feed_str(c.s, HDR);
    size_t n = strlen(CHUNK_STANZA);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        if (xml_stream_feed(c.s, CHUNK_STANZA + i, k) < 0) break;
    }
    if (c.nst == 1) {
        xml_node *body = xml_child(c.st[0], "body", NULL);
        CHECK(body && body->first && body->first == body->last); /* one text node */
        out = ser(c.st[0], "jabber:client");
    }
    coll_free(&c);
    return out;
}

static void test_byte_at_a_time(void)
{
    char *whole = parse_chunked(1 << 20);
    CHECK(whole != NULL);
    for (size_t step = 1; step <= 7; step++) {
        char *part = parse_chunked(step);
        CHECK_STR(part, whole);
        free(part);
    }
    free(whole);
}

static void test_utf8_split(void)
{
    const char *st = "<m><b>h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!</b></m>";
    size_t n = strlen(st);
    for (size_t k = 1; k < n; k++) {
        coll c;
        coll_init(&c, NULL);
        feed_str(c.s, HDR);
        CHECK_INT(xml_stream_feed(c.s, st, k), 0);
        CHECK_INT(xml_stream_feed(c.s, st + k, n - k), 0);
        CHECK_INT(c.nst, 1);
        if (c.nst == 1) {
            char *t = xml_text(xml_child(c.st[0], "b", NULL));
            CHECK_STR(t, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!");
            free(t);
        }
        coll_free(&c);
    }
}

static void test_whitespace_keepalive(void)
{
    coll c;
    coll_init(&c, NULL);
    CHECK_INT(feed_str(c.s, HDR " "), 0);
    CHECK_INT(feed_str(c.s, "<a/>"), 0);
    CHECK_INT(feed_str(c.s, " "), 0);
    CHECK_INT(feed_str(c.s, "\n"), 0);
    CHECK_INT(feed_str(c.s, " \t\r\n "), 0);
    CHECK_INT(feed_str(c.s, "<b/>  "), 0);
    CHECK_INT(c.nst, 2);
    CHECK(c.nst == 2 && c.st[0]->first == NULL && c.st[1]->first == NULL);
    CHECK_INT(xml_stream_error(c.s), XML_OK);
    coll_free(&c);

    CHECK_INT(stream_error_for(NULL, HDR, "<a/>hello<b/>"), XML_ERR_BAD_FORMAT);
}

/* ---- errors ---- */

static void test_invalid_utf8(void)
{
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>\xff\xfe</body></message>"),
              XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>\xc0\xaf</body></message>"),
              XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>\xe2\x82</body></message>"),
              XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>\xed\xa0\x80</body></message>"),
              XML_ERR_NOT_WELL_FORMED);
}

static void test_billion_laughs(void)
{
    const char *doc =
        "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
        "<message><body>&lol9;</body></message>";
    CHECK_INT(stream_error_for(NULL, doc, ""), XML_ERR_RESTRICTED_XML);
    xml_node *n = xml_parse_document(doc, strlen(doc));
    CHECK(n == NULL);
}

static void test_doctype_entities(void)
{
    CHECK_INT(stream_error_for(NULL, "<!DOCTYPE stream:stream>", HDR), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM "
                               "\"file:///etc/passwd\">]><x>&e;</x>", ""),
              XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, "<!DOCTYPE x SYSTEM \"http://example.com/x.dtd\">", ""),
              XML_ERR_RESTRICTED_XML);
    /* a DOCTYPE after the root element is simply malformed */
    CHECK_INT(stream_error_for(NULL, HDR, "<!DOCTYPE x>"), XML_ERR_NOT_WELL_FORMED);
}

static void test_pi_comment(void)
{
    CHECK_INT(stream_error_for(NULL, HDR, "<?foo bar?>"), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><?foo bar?></message>"), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, "<?xml-stylesheet href='x'?>", HDR), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><!-- hi --></message>"), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, HDR, "<!-- hi -->"), XML_ERR_RESTRICTED_XML);
    CHECK_INT(stream_error_for(NULL, "<!-- hi -->", HDR), XML_ERR_RESTRICTED_XML);
    /* a second XML declaration is not a PI but malformed */
    CHECK_INT(stream_error_for(NULL, HDR, "<?xml version='1.0'?>"), XML_ERR_NOT_WELL_FORMED);
}

static void test_undefined_entity(void)
{
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>&foo;</body></message>"),
              XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<message><body>a</bdy></message>"),
              XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<message a='1' a='2'/>"), XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "<p:message/>"), XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(stream_error_for(NULL, HDR, "</stream:stream><more/>"), XML_ERR_NOT_WELL_FORMED);
}

static void test_stream_namespace(void)
{
    CHECK_INT(stream_error_for(NULL, "<stream:stream xmlns='jabber:client' "
                               "xmlns:stream='urn:wrong'>", ""), XML_ERR_INVALID_NAMESPACE);
    CHECK_INT(stream_error_for(NULL, "<stream xmlns='jabber:client'>", ""),
              XML_ERR_INVALID_NAMESPACE);
    CHECK_INT(stream_error_for(NULL, "<foo xmlns='jabber:client'>", ""), XML_ERR_BAD_FORMAT);
    CHECK_INT(stream_error_for(NULL, "<s:foo xmlns:s='http://etherx.jabber.org/streams'>", ""),
              XML_ERR_BAD_FORMAT);
}

/* ---- limits ---- */

/* Nested elements <a><a>...</a></a>, depth levels deep, inside <m>. */
static char *nested(int depth)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < depth; i++) buf_puts(&b, "<a>");
    for (int i = 0; i < depth; i++) buf_puts(&b, "</a>");
    return buf_steal(&b, NULL);
}

static void test_depth_limit(void)
{
    xml_limits lim;
    xml_limits_default(&lim);
    CHECK_INT(lim.max_depth, 32);
    char *ok = nested(32), *deep = nested(100), *over = nested(33);
    CHECK_INT(stream_error_for(&lim, HDR, ok), XML_OK);
    CHECK_INT(stream_error_for(&lim, HDR, over), XML_ERR_POLICY_VIOLATION);
    CHECK_INT(stream_error_for(&lim, HDR, deep), XML_ERR_POLICY_VIOLATION);
    free(ok);
    free(deep);
    free(over);
}

/* "<message><body>" + n x 'a' (+ "</body></message>" when closed). */
static char *big_stanza(size_t n, int closed)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<message><body>");
    for (size_t i = 0; i < n; i++) buf_append(&b, "a", 1);
    if (closed) buf_puts(&b, "</body></message>");
    return buf_steal(&b, NULL);
}

static void test_stanza_size_limit(void)
{
    xml_limits lim;
    xml_limits_default(&lim);
    lim.max_stanza = 1024;
    char *small = big_stanza(900, 1), *large = big_stanza(2000, 1);
    CHECK_INT(stream_error_for(&lim, HDR, small), XML_OK);
    CHECK_INT(stream_error_for(&lim, HDR, large), XML_ERR_POLICY_VIOLATION);
    free(small);
    free(large);

    /* an unterminated stanza is cut off once the limit is passed */
    coll c;
    coll_init(&c, &lim);
    CHECK_INT(feed_str(c.s, HDR), 0);
    char *endless = big_stanza(100000, 0);
    size_t fed = 0, len = strlen(endless);
    int rc = 0;
    while (fed < len && (rc = xml_stream_feed(c.s, endless + fed, 100)) == 0) fed += 100;
    CHECK_INT(rc, -1);
    CHECK(fed >= 1000 && fed <= 1024);
    CHECK_INT(xml_stream_error(c.s), XML_ERR_POLICY_VIOLATION);
    coll_free(&c);

    /* ... also when it is one huge chunk, and when the start tag is endless */
    coll_init(&c, &lim);
    CHECK_INT(feed_str(c.s, HDR), 0);
    CHECK_INT(xml_stream_feed(c.s, endless, len), -1);
    CHECK_INT(xml_stream_error(c.s), XML_ERR_POLICY_VIOLATION);
    coll_free(&c);
    free(endless);
}

static void test_buffer_limit(void)
{
    xml_limits lim;
    xml_limits_default(&lim);
    lim.max_buffer = 1024;
    char pad[101];
    memset(pad, ' ', 100);
    pad[100] = '\0';

    /* endless stream header */
    coll c;
    coll_init(&c, &lim);
    int rc = feed_str(c.s, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' ");
    for (int i = 0; rc == 0 && i < 100; i++) rc = feed_str(c.s, pad);
    CHECK_INT(rc, -1);
    CHECK_INT(xml_stream_error(c.s), XML_ERR_POLICY_VIOLATION);
    CHECK_INT(c.opens, 0);
    coll_free(&c);

    /* endless whitespace between stanzas */
    coll_init(&c, &lim);
    rc = feed_str(c.s, HDR "<a/>");
    for (int i = 0; rc == 0 && i < 100; i++) rc = feed_str(c.s, pad);
    CHECK_INT(rc, -1);
    CHECK_INT(xml_stream_error(c.s), XML_ERR_POLICY_VIOLATION);
    coll_free(&c);

    /* whitespace that stays under the limit is fine, and a stanza resets it */
    coll_init(&c, &lim);
    rc = feed_str(c.s, HDR);
    for (int i = 0; rc == 0 && i < 30; i++) {
        rc = feed_str(c.s, pad);
        if (i % 5 == 4 && rc == 0) rc = feed_str(c.s, "<a/>");
    }
    CHECK_INT(rc, 0);
    CHECK_INT(c.nst, 6);
    coll_free(&c);
}

/* An element with n attributes. */
static char *many_attrs(int n)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<message");
    for (int i = 0; i < n; i++) buf_printf(&b, " a%d='%d'", i, i);
    buf_puts(&b, "/>");
    return buf_steal(&b, NULL);
}

static void test_attr_limit(void)
{
    char *ok = many_attrs(60), *bad = many_attrs(65);
    CHECK_INT(stream_error_for(NULL, HDR, ok), XML_OK);
    CHECK_INT(stream_error_for(NULL, HDR, bad), XML_ERR_POLICY_VIOLATION);
    free(ok);
    free(bad);
}

/* ---- stop / reset ---- */

static void test_stop_and_reset(void)
{
    coll c;
    coll_init(&c, NULL);
    c.stop_after = 1;
    CHECK_INT(feed_str(c.s, HDR "<starttls/><dropped/>"), 0);
    CHECK_INT(c.nst, 1);
    CHECK_INT(feed_str(c.s, "<ignored/>"), 0); /* ignored until reset */
    CHECK_INT(c.nst, 1);
    CHECK_INT(xml_stream_error(c.s), XML_OK);
    CHECK_INT(xml_stream_reset(c.s), 0);
    c.stop_after = 0;
    CHECK_INT(feed_str(c.s, "<stream:stream xmlns='jabber:server' "
                            "xmlns:stream='http://etherx.jabber.org/streams'>"), 0);
    CHECK_INT(c.opens, 2);
    CHECK_STR(c.default_ns, "jabber:server");
    CHECK_INT(feed_str(c.s, "<auth/>"), 0);
    CHECK_INT(c.nst, 2);
    if (c.nst == 2) {
        CHECK_STR(c.st[0]->name, "starttls");
        CHECK_STR(c.st[1]->name, "auth");
        CHECK_STR(c.st[1]->ns, "jabber:server");
    }
    /* reset also recovers from an error */
    CHECK_INT(feed_str(c.s, "<!-- x -->"), -1);
    CHECK_INT(xml_stream_reset(c.s), 0);
    CHECK_INT(xml_stream_error(c.s), XML_OK);
    CHECK_INT(feed_str(c.s, HDR "<x/>"), 0);
    CHECK_INT(c.nst, 3);
    coll_free(&c);
}


/* ---- idle streams release their expat parser ---- */

/* Feed, then release the parser if the stream allows it (as c2s does
 * for a connection that went quiet). */
static int feed_rel(xml_stream *s, const char *str)
{
    int rc = feed_str(s, str);
    xml_stream_release(s);
    return rc;
}

static void test_idle_release(void)
{
    coll c;
    coll_init(&c, NULL);
    CHECK(!xml_stream_holds_parser(c.s));
    CHECK_INT(feed_rel(c.s, "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
                            "xmlns='jabber:client' xmlns:db='jabber:server:dialback' "
                            "xmlns:q='a&amp;b&apos;c'>"), 0);
    CHECK_INT(c.opens, 1);
    CHECK(!xml_stream_holds_parser(c.s));
    CHECK_INT(feed_str(c.s, "<x/>"), 0); /* feeding alone keeps the parser */
    CHECK(xml_stream_holds_parser(c.s));
    CHECK_INT(xml_stream_release(c.s), 1);
    CHECK(!xml_stream_holds_parser(c.s));
    CHECK_INT(xml_stream_release(c.s), 0);
    CHECK_INT(feed_rel(c.s, "<message><body>1</body></message><mess"), 0);
    CHECK(xml_stream_holds_parser(c.s)); /* "<mess" is still in expat */
    CHECK_INT(feed_rel(c.s, "age/>"), 0);
    CHECK(!xml_stream_holds_parser(c.s));
    CHECK_INT(feed_rel(c.s, "<db:result/><q:x/><iq"), 0);
    CHECK_INT(feed_rel(c.s, "/>  "), 0);
    CHECK(!xml_stream_holds_parser(c.s));
    CHECK_INT(c.nst, 6);
    if (c.nst == 6) {
        CHECK_STR(c.st[2]->name, "message");
        CHECK_STR(c.st[2]->ns, "jabber:client");
        CHECK_STR(c.st[3]->ns, "jabber:server:dialback");
        CHECK_STR(c.st[4]->ns, "a&b'c");
        CHECK_STR(c.st[5]->name, "iq");
    }
    CHECK_INT(feed_rel(c.s, "<s:stream/>"), 0); /* a stanza named like the stream */
    CHECK_INT(c.nst, 7);
    CHECK_INT(feed_rel(c.s, "</s:stream>"), 0);
    CHECK_INT(c.closes, 1);
    CHECK_INT(xml_stream_error(c.s), XML_OK);
    coll_free(&c);

    /* a mismatched close tag is still caught after a release */
    CHECK_INT(stream_error_for(NULL, HDR "<a/>", "</stream>"), XML_ERR_NOT_WELL_FORMED);
    /* the replay header must not be taken for a second header */
    coll_init(&c, NULL);
    CHECK_INT(feed_rel(c.s, HDR), 0);
    CHECK_INT(feed_rel(c.s, "<a/>"), 0);
    CHECK_INT(feed_rel(c.s, "<b/>"), 0);
    CHECK_INT(c.opens, 1);
    CHECK_INT(c.nst, 2);
    coll_free(&c);
}

/* Whitespace fed in many feeds, each ending idle, still counts against
 * max_buffer. */
static void test_idle_release_keeps_limits(void)
{
    xml_limits lim;
    xml_limits_default(&lim);
    lim.max_buffer = 1024;
    coll c;
    coll_init(&c, &lim);
    int rc = feed_rel(c.s, HDR "<a/>");
    for (int i = 0; rc == 0 && i < 2000; i++) rc = feed_rel(c.s, " ");
    CHECK_INT(rc, -1);
    CHECK_INT(xml_stream_error(c.s), XML_ERR_POLICY_VIOLATION);
    coll_free(&c);
}

/* xml_parse_document keeps one stream across documents: good documents
 * between bad ones (truncated, two roots, junk, a closing stream tag, an
 * XML declaration) must each parse alone, over more than one restart. */
static void test_parse_document_sequence(void)
{
    const char *bad[] = {"<a>", "<a/><b/>", "<a/>junk", "</stream:stream>", "<a", "text", "<a/><b", "<!-- c --><a/>"};
    for (int i = 0; i < 3000; i++) {
        char good[64];
        snprintf(good, sizeof good, "<m xmlns='jabber:client' n='%d'><b>%d</b></m>", i, i);
        xml_node *n = xml_parse_document(good, strlen(good));
        CHECK(n != NULL);
        if (n) {
            char want[16];
            snprintf(want, sizeof want, "%d", i);
            CHECK_STR(xml_attr_get(n, "n"), want);
            CHECK(xml_child_count(n) == 1);
        }
        xml_node_free(&n);
        if (i % 7 == 0) {
            const char *b = bad[(i / 7) % (sizeof bad / sizeof bad[0])];
            xml_node *x = xml_parse_document(b, strlen(b));
            CHECK(x == NULL);
            xml_node_free(&x);
        }
        if (i % 500 == 0) {
            const char *d = "<?xml version='1.0'?><d xmlns='x'/>";
            xml_node *x = xml_parse_document(d, strlen(d));
            CHECK(x != NULL && strcmp(x->name, "d") == 0);
            xml_node_free(&x);
        }
    }
}

int main(void)
{
    RUN(test_tree_api);
    RUN(test_deep_tree_free);
    RUN(test_serialize_escaping);
    RUN(test_serialize_namespaces);
    RUN(test_roundtrip);
    RUN(test_foreign_attr_roundtrip);
    RUN(test_parse_document);
    RUN(test_stream_basic);
    RUN(test_idle_release);
    RUN(test_idle_release_keeps_limits);
    RUN(test_partial_stanza_freed);
    RUN(test_byte_at_a_time);
    RUN(test_utf8_split);
    RUN(test_whitespace_keepalive);
    RUN(test_invalid_utf8);
    RUN(test_billion_laughs);
    RUN(test_doctype_entities);
    RUN(test_pi_comment);
    RUN(test_undefined_entity);
    RUN(test_stream_namespace);
    RUN(test_depth_limit);
    RUN(test_stanza_size_limit);
    RUN(test_buffer_limit);
    RUN(test_attr_limit);
    RUN(test_stop_and_reset);
    RUN(test_parse_document_sequence);
    return TEST_RESULT();
}
