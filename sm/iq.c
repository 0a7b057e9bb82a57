/*
 * iq.c - dispatch of IQs to the server or the sender's account (see
 * iq.h).
 *
 * A get or set must carry an id and exactly one payload element (RFC 6120
 * section 8.2.3); the handler is found by payload name, namespace and IQ
 * type in the modules' tables, and must accept the target (SM_IQ_*).
 * Nobody answering means <service-unavailable/> (section 8.4); a handler
 * returns its error condition as data and the dispatcher sends it.
 */
#include "iq.h"

#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "load.h"
#include "log.h"
#include "sm_storage.h"
#include "mod.h"
#include "route.h"
#include "stanza.h"

/* Find and run the handler; NULL when answered, else a condition. */
static const char *iq_dispatch(sm_t *sm, sm_iq_req *r, const xml_node *iq, const char *type, unsigned target)
{
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) return "bad-request";
    if (!xml_attr_get(iq, "id")) return "bad-request";
    size_t n = xml_child_count(iq);
    if (n == 0) return "service-unavailable";
    if (n > 1) return "bad-request";
    const xml_node *payload = xml_child(iq, NULL, NULL);
    const sm_iq_handler *h = sm_mod_iq_find(payload->name, payload->ns, type);
    if (!h || !(h->flags & target)) return "service-unavailable";
    /* without 'to' (target has both bits) it is the account's if the
     * handler answers for the account, else the server's */
    r->target = (h->flags & target & SM_IQ_ACCOUNT) ? SM_IQ_ACCOUNT : (h->flags & target);
    if (r->target == SM_IQ_SERVER) r->owner = NULL;
    return h->fn(sm, r, iq, payload);
}

void sm_iq_handle(sm_t *sm, sm_session *s, const xml_node *iq, unsigned target)
{
    const char *type = xml_attr_get(iq, "type");
    if (type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
        log_msg(LOG_DEBUG, sm->trace, "ignored iq %s from %s to the server", type, s->full);
        return;
    }
    sm_iq_req r = {s, s->user, target};
    const char *cond = iq_dispatch(sm, &r, iq, type, target);
    if (cond) sm_route_bounce(sm, iq, cond);
}

void sm_iq_handle_others(sm_t *sm, sm_user *owner, const xml_node *iq)
{
    const char *type = xml_attr_get(iq, "type");
    if (stanza_is_error_or_result(iq)) return;
    sm_iq_req r = {NULL, owner, SM_IQ_OTHERS};
    const char *cond = iq_dispatch(sm, &r, iq, type, SM_IQ_OTHERS);
    if (cond) sm_route_bounce(sm, iq, cond);
}

const char sm_iq_answered[] = "answered";

typedef struct iq_wait {
    xml_node *iq;
    sm_iq_storage_fn fn;
} iq_wait;

static void iq_storage_done(sm_t *sm, void *ud, json_t *reply)
{
    iq_wait *w = ud;
    xml_node *payload = NULL;
    const char *cond = reply ? w->fn(sm, w->iq, reply, &payload) : "internal-server-error";
    if (cond == sm_iq_answered) xml_node_free(&payload);
    else if (cond) sm_route_bounce(sm, w->iq, cond);
    else sm_iq_send_result(sm, w->iq, payload);
    xml_node_free(&w->iq);
    free(w);
}

const char *sm_iq_stored(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload)
{
    return sm_storage_ok(reply) ? NULL : "internal-server-error";
}

int sm_iq_storage(sm_t *sm, const xml_node *iq, const char *bare, json_t *req, sm_iq_storage_fn fn)
{
    iq_wait *w = calloc(1, sizeof *w);
    if (w) w->iq = xml_node_copy(iq);
    if (!w || !w->iq || !req) {
        json_decref(req);
        if (w) xml_node_free(&w->iq);
        free(w);
        return -1;
    }
    w->fn = fn;
    if (sm_storage_call(sm, bare, req, iq_storage_done, w) == 0) return 0;
    xml_node_free(&w->iq);
    free(w);
    return -1;
}

int sm_iq_asker_sees_presence(const sm_iq_req *r, const xml_node *iq)
{
    if (r->target == SM_IQ_ACCOUNT) return 1;
    const char *from = xml_attr_get(iq, "from");
    jid_t j;
    char bare[SM_JID_MAX];
    if (!r->owner || !from || jid_parse(from, &j) < 0 || jid_bare(&j, bare, sizeof bare) < 0) return 0;
    if (strcmp(bare, r->owner->bare) == 0) return 1;
    const sm_contact *c = sm_roster_find(r->owner, bare);
    return c && (c->sub & SM_SUB_FROM);
}

/* The result for iq carrying payload (taken), or NULL. */
static xml_node *iq_result(const xml_node *iq, xml_node *payload)
{
    xml_node *r = stanza_iq_result(iq);
    if (!r) {
        xml_node_free(&payload);
        return NULL;
    }
    if (payload) xml_append(r, payload);
    return r;
}

int sm_iq_send_result(sm_t *sm, const xml_node *iq, xml_node *payload)
{
    xml_node *r = iq_result(iq, payload);
    const char *to = r ? xml_attr_get(r, "to") : NULL;
    jid_t j;
    int rc = to && jid_parse(to, &j) == 0 ? sm_route_inbound(sm, r, &j) : -1;
    xml_node_free(&r);
    return rc;
}

int sm_iq_reply_session(sm_t *sm, const sm_session *s, const xml_node *iq, xml_node *payload)
{
    xml_node *r = iq_result(iq, payload);
    int rc = r ? sm_deliver(sm, s, r) : -1;
    xml_node_free(&r);
    return rc;
}

int sm_iq_reply(sm_t *sm, const sm_iq_req *req, const xml_node *iq, xml_node *payload)
{
    return req->s ? sm_iq_reply_session(sm, req->s, iq, payload) : sm_iq_send_result(sm, iq, payload);
}
