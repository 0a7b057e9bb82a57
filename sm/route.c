/*
 * route.c - outbound processing and hand-over between shards (see
 * route.h).
 *
 * A STANZA_OUT carries one stanza of a local session, its 'from' stamped
 * by the c2s with the session's full JID. After the modules' outbound
 * hooks, the stanza goes by its 'to' (RFC 6120 section 10.3 and 10.5):
 *
 *   no 'to'              iq: the IQ handlers (for the account or server);
 *                        message: as if to the sender's bare JID;
 *                        presence: handled by mod_presence
 *   sender's bare JID    iq: the IQ handlers (account); others inbound
 *   our domain           iq: the IQ handlers (server); message:
 *                        <service-unavailable/>; presence: dropped
 *   another domain       <remote-server-not-found/> (no s2s yet)
 *   malformed            <jid-malformed/>
 *   a local account      inbound processing at the target's shard: here
 *                        if we hold its slot, else STANZA_IN to the slot
 *
 * Error replies take the same inbound path back to the sender's full JID.
 */
#include "route.h"

#include <string.h>

#include "deliver.h"
#include "iq.h"
#include "load.h"
#include "log.h"
#include "mod.h"
#include "privacy.h"
#include "session.h"
#include "stanza.h"

xml_node *sm_route_parse(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    xml_node *st = xml_parse_document(body, len);
    if (st && strcmp(st->ns, NS_CLIENT) == 0 &&
        (strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 || strcmp(st->name, "iq") == 0))
        return st;
    sm->stats.dropped++;
    log_msg(LOG_WARN, h->trace, "dropped %s from %s: %s", env_type_name(h->type), h->src,
            st ? "not a client stanza" : "not well-formed");
    xml_node_free(&st);
    return NULL;
}

int sm_stanza_bytes(sm_t *sm, const xml_node *st, buf_t *tmp, const char **data, size_t *len)
{
    if (st == sm->cur_st && xml_generation() == sm->cur_gen) {
        *data = sm->cur_body;
        *len = sm->cur_len;
        return 0;
    }
    if (xml_serialize(st, NULL, tmp) < 0) return -1;
    *data = tmp->data;
    *len = tmp->len;
    return 0;
}

/* Remember the envelope's stanza and bytes for sm_stanza_bytes. */
static void route_set_current(sm_t *sm, const xml_node *st, const char *body, size_t len)
{
    sm->cur_st = st;
    sm->cur_body = body;
    sm->cur_len = len;
    sm->cur_gen = xml_generation();
}

/* Send st to the shard holding slot as STANZA_IN. 0/-1. */
static int route_forward(sm_t *sm, const xml_node *st, unsigned slot)
{
    buf_t b = BUF_INIT;
    env_hdr h = {0};
    const char *data;
    size_t len;
    h.type = ENV_STANZA_IN;
    h.trace = sm->trace;
    env_set_dest_slot(&h, slot);
    int rc = sm_stanza_bytes(sm, st, &b, &data, &len);
    if (rc == 0) rc = bus_send(sm->bus, &h, data, len);
    buf_free(&b);
    if (rc == 0) sm->stats.forwarded++;
    return rc;
}

int sm_route_inbound(sm_t *sm, xml_node *st, const jid_t *to)
{
    char bare[SM_JID_MAX];
    if (jid_bare(to, bare, sizeof bare) < 0) return -1;
    if (sm_owns(sm, bare)) {
        sm_deliver_inbound(sm, st, to);
        return 0;
    }
    if (route_forward(sm, st, slot_of(bare)) == 0) return 0;
    log_msg(LOG_WARN, sm->trace, "cannot forward %s to %s (slot %u)", st->name, bare, slot_of(bare));
    sm_route_bounce(sm, st, "service-unavailable");
    return -1;
}

/* Answer st with an error; keep_from = 0 leaves the reply without 'from'
 * (when the original 'to' was not a valid JID). */
