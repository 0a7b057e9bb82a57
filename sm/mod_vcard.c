/*
 * mod_vcard.c - XEP-0054 vcard-temp: each account's vCard, stored whole
 * through the storage workers (kind "vcard").
 *
 *   get, own account (no 'to' or the own bare JID)   the stored vCard, or
 *                                                    an empty <vCard/>
 *   get, another account's bare JID                  answered by the server
 *                                                    on its behalf, also
 *                                                    when it is offline;
 *                                                    an empty <vCard/> when
 *                                                    it has none (an account
 *                                                    that does not exist:
 *                                                    <service-unavailable/>,
 *                                                    deliver.c)
 *   set, own account                                 replaces the vCard; past
 *                                                    sm.max_vcard_size bytes
 *                                                    (as serialized)
 *                                                    <not-acceptable/>
 *   set, another account                             <forbidden/>
 *
 * The vCard is kept as the serialized <vCard/> element, so its content
 * (a PHOTO's BINVAL included) comes back exactly as it was set.
 */
#include <string.h>
#include <jansson.h>

#include "config.h"
#include "iq.h"
#include "mod.h"
#include "route.h"
#include "sm_storage.h"
#include "stanza.h"

#define NS_VCARD "vcard-temp"
#define VCARD_MAX_DEFAULT (256 * 1024)
#define VCARD_MAX_LIMIT (1024 * 1024)   /* what a storage value may hold */

static const char *vcard_got(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload)
{
    if (!sm_storage_ok(reply)) return "internal-server-error";
    const char *v = json_string_value(json_object_get(reply, "value"));
    if (json_is_true(json_object_get(reply, "found")) && v) {
        *payload = xml_parse_document(v, strlen(v));
        if (!*payload) return "internal-server-error";
    } else {
        *payload = xml_node_new("vCard", NS_VCARD);
    }
    return NULL;
}

static const char *vcard_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "op", "data.get", "jid", r->owner->bare, "kind", "vcard",
                            "key", "");
    return sm_iq_storage(sm, iq, r->owner->bare, req, vcard_got) < 0 ? "internal-server-error" : NULL;
}

static size_t vcard_max(const sm_t *sm)
{
    long long v = config_int(sm->cfg, "sm.max_vcard_size", VCARD_MAX_DEFAULT);
    return v < 1 || v > VCARD_MAX_LIMIT ? VCARD_MAX_LIMIT : (size_t)v;
}

static const char *vcard_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    if (r->target != SM_IQ_ACCOUNT) return "forbidden";
    buf_t b = BUF_INIT;
    if (xml_serialize(payload, NULL, &b) < 0) return "internal-server-error";
    if (b.len > vcard_max(sm)) {
        buf_free(&b);
        sm_route_bounce_text(sm, iq, "not-acceptable", "the vCard is larger than this server stores");
        return NULL;
    }
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "data.put", "jid", r->owner->bare, "kind", "vcard",
                            "key", "", "value", b.data);
    buf_free(&b);
    return sm_iq_storage(sm, iq, r->owner->bare, req, sm_iq_stored) < 0 ? "internal-server-error" : NULL;
}

static const sm_iq_handler vcard_iq[] = {
    {"vCard", NS_VCARD, "get", SM_IQ_ACCOUNT | SM_IQ_OTHERS, vcard_get},
    {"vCard", NS_VCARD, "set", SM_IQ_ACCOUNT | SM_IQ_OTHERS, vcard_set},
    {NULL, NULL, NULL, 0, NULL},
};

static const char *const vcard_features[] = {NS_VCARD, NULL};

const sm_module mod_vcard = {
    .name = "vcard",
    .iq = vcard_iq,
    .features = vcard_features,
};
