/*
 * mod_offline.c - offline messages (XEP-0160) with XEP-0203 delay
 * stamps, kept by the storage workers ("offline.put", "offline.pop").
 *
 * Storing: the delivery rules (deliver.c) hand a chat or normal message
 * that found no resource to the `undelivered` hook. One with a <body/> is
 * stored with <delay xmlns='urn:xmpp:delay' from='<domain>' stamp='...'/>
 * added, at most sm.max_offline (default 1000, 0 disables storage) per
 * user; past the limit, for an account that does not exist, or when
 * storage fails, the sender gets an error, so an accepted message is never
 * lost silently. A message with no body that carries a XEP-0085 chat state
 * is dropped without an error (a typing notification is worth nothing
 * later); one with neither is left to the default (<service-unavailable/>).
 * Headline, groupchat and error messages never reach the hook.
 *
 * Delivery: when a session becomes available with priority >= 0 (initial
 * presence, or an update from a negative priority), and the user has
 * stored messages, they are popped (read and deleted in one storage
 * transaction) and delivered to that session in order, after its presence
 * went out. If the session is gone when they arrive, they go to the user's
 * best other available session, or back to storage.
 *
 * sm_user.offline_count (from "user.load") tells whether a pop is worth
 * asking for; every store and pop for a user goes through this shard and
 * one storage worker, in order, so the count here is up to date.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "deliver.h"
#include "log.h"
#include "mod.h"
#include "presence.h"
#include "route.h"
#include "session.h"
#include "sm_storage.h"
#include "stanza.h"

#define OFFLINE_MAX_DEFAULT 1000
#define OFFLINE_MAX_LIMIT 1000000
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/* A stored message waiting for its "offline.put" reply. */
typedef struct offline_put_wait {
    xml_node *msg;                 /* what was stored (answered with an error on failure) */
    char *bare;                    /* the recipient */
    uint64_t trace;                /* trace id of the envelope that brought it */
} offline_put_wait;

/* A session waiting for its "offline.pop" reply (looked up again then). */
typedef struct offline_pop_wait {
    char *bare;
    char *resource;
    uint64_t conn;
    uint64_t trace;
} offline_pop_wait;

static int offline_init(sm_t *sm)
{
    long long max = config_int(sm->cfg, "sm.max_offline", OFFLINE_MAX_DEFAULT);
    if (max < 0 || max > OFFLINE_MAX_LIMIT) {
        log_error("config: sm.max_offline must be 0..%d", OFFLINE_MAX_LIMIT);
        return -1;
    }
    sm->max_offline = (unsigned)max;
    return 0;
}

/* The loaded record of a bare JID, or NULL. */
static sm_user *offline_user(sm_t *sm, const char *bare)
{
    sm_user *u = sm_user_find(sm, bare);
    return u && u->load == SM_LOADED ? u : NULL;
}

static void offline_put_wait_free(offline_put_wait *w)
{
    xml_node_free(&w->msg);
    free(w->bare);
    free(w);
}

/* msg as its sender sent it: without the <delay/> we stamped on it. */
static void offline_unstamp(sm_t *sm, xml_node *msg)
{
    xml_node *d = xml_child(msg, "delay", NS_DELAY), *next;
    for (; d; d = next) {
        next = xml_child_next(msg, d, "delay", NS_DELAY);
        const char *from = xml_attr_get(d, "from");
        if (from && strcmp(from, sm->domain) == 0) xml_node_free(&d);
    }
}

static void offline_put_done(sm_t *sm, void *ud, json_t *reply)
{
    offline_put_wait *w = ud;
    if (!sm_storage_ok(reply)) {
        const char *code = json_string_value(json_object_get(reply, "code"));
        int refused = code && (strcmp(code, "limit") == 0 || strcmp(code, "not-found") == 0);
        sm_user *u = offline_user(sm, w->bare);
        uint64_t trace = sm->trace;
        if (u && u->offline_count > 0) u->offline_count--;
        sm->trace = w->trace;
        log_msg(refused ? LOG_INFO : LOG_WARN, sm->trace, "offline message for %s not stored: %s", w->bare,
                code ? code : "storage unavailable");
        offline_unstamp(sm, w->msg);
        sm_route_bounce(sm, w->msg, refused ? "service-unavailable" : "internal-server-error");
        sm->trace = trace;
    }
    offline_put_wait_free(w);
}

/* Store msg (taken) for the user `bare` with "offline.put", at most max
 * messages. On a failure to send, the sender is answered at once. */
static void offline_put(sm_t *sm, const char *bare, xml_node *msg, unsigned max)
{
    buf_t b = BUF_INIT;
    offline_put_wait *w = calloc(1, sizeof *w);
    json_t *req = NULL;
    if (w && xml_serialize(msg, NULL, &b) == 0)
        req = json_pack("{s:s, s:s, s:s%, s:I}", "op", "offline.put", "jid", bare, "stanza", b.data, b.len,
                        "max", (json_int_t)max);
    buf_free(&b);
    if (w) {
        w->msg = msg;
        w->bare = strdup(bare);
        w->trace = sm->trace;
    }
    if (!w || !w->bare) {
        json_decref(req);
        req = NULL;
    }
    if (!req || sm_storage_call(sm, bare, req, offline_put_done, w) < 0) {
        offline_unstamp(sm, msg);
        sm_route_bounce(sm, msg, "internal-server-error");
        if (w) offline_put_wait_free(w);
        else xml_node_free(&msg);
        return;
    }
    sm_user *u = offline_user(sm, bare);
    if (u) u->offline_count++;
}

