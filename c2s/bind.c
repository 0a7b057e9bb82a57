/*
 * bind.c - resource binding and the hand-off of client stanzas to the
 * user's sm shard.
 *
 * Bind (RFC 6120 section 7): the requested resource is prepared here and
 * sent with BIND_REQ to the shard owning the user's slot, which resolves
 * conflicts (the older session is kicked) and answers with the full JID.
 * Stanzas the client sends while the answer is pending are held, in
 * order, and routed once the session exists.
 *
 * After bind, every stanza gets from = the session's full JID (whatever
 * the client wrote) and goes to the sm as STANZA_OUT. The legacy session
 * IQ (RFC 3921) is answered here.
 */
#include "c2s.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slot.h"
#include "stanza.h"

#define BIND_TIMEOUT_MS 5000
#define BIND_MAX_HELD 64

static void bind_send_error(conn_t *c, const xml_node *iq, const char *cond)
{
    xml_node *e = stanza_error_reply(iq, cond, NULL);
    if (e) {
        xml_attr_del(e, "from");
        xml_attr_del(e, "to");
        conn_write_node(c, e);
        xml_node_free(&e);
    }
}

static void bind_release_held(conn_t *c)
{
    while (c->held_first && c->state == CONN_OPEN && c->bound) {
        xml_node *st = c->held_first;
        c->held_first = st->next;
        st->next = NULL;
        c->held_count--;
        bind_route_stanza(c, st);
    }
    if (!c->held_first) c->held_last = NULL;
}

void bind_free_held(conn_t *c)
{
    xml_node_free(&c->bind_iq);
    buf_free(&c->early);
    while (c->held_first) {
        xml_node *st = c->held_first;
        c->held_first = st->next;
        st->next = NULL;
        xml_node_free(&st);
    }
    c->held_last = NULL;
    c->held_count = 0;
}

/* The sm names the domain's caps in each bind answer (every shard runs
 * the same code, so they agree); keep the <c/> element for the stream
 * features of the connections that come later. */
static void bind_learn_caps(c2s_t *s, const json_t *caps)
{
    const char *hash = json_string_value(json_object_get(caps, "hash"));
    const char *node = json_string_value(json_object_get(caps, "node"));
    const char *ver = json_string_value(json_object_get(caps, "ver"));
    if (!hash || !node || !ver) return;
    xml_node *c = xml_node_new("c", "http://jabber.org/protocol/caps");
    buf_t b = BUF_INIT;
    if (c && xml_attr_set(c, "hash", hash) == 0 && xml_attr_set(c, "node", node) == 0 &&
        xml_attr_set(c, "ver", ver) == 0 && xml_serialize(c, NULL, &b) == 0 && (!s->caps || strcmp(s->caps, b.data))) {
        free(s->caps);
        s->caps = buf_steal(&b, NULL);
    }
    buf_free(&b);
    xml_node_free(&c);
}

static void bind_on_reply(void *ud, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = ud;
    xml_node *iq = c->bind_iq;
    c->bind_iq = NULL;
    c->pending_req = 0;
    json_t *j = h && h->type == ENV_BIND_RESP ? json_loadb(body, len, 0, NULL) : NULL;
    const char *jid = json_string_value(json_object_get(j, "jid"));
    bind_learn_caps(c->srv, json_object_get(j, "caps"));
    if (c->state == CONN_OPEN && json_is_true(json_object_get(j, "ok")) && jid) {
        free(c->full);
        c->full = strdup(jid);
        c->bound = 1;
        loop_cancel_timer(c->srv->loop, c->auth_timer);
        c->auth_timer = 0;
        log_info("session bound jid=%s conn=%llu peer=%s", c->full, (unsigned long long)c->id, c->peer);
        xml_node *r = stanza_iq_result(iq);
        xml_attr_del(r, "from");
        xml_attr_del(r, "to");
        xml_node *b = xml_add_child(r, "bind", NS_BIND);
        xml_node *jn = xml_add_child(b, "jid", NS_BIND);
        xml_add_text(jn, c->full, strlen(c->full));
        conn_write_node(c, r);
        xml_node_free(&r);
        if (buf_pending(&c->early)) conn_write(c, buf_head(&c->early), buf_pending(&c->early));
        buf_free(&c->early);
        bind_release_held(c);
    } else if (c->state == CONN_OPEN) {
        const char *cond = json_string_value(json_object_get(j, "condition"));
        if (!cond || !stanza_error_type(cond)) cond = h ? "internal-server-error" : "remote-server-timeout";
        log_info("conn %llu: bind for %s failed: %s", (unsigned long long)c->id, c->bare, cond);
        bind_send_error(c, iq, cond);
        bind_free_held(c);
    }
    json_decref(j);
    xml_node_free(&iq);
}

