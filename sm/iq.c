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

#include <string.h>

#include "deliver.h"
#include "log.h"
#include "mod.h"
#include "route.h"
#include "stanza.h"

/* Find and run the handler; NULL when answered, else a condition. */
static const char *iq_dispatch(sm_t *sm, sm_session *s, const xml_node *iq, const char *type, unsigned target)
{
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) return "bad-request";
    if (!xml_attr_get(iq, "id")) return "bad-request";
    size_t n = xml_child_count(iq);
    if (n == 0) return "service-unavailable";
    if (n > 1) return "bad-request";
    const xml_node *payload = xml_child(iq, NULL, NULL);
    const sm_iq_handler *h = sm_mod_iq_find(payload->name, payload->ns, type);
    if (!h || !(h->flags & target)) return "service-unavailable";
    return h->fn(sm, s, iq, payload);
}

void sm_iq_handle(sm_t *sm, sm_session *s, const xml_node *iq, unsigned target)
{
    const char *type = xml_attr_get(iq, "type");
    if (type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
        log_msg(LOG_DEBUG, sm->trace, "ignored iq %s from %s to the server", type, s->full);
        return;
    }
    const char *cond = iq_dispatch(sm, s, iq, type, target);
    if (cond) sm_route_bounce(sm, iq, cond);
}

int sm_iq_reply(sm_t *sm, const sm_session *s, const xml_node *iq, xml_node *payload)
{
    xml_node *r = stanza_iq_result(iq);
    if (!r) {
        xml_node_free(&payload);
        return -1;
    }
    if (payload) xml_append(r, payload);
    int rc = sm_deliver(sm, s, r);
    xml_node_free(&r);
    return rc;
}
