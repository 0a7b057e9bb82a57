/*
 * deliver.c - inbound processing for this shard's users and delivery to
 * their connections (see deliver.h).
 *
 * After the modules' `in` hooks (probes and subscriptions are answered
 * there), a stanza for a local account follows RFC 6121 section 8.5.
 * Messages go by the table below: 8.5.4 Table 1 with our choice wherever
 * it allows two ("S/E", "O/E", "M/A"). A message to a full JID whose
 * session is bound (available or not, any priority) always goes to it.
 *
 *                                normal  chat  groupchat  headline  error
 *   no such account      bare      E      E       E          S        S
 *                        full      E      E       E          S        S
 *   no available resource bare      O      O       E          S        S
 *   with priority >= 0   full      E      O       E          S        S
 *   one or more with     bare      M      M       E          A        S
 *   priority >= 0        full      E      M       E          S        S
 *
 *   S dropped; E <service-unavailable/>; O offline storage (the modules'
 *   `undelivered` hooks, mod_offline.c), E if none stores it; M the
 *   resources with the highest priority >= 0 (all of them if tied); A
 *   every resource with priority >= 0. 'to' is never rewritten. ("full"
 *   means a full JID without a bound session.)
 *
 *   iq         full JID with a bound session: delivered. Otherwise
 *              results and errors are dropped and get/set answered:
 *              to the bare JID from the account itself by the IQ
 *              handlers (SM_IQ_ACCOUNT), from anyone else by the
 *              handlers that answer for the account (SM_IQ_OTHERS),
 *              else <service-unavailable/>.
 *   presence   no such account: dropped (8.5.1); full JID: its session,
 *              else dropped; bare JID: every available session, none:
 *              dropped; a probe the hooks left: dropped. Presence that
 *              can only go to sessions (available, unavailable, error)
 *              for a user without any here is dropped before the user's
 *              state is loaded.
 *
 * Results and errors are never answered (sm_route_bounce checks).
 */
#include "deliver.h"

#include <string.h>
#include <time.h>

#include "iq.h"
#include "load.h"
#include "privacy.h"
#include "log.h"
#include "mod.h"
#include "route.h"
#include "session.h"
#include "shard.h"
#include "stanza.h"

typedef enum msg_type { MSG_NORMAL, MSG_CHAT, MSG_GROUPCHAT, MSG_HEADLINE, MSG_ERROR, MSG_NTYPES } msg_type;

/* What happens to a message (the table above). */
typedef enum deliver_act {
    ACT_S,   /* silently dropped */
    ACT_E,   /* <service-unavailable/> */
    ACT_O,   /* offline storage, else E */
    ACT_M,   /* the "most available" resources */
    ACT_A,   /* every resource with priority >= 0 */
} deliver_act;

/* Rows of the table: the account and its resources. */
enum { ROW_NO_ACCOUNT, ROW_NO_RESOURCE, ROW_RESOURCES, ROW_COUNT };

/* [row][0 bare, 1 full JID without a session][message type] */
static const deliver_act deliver_msg_rules[ROW_COUNT][2][MSG_NTYPES] = {
    /*                  normal  chat   groupchat headline error */
    [ROW_NO_ACCOUNT] = {{ACT_E, ACT_E, ACT_E, ACT_S, ACT_S},
                        {ACT_E, ACT_E, ACT_E, ACT_S, ACT_S}},
    [ROW_NO_RESOURCE] = {{ACT_O, ACT_O, ACT_E, ACT_S, ACT_S},
                         {ACT_E, ACT_O, ACT_E, ACT_S, ACT_S}},
    [ROW_RESOURCES] = {{ACT_M, ACT_M, ACT_E, ACT_A, ACT_S},
                       {ACT_E, ACT_M, ACT_E, ACT_S, ACT_S}},
};

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
    const char *data;
    size_t len;
    int rc = sm_stanza_bytes(sm, st, &b, &data, &len);
    if (rc == 0) rc = deliver_raw(sm, s, data, len);
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

