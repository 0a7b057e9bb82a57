/*
 * mod_private.c - XEP-0049 Private XML Storage: XML a user keeps on the
 * server for itself, by namespace, through the storage workers (kind
 * "private", key = the namespace, value = the elements of that namespace
 * as serialized).
 *
 *   set   the children of <query/> share one namespace (the XEP lets a
 *         set hold several elements of the same namespace; mixed ones get
 *         <bad-request/>) and replace what was stored for it.
 *   get   exactly one child; the result holds what was stored for its
 *         namespace, or the child as sent when nothing was.
 *   errors  no child: <not-acceptable/> (the XEP's MUST); more than one
 *         child in a get: <bad-request/>; a reserved namespace (jabber:...,
 *         http://jabber.org/..., vcard-temp): <not-acceptable/>; to another
 *         account: <service-unavailable/> (which the XEP allows: the
 *         server does not offer this storage for other accounts, and its
 *         disco#info for accounts says so); past sm.max_private_size bytes for one
 *         namespace or sm.max_private_namespaces namespaces per user:
 *         <not-acceptable/> with a text.
 */
#include <string.h>
#include <jansson.h>

#include "config.h"
#include "iq.h"
#include "mod.h"
#include "route.h"
#include "sm_storage.h"
#include "stanza.h"

#define NS_PRIVATE "jabber:iq:private"
#define PRIVATE_MAX_DEFAULT (64 * 1024)
#define PRIVATE_MAX_LIMIT (1024 * 1024)
#define PRIVATE_NS_DEFAULT 100

static int private_reserved(const char *ns)
{
    return !*ns || strncmp(ns, "jabber:", 7) == 0 || strncmp(ns, "http://jabber.org/", 18) == 0 ||
           strcmp(ns, "vcard-temp") == 0;
}

/* NULL if every child of query is storable, else the condition. */
static const char *private_check(const xml_node *query, int get)
{
    size_t n = xml_child_count(query);
    if (n == 0) return "not-acceptable";
    if (get && n > 1) return "bad-request";
    for (const xml_node *c = xml_child(query, NULL, NULL); c; c = xml_child_next(query, c, NULL, NULL))
        if (private_reserved(c->ns)) return "not-acceptable";
    return NULL;
}

static const char *private_got(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload)
{
    if (!sm_storage_ok(reply)) return "internal-server-error";
    const xml_node *asked = xml_child(xml_child(iq, "query", NS_PRIVATE), NULL, NULL);
    xml_node *q = xml_node_new("query", NS_PRIVATE);
    const char *v = json_string_value(json_object_get(reply, "value"));
    if (!q || !asked) {
        xml_node_free(&q);
        return "internal-server-error";
    }
    if (json_is_true(json_object_get(reply, "found")) && v) {
        /* stored as <query xmlns='jabber:iq:private'>elements</query> */
        xml_node *stored = xml_parse_document(v, strlen(v));
        xml_node *c;
        while (stored && (c = xml_child(stored, NULL, NULL))) {
            xml_unlink(c);
            xml_append(q, c);
        }
        xml_node_free(&stored);
    } else {
        xml_append(q, xml_node_copy(asked));
    }
    *payload = q;
    return NULL;
}

static const char *private_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    const char *cond = private_check(payload, 1);
    if (cond) return cond;
    const xml_node *c = xml_child(payload, NULL, NULL);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "op", "data.get", "jid", r->owner->bare, "kind", "private",
                            "key", c->ns);
    return sm_iq_storage(sm, iq, r->owner->bare, req, private_got) < 0 ? "internal-server-error" : NULL;
}

static const char *private_stored(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload)
{
    if (sm_storage_ok(reply)) return NULL;
    const char *err = json_string_value(json_object_get(reply, "code"));
    return err && strcmp(err, "limit") == 0 ? "not-acceptable" : "internal-server-error";
}

/* The children of query in namespace ns, serialized inside a private
 * query element, into b. 0/-1. */
static int private_value(const xml_node *query, const char *ns, buf_t *b)
{
    xml_node *q = xml_node_new("query", NS_PRIVATE);
    for (const xml_node *c = xml_child(query, NULL, ns); q && c; c = xml_child_next(query, c, NULL, ns))
        xml_append(q, xml_node_copy(c));
    int rc = q ? xml_serialize(q, NULL, b) : -1;
    xml_node_free(&q);
    return rc;
}

static const char *private_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    const char *cond = private_check(payload, 0);
    if (cond) return cond;
    const char *ns = xml_child(payload, NULL, NULL)->ns;
    for (const xml_node *c = xml_child(payload, NULL, NULL); c; c = xml_child_next(payload, c, NULL, NULL))
        if (strcmp(c->ns, ns) != 0) return "bad-request";
    long long max = config_int(sm->cfg, "sm.max_private_size", PRIVATE_MAX_DEFAULT);
    long long rows = config_int(sm->cfg, "sm.max_private_namespaces", PRIVATE_NS_DEFAULT);
    if (max < 1 || max > PRIVATE_MAX_LIMIT) max = PRIVATE_MAX_LIMIT;
    buf_t b = BUF_INIT;
    if (private_value(payload, ns, &b) < 0) return "internal-server-error";
    if (b.len > (size_t)max) {
        buf_free(&b);
        sm_route_bounce_text(sm, iq, "not-acceptable", "the private XML is larger than this server stores");
        return NULL;
    }
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "op", "data.put", "jid", r->owner->bare, "kind",
                            "private", "key", ns, "value", b.data, "max", (json_int_t)rows);
    buf_free(&b);
    return sm_iq_storage(sm, iq, r->owner->bare, req, private_stored) < 0 ? "internal-server-error" : NULL;
}

static const sm_iq_handler private_iq[] = {
    {"query", NS_PRIVATE, "get", SM_IQ_ACCOUNT, private_get},
    {"query", NS_PRIVATE, "set", SM_IQ_ACCOUNT, private_set},
    {NULL, NULL, NULL, 0, NULL},
};

static const char *const private_features[] = {NS_PRIVATE, NULL};

const sm_module mod_private = {
    .name = "private",
    .iq = private_iq,
    .features = private_features,
};
