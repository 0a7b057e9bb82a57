/*
 * stream.c - RFC 6120 stream handling for one connection: the stream
 * header and features, stream errors, and the dispatch of top-level
 * elements by negotiation state (STARTTLS, SASL, bind, stanzas).
 *
 * Negotiation order: [STARTTLS] -> SASL -> bind. With c2s.require_tls
 * (the default) nothing but STARTTLS is offered or accepted before TLS.
 */
#include "c2s.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stanza.h"

static void stream_on_open(void *ud, xml_node *header, const char *default_ns);
static void stream_on_stanza(void *ud, xml_node *st);
static void stream_on_close(void *ud);

static const xml_stream_cb stream_callbacks = {stream_on_open, stream_on_stanza, stream_on_close};

void stream_init(conn_t *c)
{
    c->parser = xml_stream_new(&c->srv->limits, &stream_callbacks, c);
}

/* Write our stream header (once per stream). */
static void stream_write_header(conn_t *c)
{
    unsigned char rnd[16];
    char stream_id[33];
    RAND_bytes(rnd, sizeof rnd);
    for (int i = 0; i < 16; i++) snprintf(stream_id + 2 * i, 3, "%02x", rnd[i]);
    buf_t b = BUF_INIT;
    buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' id='");
    buf_puts(&b, stream_id);
    buf_puts(&b, "' from='");
    buf_append_xml_escaped(&b, c->srv->domain, strlen(c->srv->domain), 1);
    buf_puts(&b, "' version='1.0' xml:lang='en'>");
    conn_write(c, b.data, b.len);
    buf_free(&b);
    c->header_sent = 1;
}