static void route_error(sm_t *sm, const xml_node *st, const char *condition, const char *text, int keep_from)
{
    const char *from = xml_attr_get(st, "from");
    jid_t j;
    if (stanza_is_error_or_result(st)) return;
    if (!from || jid_parse(from, &j) < 0 || !jid_has_local(&j) || strcmp(j.domain, sm->domain) != 0) {
        log_msg(LOG_DEBUG, sm->trace, "no error reply for %s from %s", st->name, from ? from : "-");
        return;
    }
    xml_node *r = stanza_error_reply(st, condition, text);
    if (!r) {
        log_error("cannot build <%s/> error reply", condition);
        return;
    }
    if (!keep_from) xml_attr_del(r, "from");
    sm->stats.bounced++;
    log_msg(LOG_DEBUG, sm->trace, "error reply <%s/> to %s for %s", condition, from, st->name);
    sm_route_inbound(sm, r, &j);
    xml_node_free(&r);
}

void sm_route_bounce(sm_t *sm, const xml_node *st, const char *condition)
{
    route_error(sm, st, condition, NULL, 1);
}

void sm_route_bounce_text(sm_t *sm, const xml_node *st, const char *condition, const char *text)
{
    route_error(sm, st, condition, text, 1);
}

/* No 'to': the sender's own account (RFC 6120 section 10.3). */
static void route_out_self(sm_t *sm, sm_session *s, xml_node *st)
{
    jid_t self;
    if (strcmp(st->name, "iq") == 0) {
        sm_iq_handle(sm, s, st, SM_IQ_ACCOUNT | SM_IQ_SERVER);
    } else if (strcmp(st->name, "message") == 0) {
        if (jid_parse(s->user->bare, &self) == 0 && xml_attr_set(st, "to", s->user->bare) == 0)
            sm_route_inbound(sm, st, &self);
    } else {
        log_msg(LOG_DEBUG, sm->trace, "dropped presence without 'to' from %s", s->full);
    }
}

/* To the server's domain (to->resource may be set). */
static void route_out_server(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (strcmp(st->name, "iq") == 0 && !jid_has_resource(to))
        sm_iq_handle(sm, s, st, SM_IQ_SERVER);
    else if (strcmp(st->name, "presence") != 0)
        sm_route_bounce(sm, st, "service-unavailable");
}

/* Non-zero if the sender's privacy lists stop st to `to`; then it was
 * answered: a blocked JID (XEP-0191) gets nothing and the sender
 * <not-acceptable/> with <blocked xmlns='urn:xmpp:blocking:errors'/>;
 * presence a list denies as presence-out is dropped. */
static int route_refused(sm_t *sm, sm_session *s, const xml_node *st, const jid_t *to)
{
    char bare[SM_JID_MAX];
    if (!s->user->privacy || jid_bare(to, bare, sizeof bare) < 0 || strcmp(bare, s->user->bare) == 0) return 0;
    if (sm_privacy_blocked(s->user, to)) {
        xml_node *r = stanza_is_error_or_result(st) ? NULL : stanza_error_reply(st, "not-acceptable", NULL);
        xml_node *e = r ? xml_child(r, "error", NS_CLIENT) : NULL;
        /* type 'cancel' as XEP-0191 shows it (RFC 6120's default for the condition is 'modify') */
        if (e && xml_attr_set(e, "type", "cancel") == 0 && xml_add_child(e, "blocked", NS_BLOCKING_ERRORS))
            sm_deliver(sm, s, r);
        xml_node_free(&r);
        return 1;
    }
    return strcmp(st->name, "presence") == 0 && sm_privacy_denies(s->user, s, to, SM_PRIV_PRES_OUT);
}