/* Non-zero if msg carries no body but a chat state. */
static int offline_chat_state_only(const xml_node *msg)
{
    return !xml_child(msg, "body", NS_CLIENT) && xml_child(msg, NULL, NS_CHATSTATES);
}

static int offline_undelivered(sm_t *sm, xml_node *st, const jid_t *to)
{
    char bare[SM_JID_MAX];
    const char *type = xml_attr_get(st, "type");
    if (strcmp(st->name, "message") != 0 || (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0))
        return SM_PASS;
    sm_user *u = jid_bare(to, bare, sizeof bare) < 0 ? NULL : offline_user(sm, bare);
    if (!u || !u->exists) return SM_PASS;
    if (offline_chat_state_only(st)) {
        log_msg(LOG_DEBUG, sm->trace, "chat state for offline %s dropped", bare);
        return SM_HANDLED;
    }
    if (!xml_child(st, "body", NS_CLIENT)) return SM_PASS;
    xml_node *msg = xml_node_copy(st);
    if (!msg || sm_deliver_delay(msg, sm->domain, (long long)time(NULL)) < 0) {
        xml_node_free(&msg);
        sm_route_bounce(sm, st, "internal-server-error");
        return SM_HANDLED;
    }
    offline_put(sm, bare, msg, sm->max_offline);
    return SM_HANDLED;
}

/* The session a pop was for, if it still is there; else the user's best
 * available session with priority >= 0; else NULL. */
static sm_session *offline_pop_target(sm_user *u, const offline_pop_wait *w)
{
    sm_session *s = u ? sm_session_find(u, w->resource) : NULL, *best = NULL;
    if (s && s->conn == w->conn && s->avail && s->prio >= 0) return s;
    for (s = u ? u->sessions : NULL; s; s = s->next)
        if (s->avail && s->prio >= 0 && (!best || s->prio > best->prio)) best = s;
    return best;
}

/* Deliver the popped messages in order to s; store again what cannot
 * be delivered (s NULL, or the send failed). */
static void offline_pop_deliver(sm_t *sm, sm_session *s, const json_t *msgs, const char *bare)
{
    size_t n = json_array_size(msgs);
    for (size_t i = 0; i < n; i++) {
        const char *text = json_string_value(json_object_get(json_array_get(msgs, i), "stanza"));
        xml_node *m = text ? xml_parse_document(text, strlen(text)) : NULL;
        if (!m) {
            log_msg(LOG_ERROR, sm->trace, "offline message %zu of %s is not a stanza; dropped", i, bare);
        } else if (s && sm_deliver(sm, s, m) == 0) {
            xml_node_free(&m);
        } else {
            offline_put(sm, bare, m, sm->max_offline + (unsigned)n);
        }
    }
    if (n) log_msg(LOG_DEBUG, sm->trace, "%zu offline messages of %s %s", n, bare,
                   s ? "delivered" : "stored again");
}

static void offline_pop_done(sm_t *sm, void *ud, json_t *reply)
{
    offline_pop_wait *w = ud;
    sm_user *u = offline_user(sm, w->bare);
    uint64_t trace = sm->trace;
    sm->trace = w->trace;
    if (!sm_storage_ok(reply)) {
        log_msg(LOG_WARN, sm->trace, "offline messages of %s not read: %s", w->bare,
                reply ? json_string_value(json_object_get(reply, "code")) ?: "error" : "storage unavailable");
        if (u && u->offline_count == 0) u->offline_count = 1;   /* try again at the next presence */
    } else {
        offline_pop_deliver(sm, offline_pop_target(u, w), json_object_get(reply, "messages"), w->bare);
    }
    sm->trace = trace;
    free(w->bare);
    free(w->resource);
    free(w);
}

/* Ask for s's user's offline messages. */
static void offline_pop(sm_t *sm, sm_session *s)
{
    sm_user *u = s->user;
    offline_pop_wait *w = calloc(1, sizeof *w);
    json_t *req = json_pack("{s:s, s:s}", "op", "offline.pop", "jid", u->bare);
    if (w) {
        w->bare = strdup(u->bare);
        w->resource = strdup(s->resource);
        w->conn = s->conn;
        w->trace = sm->trace;
    }
    if (!w || !w->bare || !w->resource || !req) {
        json_decref(req);
    } else if (sm_storage_call(sm, u->bare, req, offline_pop_done, w) == 0) {
        u->offline_count = 0;
        return;
    }
    log_warn("%s: cannot ask for offline messages", s->full);
    if (w) {
        free(w->bare);
        free(w->resource);
        free(w);
    }
}

/* Runs before mod_presence, so s still shows the state before st. */
static int offline_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (to || strcmp(st->name, "presence") != 0 || xml_attr_get(st, "type")) return SM_PASS;
    if (s->avail && s->prio >= 0) return SM_PASS;
    if (sm_presence_priority(st) < 0 || s->user->offline_count == 0 || !s->user->exists) return SM_PASS;
    offline_pop(sm, s);
    return SM_PASS;
}

static const char *const offline_features[] = {"msgoffline", NULL};

const sm_module mod_offline = {
    .name = "offline",
    .features = offline_features,
    .init = offline_init,
    .out = offline_out,
    .undelivered = offline_undelivered,
};
