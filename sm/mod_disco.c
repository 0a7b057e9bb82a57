/*
 * mod_disco.c - XEP-0030 Service Discovery for the server and, on their
 * behalf, for its accounts.
 *
 * The server (to the domain): identity server/im; its features are
 * generated from what the modules registered (sm_mod_features): every
 * IQ namespace a handler answers at the domain and each module's own
 * features, so the list cannot drift from the code. disco#items lists
 * the services named in the config (`sm.disco_items`, e.g. the MUC
 * domain).
 *
 * An account (to its bare JID): identity account/registered, features
 * of the handlers that answer for accounts (SM_IQ_OTHERS). As the XEP's
 * security considerations require, disco#info is answered only to the
 * account itself and to entities it shares presence with (subscription
 * 'from' or 'both'); anyone else gets <service-unavailable/>, as for an
 * account that does not exist. disco#items lists the available
 * resources to the same entities and nothing to others.
 *
 * No node is known yet (ad-hoc commands will add some): a query with a
 * node gets <item-not-found/>.
 */
#include <string.h>
#include <jansson.h>

#include "config.h"
#include "iq.h"
#include "load.h"
#include "mod.h"
#include "stanza.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

static void disco_add_feature(void *ud, const char *feature)
{
    xml_node *f = xml_add_child(ud, "feature", NS_DISCO_INFO);
    if (f) xml_attr_set(f, "var", feature);
}

static xml_node *disco_identity(xml_node *q, const char *category, const char *type)
{
    xml_node *id = xml_add_child(q, "identity", NS_DISCO_INFO);
    if (id && (xml_attr_set(id, "category", category) < 0 || xml_attr_set(id, "type", type) < 0)) return NULL;
    return id;
}

/* The disco#info <query/> of the domain (server) or of an account. */
static xml_node *disco_info_query(int server)
{
    xml_node *q = xml_node_new("query", NS_DISCO_INFO);
    if (!q || !disco_identity(q, server ? "server" : "account", server ? "im" : "registered")) {
        xml_node_free(&q);
        return NULL;
    }
    sm_mod_features(server ? SM_IQ_SERVER : SM_IQ_OTHERS, disco_add_feature, q);
    return q;
}

xml_node *sm_disco_server_info(void)
{
    return disco_info_query(1);
}

static const char *disco_info(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    if (xml_attr_get(payload, "node")) return "item-not-found";
    if (r->target != SM_IQ_SERVER && !sm_iq_asker_sees_presence(r, iq)) return "service-unavailable";
    xml_node *q = disco_info_query(r->target == SM_IQ_SERVER);
    if (!q) return "internal-server-error";
    return sm_iq_reply(sm, r, iq, q) < 0 ? "internal-server-error" : NULL;
}

static void disco_item(xml_node *q, const char *jid)
{
    xml_node *it = xml_add_child(q, "item", NS_DISCO_ITEMS);
    if (it) xml_attr_set(it, "jid", jid);
}

static const char *disco_items(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    if (xml_attr_get(payload, "node")) return "item-not-found";
    xml_node *q = xml_node_new("query", NS_DISCO_ITEMS);
    if (!q) return "internal-server-error";
    if (r->target == SM_IQ_SERVER) {
        json_t *list = config_get(sm->cfg, "sm.disco_items");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *jid = json_string_value(json_array_get(list, i));
            if (jid) disco_item(q, jid);
        }
    } else if (sm_iq_asker_sees_presence(r, iq)) {
        for (const sm_session *s = r->owner->sessions; s; s = s->next)
            if (s->avail) disco_item(q, s->full);
    }
    return sm_iq_reply(sm, r, iq, q) < 0 ? "internal-server-error" : NULL;
}

static const sm_iq_handler disco_iq[] = {
    {"query", NS_DISCO_INFO, "get", SM_IQ_SERVER | SM_IQ_ACCOUNT | SM_IQ_OTHERS, disco_info},
    {"query", NS_DISCO_ITEMS, "get", SM_IQ_SERVER | SM_IQ_ACCOUNT | SM_IQ_OTHERS, disco_items},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_disco = {
    .name = "disco",
    .iq = disco_iq,
};