void stream_error(conn_t *c, const char *condition, const char *text)
{
    if (c->state == CONN_CLOSED || c->state == CONN_CLOSING) return;
    if (!c->header_sent) stream_write_header(c);
    log_info("conn %llu (%s): stream error %s%s%s", (unsigned long long)c->id,
             conn_name(c), condition, text ? ": " : "", text ? text : "");
    buf_t b = BUF_INIT;
    buf_printf(&b, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", condition);
    if (text) {
        buf_puts(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
        buf_append_xml_escaped(&b, text, strlen(text), 0);
        buf_puts(&b, "</text>");
    }
    buf_puts(&b, "</stream:error></stream:stream>");
    conn_write(c, b.data, b.len);
    buf_free(&b);
    if (c->parser) xml_stream_stop(c->parser);
    conn_close_after_flush(c);
}

void stream_send_features(conn_t *c)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "<stream:features>");
    if (!c->tls) {
        buf_puts(&b, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>");
        if (c->srv->require_tls) buf_puts(&b, "<required/>");
        buf_puts(&b, "</starttls>");
    }
    conn_write(c, b.data, b.len);
    buf_reset(&b);
    if (!c->authed && (c->tls || !c->srv->require_tls)) {
        sasl_write_mechanisms(c);
        if (register_enabled(c->srv)) buf_puts(&b, "<register xmlns='http://jabber.org/features/iq-register'/>");
    }
    if (c->authed) {
        buf_puts(&b, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                     "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
                     "<ver xmlns='urn:xmpp:features:rosterver'/>"
                     "<sub xmlns='urn:xmpp:features:pre-approval'/>");
    }
    if (c->srv->caps) buf_puts(&b, c->srv->caps);
    buf_puts(&b, "</stream:features>");
    conn_write(c, b.data, b.len);
    buf_free(&b);
}

/* Check the client's stream header; returns the stream error condition
 * or NULL if the stream may open. */
static const char *stream_check_header(conn_t *c, const xml_node *header, const char *default_ns,
                                       const char **text)
{
    const char *to = xml_attr_get(header, "to");
    const char *version = xml_attr_get(header, "version");
    *text = NULL;
    if (!default_ns || strcmp(default_ns, NS_CLIENT) != 0) {
        *text = "the stream namespace must be jabber:client";
        return "invalid-namespace";
    }
    if (to) {
        jid_t j;
        if (jid_parse(to, &j) < 0 || jid_has_local(&j) || jid_has_resource(&j) ||
            strcmp(j.domain, c->srv->domain) != 0)
            return "host-unknown";
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        *text = "version='1.0' is required";
        return "unsupported-version";
    }
    return NULL;
}

static void stream_on_open(void *ud, xml_node *header, const char *default_ns)
{
    conn_t *c = ud;
    const char *text;
    const char *cond = stream_check_header(c, header, default_ns, &text);
    xml_node_free(&header);
    if (c->state != CONN_HEADER) {
        stream_error(c, "bad-format", "unexpected stream header");
        return;
    }
    c->state = CONN_OPEN;
    if (cond) {
        stream_error(c, cond, text);
        return;
    }
    stream_write_header(c);
    stream_send_features(c);
}

/* <starttls/>: answer <proceed/>, flush it in the clear, then handshake. */
static void stream_starttls(conn_t *c, xml_node *el)
{
    if (c->tls || c->authed) {
        stream_error(c, "policy-violation", "TLS is already negotiated");
        return;
    }
    conn_write_str(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    if (conn_flush(c) < 0 || buf_pending(&c->out) > 0 || conn_start_tls(c) < 0) {
        conn_destroy(c, "cannot start TLS");
        return;
    }
    c->restart = 1;
    xml_stream_stop(c->parser);
}

/* Elements before authentication. */
static void stream_pre_auth(conn_t *c, xml_node *el)
{
    if (strcmp(el->name, "starttls") == 0 && strcmp(el->ns, NS_TLS) == 0) {
        stream_starttls(c, el);
        return;
    }
    if (strcmp(el->ns, NS_SASL) == 0) {
        if (!c->tls && c->srv->require_tls) {
            conn_write_str(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>");
            return;
        }
        sasl_handle(c, el);
        return;
    }
    if (register_handle(c, el)) return;
    stream_error(c, "not-authorized", NULL);
}

static int stream_is_stanza(const xml_node *el)
{
    return strcmp(el->ns, NS_CLIENT) == 0 &&
           (!strcmp(el->name, "message") || !strcmp(el->name, "presence") || !strcmp(el->name, "iq"));
}

/* The client's answer (result or error) to one of our keepalive pings:
 * it has done its job by arriving. */
static int stream_is_ping_answer(const conn_t *c, const xml_node *el)
{
    const char *id = xml_attr_get(el, "id"), *type = xml_attr_get(el, "type"), *to = xml_attr_get(el, "to");
    return strcmp(el->name, "iq") == 0 && id && strncmp(id, C2S_PING_ID, strlen(C2S_PING_ID)) == 0 && type &&
           (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) && (!to || strcmp(to, c->srv->domain) == 0);
}

static void stream_on_stanza(void *ud, xml_node *el)
{
    conn_t *c = ud;
    if (c->state != CONN_OPEN) {
        xml_node_free(&el);
        return;
    }
    if (!c->authed) {
        stream_pre_auth(c, el);
        xml_node_free(&el);
        return;
    }
    if (!stream_is_stanza(el)) {
        stream_error(c, strcmp(el->ns, NS_SASL) == 0 || strcmp(el->ns, NS_TLS) == 0 ? "policy-violation"
                                                                                  : "unsupported-stanza-type",
                     NULL);
        xml_node_free(&el);
        return;
    }
    c->srv->stanzas_in++;
    if (stream_is_ping_answer(c, el)) {
        xml_node_free(&el);
        return;
    }
    if (!c->bound && c->pending_req == 0 && strcmp(el->name, "iq") == 0) {
        bind_handle_iq(c, el);
        return;
    }
    bind_route_stanza(c, el);
}

static void stream_on_close(void *ud)
{
    conn_t *c = ud;
    if (c->state != CONN_OPEN) return;
    log_debug("conn %llu: client closed the stream", (unsigned long long)c->id);
    conn_write_str(c, "</stream:stream>");
    xml_stream_stop(c->parser);
    conn_close_after_flush(c);
}

/* Reset the parser for a new stream header. */
static void stream_reset_now(conn_t *c)
{
    c->restart = 0;
    c->header_sent = 0;
    if (c->state == CONN_OPEN) c->state = CONN_HEADER;
    if (xml_stream_reset(c->parser) < 0) conn_destroy(c, "parser reset failed");
}

void stream_restart(conn_t *c)
{
    if (c->in_feed) {
        c->restart = 1;
        xml_stream_stop(c->parser);
    } else {
        stream_reset_now(c);
    }
}

void stream_input(conn_t *c, const char *data, size_t len)
{
    conn_heard(c);
    c->in_feed = 1;
    int rc = xml_stream_feed(c->parser, data, len);
    c->in_feed = 0;
    if (rc == 0 && c->parser) conn_fed(c);
    if (rc < 0) {
        xml_err e = xml_stream_error(c->parser);
        if (c->state != CONN_CLOSED && c->state != CONN_CLOSING)
            stream_error(c, xml_err_condition(e), xml_stream_error_text(c->parser));
        return;
    }
    if (c->restart && c->state != CONN_CLOSED && c->state != CONN_CLOSING) stream_reset_now(c);
}
