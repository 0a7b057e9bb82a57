/*
 * deliver.c - inbound processing for this shard's users and delivery to
 * their connections (see deliver.h).
 *
 * The rules follow RFC 6121 section 8.5 for a local account, before
 * offline storage and privacy lists exist (their hooks are the modules'
 * `in` and `undelivered`):
 *
 *   message, full JID    the session if bound; else groupchat:
 *                        <service-unavailable/>, error: dropped, others:
 *                        as if to the bare JID (8.5.3.2.1)
 *   message, bare JID    chat/normal: the available sessions with the
 *                        highest non-negative priority, none:
 *                        <service-unavailable/>; headline: every
 *                        non-negative available session, none: dropped;
 *                        groupchat: <service-unavailable/>; error: dropped
 *   iq, full JID         the session if bound, else <service-unavailable/>
 *   iq, bare JID         get/set <service-unavailable/> (nothing answers
 *                        for accounts yet)
 *   presence, full JID   the session if bound, else dropped
 *   presence, bare JID   every available session
 *
 * Results and errors are never answered (sm_route_bounce checks).
 */
#include "deliver.h"

#include <string.h>

#include "log.h"
#include "mod.h"
#include "route.h"
#include "session.h"
#include "shard.h"
#include "stanza.h"

typedef enum msg_type { MSG_NORMAL, MSG_CHAT, MSG_GROUPCHAT, MSG_HEADLINE, MSG_ERROR } msg_type;

/* Send bytes already serialized to one session. 0/-1. */
static int deliver_raw(sm_t *sm, const sm_session *s, const char *data, size_t len)
{
    env_hdr h = {0};
    h.type = ENV_STANZA_DELIVER;
    h.conn = s->conn;
    h.trace = sm->trace;
    if (env_set_dest_node(&h, s->c2s) < 0 || bus_send(sm->bus, &h, data, len) < 0) return -1;
    sm->stats.delivered++;
    return 0;
}

int sm_deliver(sm_t *sm, const sm_session *s, const xml_node *st)
{
    buf_t b = BUF_INIT;
    int rc = xml_serialize(st, NULL, &b);
    if (rc == 0) rc = deliver_raw(sm, s, b.data, b.len);
    buf_free(&b);
    return rc;
}