/* Send BIND_REQ for c->bare with the prepared resource. Takes iq. */
static void bind_request(conn_t *c, xml_node *iq, const char *resource)
{
    json_t *req = json_pack("{s:s, s:s}", "jid", c->bare, "resource", resource);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    env_hdr h = {0};
    h.type = ENV_BIND_REQ;
    h.conn = c->id;
    env_set_dest_slot(&h, c->slot);
    if (bus_request(c->srv->bus, &h, body, strlen(body), BIND_TIMEOUT_MS, bind_on_reply, c) < 0) {
        bind_send_error(c, iq, "internal-server-error");
        xml_node_free(&iq);
    } else {
        c->pending_req = h.req;
        c->bind_iq = iq;
    }
    free(body);
}

void bind_handle_iq(conn_t *c, xml_node *iq)
{
    const char *type = xml_attr_get(iq, "type");
    xml_node *b = xml_child(iq, "bind", NS_BIND);
    if (!b || !type || strcmp(type, "set") != 0) {
        if (type && (!strcmp(type, "get") || !strcmp(type, "set")) && !b)
            stream_error(c, "not-authorized", "bind a resource first");
        else if (b) bind_send_error(c, iq, "bad-request");
        xml_node_free(&iq);
        return;
    }
    char resource[JID_PART_MAX + 1] = "";
    xml_node *rn = xml_child(b, "resource", NS_BIND);
    if (rn) {
        char *raw = xml_text(rn);
        int bad = !raw || (raw[0] && jid_resourceprep(raw, resource) < 0);
        free(raw);
        if (bad) {
            bind_send_error(c, iq, "bad-request");
            xml_node_free(&iq);
            return;
        }
    }
    bind_request(c, iq, resource);
}

void bind_route_stanza(conn_t *c, xml_node *st)
{
    if (!c->bound) {
        if (c->pending_req && c->held_count < BIND_MAX_HELD) {
            if (c->held_last) c->held_last->next = st;
            else c->held_first = st;
            c->held_last = st;
            c->held_count++;
            return;
        }
        stream_error(c, c->pending_req ? "policy-violation" : "not-authorized", NULL);
        xml_node_free(&st);
        return;
    }
    const char *type = xml_attr_get(st, "type");
    if (strcmp(st->name, "iq") == 0 && type && strcmp(type, "set") == 0 && xml_child(st, "session", NS_SESSION)) {
        xml_node *r = stanza_iq_result(st);
        xml_attr_del(r, "to");
        xml_attr_set(r, "from", c->srv->domain);
        conn_write_node(c, r);
        xml_node_free(&r);
        xml_node_free(&st);
        return;
    }
    xml_attr_set(st, "from", c->full);
    buf_t b = BUF_INIT;
    if (xml_serialize(st, NULL, &b) == 0) {
        env_hdr h = {0};
        h.type = ENV_STANZA_OUT;
        h.conn = c->id;
        env_set_dest_slot(&h, c->slot);
        bus_send(c->srv->bus, &h, b.data, b.len);
    }
    buf_free(&b);
    xml_node_free(&st);
}

void bind_unbind(conn_t *c, const char *reason)
{
    if (!c->bound) return;
    c->bound = 0;
    json_t *j = json_pack("{s:s, s:s}", "jid", c->full, "reason", reason);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    env_hdr h = {0};
    h.type = ENV_UNBIND;
    h.conn = c->id;
    env_set_dest_slot(&h, c->slot);
    bus_send(c->srv->bus, &h, body, strlen(body));
    free(body);
    /* debug: the sm logs the end of every session at info */
    log_debug("session unbound jid=%s conn=%llu reason=%s", c->full, (unsigned long long)c->id, reason);
}