void sm_route_out(sm_t *sm, sm_session *s, xml_node *st)
{
    const char *to_s = xml_attr_get(st, "to");
    jid_t to;
    char bare[SM_JID_MAX];
    if (to_s && jid_parse(to_s, &to) < 0) {
        route_error(sm, st, "jid-malformed", NULL, 0);
        return;
    }
    if (to_s && route_refused(sm, s, st, &to)) return;
    if (sm_mod_out(sm, s, st, to_s ? &to : NULL) == SM_HANDLED) return;
    if (!to_s)
        route_out_self(sm, s, st);
    else if (strcmp(to.domain, sm->domain) != 0)
        sm_route_bounce(sm, st, "remote-server-not-found");
    else if (!jid_has_local(&to))
        route_out_server(sm, s, st, &to);
    else if (strcmp(st->name, "iq") == 0 && !jid_has_resource(&to) &&
             jid_bare(&to, bare, sizeof bare) >= 0 && strcmp(bare, s->user->bare) == 0)
        sm_iq_handle(sm, s, st, SM_IQ_ACCOUNT);
    else
        sm_route_inbound(sm, st, &to);
}

/* The local session that sent a STANZA_OUT: the one named by 'from' and
 * still held by the sending connection. NULL (logged) if none. */
static sm_session *route_sender(sm_t *sm, const env_hdr *h, const xml_node *st)
{
    const char *from = xml_attr_get(st, "from");
    jid_t j;
    char bare[SM_JID_MAX];
    int ok = from && jid_parse(from, &j) == 0 && jid_bare(&j, bare, sizeof bare) >= 0;
    sm_session *s = ok ? sm_session_find_jid(sm, &j) : NULL;
    if (s && strcmp(s->c2s, h->src) == 0 && s->conn == h->conn) return s;
    sm->stats.dropped++;
    log_msg(ok && sm_owns(sm, bare) ? LOG_DEBUG : LOG_WARN, h->trace,
            "dropped %s from %s conn=%llu: no session %s here", st->name, h->src,
            (unsigned long long)h->conn, from ? from : "(no from)");
    return NULL;
}

void sm_route_on_out(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    xml_node *st = sm_route_parse(sm, h, body, len);
    if (!st) return;
    sm->stats.out++;
    route_set_current(sm, st, body, len);
    sm_session *s = route_sender(sm, h, st);
    if (s && !sm_load_gate_out(sm, s, st)) sm_route_out(sm, s, st);
    route_set_current(sm, NULL, NULL, 0);
    xml_node_free(&st);
}

void sm_route_on_in(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    xml_node *st = sm_route_parse(sm, h, body, len);
    if (!st) return;
    sm->stats.in++;
    route_set_current(sm, st, body, len);
    const char *to_s = xml_attr_get(st, "to");
    jid_t to;
    char bare[SM_JID_MAX];
    if (!to_s || jid_parse(to_s, &to) < 0 || !jid_has_local(&to) || jid_bare(&to, bare, sizeof bare) < 0) {
        sm->stats.dropped++;
        log_msg(LOG_WARN, h->trace, "dropped STANZA_IN from %s: bad 'to' %s", h->src, to_s ? to_s : "(none)");
    } else if (!sm_owns(sm, bare)) {
        sm->stats.dropped++;
        log_msg(LOG_WARN, h->trace, "dropped STANZA_IN from %s for %s: slot %u is not ours", h->src, bare,
                slot_of(bare));
    } else {
        sm_deliver_inbound(sm, st, &to);
    }
    route_set_current(sm, NULL, NULL, 0);
    xml_node_free(&st);
}

void sm_route_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    xml_node *st = sm_route_parse(sm, h, body, len);
    if (!st) return;
    log_msg(LOG_WARN, h->trace, "%s to %s (slot %u) was unroutable", st->name,
            xml_attr_get(st, "to") ? xml_attr_get(st, "to") : "-", h->slot);
    if (strcmp(st->name, "presence") != 0) sm_route_bounce(sm, st, "service-unavailable");
    xml_node_free(&st);
}