/* Highest priority among available sessions with priority >= 0, or -1. */
static int deliver_top_prio(const sm_user *u)
{
    int top = -1;
    for (const sm_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (s->avail && s->prio > top) top = s->prio;
    return top;
}

static int deliver_selected(const sm_session *s, sm_deliver_sel sel, int top)
{
    if (!s->avail) return 0;
    if (sel == SM_SEL_AVAILABLE) return 1;
    if (sel == SM_SEL_NONNEG) return s->prio >= 0;
    return s->prio >= 0 && s->prio == top;
}

unsigned sm_deliver_user(sm_t *sm, const sm_user *u, const xml_node *st, sm_deliver_sel sel,
                         const sm_session *skip)
{
    int top = deliver_top_prio(u);
    buf_t b = BUF_INIT;
    unsigned sent = 0;
    for (const sm_session *s = u ? u->sessions : NULL; s; s = s->next) {
        if (s == skip || !deliver_selected(s, sel, top)) continue;
        if (b.len == 0 && xml_serialize(st, NULL, &b) < 0) break;
        if (deliver_raw(sm, s, b.data, b.len) == 0) sent++;
    }
    buf_free(&b);
    return sent;
}

static msg_type deliver_msg_type(const xml_node *st)
{
    const char *t = xml_attr_get(st, "type");
    if (!t) return MSG_NORMAL;
    if (strcmp(t, "chat") == 0) return MSG_CHAT;
    if (strcmp(t, "groupchat") == 0) return MSG_GROUPCHAT;
    if (strcmp(t, "headline") == 0) return MSG_HEADLINE;
    if (strcmp(t, "error") == 0) return MSG_ERROR;
    return MSG_NORMAL;   /* RFC 6121 5.2.2: unknown types are "normal" */
}

static void deliver_drop(sm_t *sm, const xml_node *st, const jid_t *to, const char *why)
{
    char full[SM_JID_MAX];
    sm->stats.dropped++;
    if (log_enabled(LOG_DEBUG) && jid_full(to, full, sizeof full) >= 0)
        log_msg(LOG_DEBUG, sm->trace, "dropped %s to %s: %s", st->name, full, why);
}

static void deliver_message_bare(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u, msg_type t)
{
    if (t == MSG_ERROR) {
        deliver_drop(sm, st, to, "error message without a session");
    } else if (t == MSG_GROUPCHAT) {
        sm_route_bounce(sm, st, "service-unavailable");
    } else if (t == MSG_HEADLINE) {
        if (!sm_deliver_user(sm, u, st, SM_SEL_NONNEG, NULL)) deliver_drop(sm, st, to, "no available resource");
    } else if (!sm_deliver_user(sm, u, st, SM_SEL_TOP, NULL) &&
               sm_mod_undelivered(sm, st, to) != SM_HANDLED) {
        sm_route_bounce(sm, st, "service-unavailable");
    }
}

static void deliver_message(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    msg_type t = deliver_msg_type(st);
    if (jid_has_resource(to)) {
        sm_session *s = sm_session_find(u, to->resource);
        if (s) {
            sm_deliver(sm, s, st);
            return;
        }
    }
    deliver_message_bare(sm, st, to, u, t);
}

static void deliver_iq(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    sm_session *s = jid_has_resource(to) ? sm_session_find(u, to->resource) : NULL;
    if (s) sm_deliver(sm, s, st);
    else if (stanza_is_error_or_result(st)) deliver_drop(sm, st, to, "no session for a result/error");
    else sm_route_bounce(sm, st, "service-unavailable");
}

static void deliver_presence(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    if (jid_has_resource(to)) {
        sm_session *s = sm_session_find(u, to->resource);
        if (s) sm_deliver(sm, s, st);
        else deliver_drop(sm, st, to, "no such session");
    } else if (!sm_deliver_user(sm, u, st, SM_SEL_AVAILABLE, NULL)) {
        deliver_drop(sm, st, to, "no available resource");
    }
}

void sm_deliver_inbound(sm_t *sm, xml_node *st, const jid_t *to)
{
    char bare[SM_JID_MAX];
    if (jid_bare(to, bare, sizeof bare) < 0) return;
    sm_user *u = sm_user_find(sm, bare);
    if (sm_mod_in(sm, st, to, u) == SM_HANDLED) return;
    if (strcmp(st->name, "message") == 0) deliver_message(sm, st, to, u);
    else if (strcmp(st->name, "iq") == 0) deliver_iq(sm, st, to, u);
    else deliver_presence(sm, st, to, u);
}

/* Non-zero if s is the target of the bounced delivery h. A c2s bouncing
 * a delivery names itself as the source; a router keeps the original
 * destination in dest. */
static int deliver_bounce_matches(const sm_session *s, const env_hdr *h, int from_router)
{
    return s->conn == h->conn && strcmp(s->c2s, from_router ? h->dest : h->src) == 0;
}

/* The session a bounced STANZA_DELIVER was for: among the sessions of
 * the user named by the stanza's 'to' (by its 'from' for stanzas without
 * one, such as presence broadcast to the user's own resources), the one
 * that matches the bounce. */
static sm_session *deliver_bounced_session(sm_t *sm, const env_hdr *h, const xml_node *st)
{
    const char *to = xml_attr_get(st, "to"), *who = to ? to : xml_attr_get(st, "from");
    char bare[SM_JID_MAX];
    jid_t j;
    int from_router = sm_shard_peer(sm, h->src) == SM_PEER_ROUTER;
    if (!who || jid_parse(who, &j) < 0 || jid_bare(&j, bare, sizeof bare) < 0) return NULL;
    sm_user *u = sm_user_find(sm, bare);
    if (to && jid_has_resource(&j)) {
        sm_session *s = sm_session_find(u, j.resource);
        return s && deliver_bounce_matches(s, h, from_router) ? s : NULL;
    }
    for (sm_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (deliver_bounce_matches(s, h, from_router)) return s;
    return NULL;
}

void sm_deliver_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    xml_node *st = sm_route_parse(sm, h, body, len);
    if (!st) return;
    sm_session *s = deliver_bounced_session(sm, h, st);
    log_msg(LOG_WARN, h->trace, "delivery of %s to conn=%llu failed: %s", st->name,
            (unsigned long long)h->conn, s ? "dropping the session" : "no matching session");
    if (strcmp(st->name, "iq") == 0) sm_route_bounce(sm, st, "service-unavailable");
    if (s) {
        sm_user *u = s->user;
        sm_session_end(sm, s, "unroutable");
        sm_user_release(sm, &u);
    }
    xml_node_free(&st);
}