/* Non-zero if the privacy list that applies to s (its active list, else
 * the default) refuses st from someone else: a stanza to the bare JID
 * reaches each session only as that session's list allows. */
static int deliver_session_refuses(const sm_user *u, const sm_session *s, const xml_node *st)
{
    const char *from_s = u->privacy ? xml_attr_get(st, "from") : NULL;
    jid_t from;
    char bare[SM_JID_MAX];
    if (!from_s || jid_parse(from_s, &from) < 0 || jid_bare(&from, bare, sizeof bare) < 0 || !strcmp(bare, u->bare))
        return 0;
    unsigned kind = sm_privacy_kind_in(st);
    return sm_privacy_denies(u, s, &from, kind);
}

unsigned sm_deliver_user(sm_t *sm, const sm_user *u, const xml_node *st, sm_deliver_sel sel,
                         const sm_session *skip)
{
    int top = deliver_top_prio(u);
    buf_t b = BUF_INIT;
    unsigned sent = 0;
    for (const sm_session *s = u ? u->sessions : NULL; s; s = s->next) {
        if (s == skip || !deliver_selected(s, sel, top) || deliver_session_refuses(u, s, st)) continue;
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

/* The table row for u. */
static int deliver_row(const sm_user *u)
{
    if (!u->exists) return ROW_NO_ACCOUNT;
    return deliver_top_prio(u) >= 0 ? ROW_RESOURCES : ROW_NO_RESOURCE;
}

static void deliver_message(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    sm_session *s = jid_has_resource(to) ? sm_session_find(u, to->resource) : NULL;
    if (s) {
        sm_deliver(sm, s, st);
        return;
    }
    switch (deliver_msg_rules[deliver_row(u)][jid_has_resource(to)][deliver_msg_type(st)]) {
    case ACT_S:
        deliver_drop(sm, st, to, u->exists ? "no resource for this message type" : "no such account");
        break;
    case ACT_E:
        sm_route_bounce(sm, st, "service-unavailable");
        break;
    case ACT_O:
        if (sm_mod_undelivered(sm, st, to) != SM_HANDLED) sm_route_bounce(sm, st, "service-unavailable");
        break;
    case ACT_M:
        /* nobody took it (each session's privacy list refused it): the
         * sender learns, as for a refusal by the default list */
        if (!sm_deliver_user(sm, u, st, SM_SEL_TOP, NULL)) sm_route_bounce(sm, st, "service-unavailable");
        break;
    case ACT_A:
        sm_deliver_user(sm, u, st, SM_SEL_NONNEG, NULL);
        break;
    }
}

/* The sending session if st comes from one of u's own sessions. */
static sm_session *deliver_own_sender(const sm_user *u, const xml_node *st)
{
    const char *from = xml_attr_get(st, "from");
    jid_t j;
    char bare[SM_JID_MAX];
    if (!from || jid_parse(from, &j) < 0 || !jid_has_resource(&j) || jid_bare(&j, bare, sizeof bare) < 0 ||
        strcmp(bare, u->bare) != 0)
        return NULL;
    return sm_session_find(u, j.resource);
}

static void deliver_iq(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    sm_session *s = jid_has_resource(to) ? sm_session_find(u, to->resource) : NULL, *self;
    if (s) sm_deliver(sm, s, st);
    else if (stanza_is_error_or_result(st)) deliver_drop(sm, st, to, "no session for a result/error");
    else if (!jid_has_resource(to) && u->exists && (self = deliver_own_sender(u, st)))
        sm_iq_handle(sm, self, st, SM_IQ_ACCOUNT);
    else if (!jid_has_resource(to) && u->exists)
        sm_iq_handle_others(sm, u, st);
    else sm_route_bounce(sm, st, "service-unavailable");
}

static void deliver_presence(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    const char *type = xml_attr_get(st, "type");
    if (!u->exists) {
        deliver_drop(sm, st, to, "no such account");
    } else if (type && strcmp(type, "probe") == 0) {
        deliver_drop(sm, st, to, "probe not answered");
    } else if (jid_has_resource(to)) {
        sm_session *s = sm_session_find(u, to->resource);
        if (s) sm_deliver(sm, s, st);
        else deliver_drop(sm, st, to, "no such session");
    } else if (!sm_deliver_user(sm, u, st, SM_SEL_AVAILABLE, NULL)) {
        deliver_drop(sm, st, to, "no available resource");
    }
}

/* Non-zero if u's privacy lists refuse st from another entity; then it
 * was dropped or answered as XEP-0191 says (presence: nothing; message:
 * <service-unavailable/>; iq get/set: <service-unavailable/>; errors and
 * results: nothing), so that u looks offline to the sender. */
static int deliver_refused(sm_t *sm, sm_user *u, const xml_node *st, const jid_t *to)
{
    const char *from_s = xml_attr_get(st, "from");
    jid_t from;
    char bare[SM_JID_MAX];
    if (!u->privacy || !from_s || jid_parse(from_s, &from) < 0 || jid_bare(&from, bare, sizeof bare) < 0 ||
        strcmp(bare, u->bare) == 0)
        return 0;
    unsigned kind = sm_privacy_kind_in(st);
    const sm_session *target = jid_has_resource(to) ? sm_session_find(u, to->resource) : NULL;
    if (!target)    /* to the bare JID: sessions with an active list decide for themselves */
        for (const sm_session *s = u->sessions; s; s = s->next)
            if (s->privacy_active) return 0;
    if (!sm_privacy_denies(u, target, &from, kind)) return 0;
    sm->stats.dropped++;
    log_msg(LOG_DEBUG, sm->trace, "%s from %s to %s refused by a privacy list", st->name, from_s, u->bare);
    if (kind != SM_PRIV_PRES_IN) sm_route_bounce(sm, st, "service-unavailable");
    return 1;
}

void sm_deliver_loaded(sm_t *sm, sm_user *u, xml_node *st)
{
    const char *to_s = xml_attr_get(st, "to");
    jid_t to;
    if (!to_s || jid_parse(to_s, &to) < 0) return;
    if (deliver_refused(sm, u, st, &to)) return;
    if (sm_mod_in(sm, st, &to, u) == SM_HANDLED) return;
    if (strcmp(st->name, "message") == 0) deliver_message(sm, st, &to, u);
    else if (strcmp(st->name, "iq") == 0) deliver_iq(sm, st, &to, u);
    else deliver_presence(sm, st, &to, u);
}

/* Non-zero for presence that only sessions could receive (available,
 * unavailable, error) when the user has none here. */
static int deliver_presence_to_nobody(sm_t *sm, const xml_node *st, const char *bare)
{
    if (strcmp(st->name, "presence") != 0) return 0;
    const char *type = xml_attr_get(st, "type");
    if (type && strcmp(type, "unavailable") != 0 && strcmp(type, "error") != 0) return 0;
    const sm_user *u = sm_user_find(sm, bare);
    return !u || !u->sessions;
}

void sm_deliver_inbound(sm_t *sm, xml_node *st, const jid_t *to)
{
    char bare[SM_JID_MAX];
    if (jid_bare(to, bare, sizeof bare) < 0) return;
    if (deliver_presence_to_nobody(sm, st, bare)) {
        deliver_drop(sm, st, to, "no session");
        return;
    }
    sm_user *u = sm_user_open(sm, bare);
    if (!u) {
        sm_route_bounce(sm, st, "internal-server-error");
        return;
    }
    if (!sm_load_gate_in(sm, u, st)) sm_deliver_loaded(sm, u, st);
    sm_user_release(sm, &u);
}

int sm_deliver_delay(xml_node *st, const char *from, long long when)
{
    time_t t = (time_t)when;
    struct tm tm;
    char stamp[32];
    if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return -1;
    xml_node *d = xml_add_child(st, "delay", NS_DELAY);
    if (!d || (from && xml_attr_set(d, "from", from) < 0) || xml_attr_set(d, "stamp", stamp) < 0) return -1;
    return 0;
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
