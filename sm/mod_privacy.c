/*
 * mod_privacy.c - XEP-0016 Privacy Lists: the protocol over the lists of
 * privacy.c (which also enforces them, with the blocklist of
 * mod_blocking.c being part of the default list).
 *
 *   get, no child            the session's active list, the default list
 *                            and every list name
 *   get, <list name/>        that list (<item-not-found/> if none; more
 *                            than one list: <bad-request/>)
 *   set <active name/>       this session's active list (<item-not-found/>
 *                            if none); <active/> declines it
 *   set <default name/>      the user's default list; <default/> declines
 *                            it; <conflict/> while the current default
 *                            applies to another connected resource (one
 *                            without an active list)
 *   set <list name>items     creates or replaces the list (bad items:
 *                            <bad-request/>, a bad JID <jid-malformed/>, a
 *                            group not in the roster <item-not-found/>)
 *   set <list name/>         removes it; <conflict/> while it applies to
 *                            another connected resource
 * A set must hold exactly one child (<bad-request/> otherwise). Every
 * change to a list is pushed to all connected resources as
 * <query><list name/></query>, and answered once it is stored.
 */
#include <stdio.h>
#include <string.h>

#include "deliver.h"
#include "iq.h"
#include "mod.h"
#include "privacy.h"
#include "sm_storage.h"
#include "stanza.h"

static void privacy_add_name(void *ud, const char *name)
{
    xml_node *l = xml_add_child(ud, "list", NS_PRIVACY);
    if (l) xml_attr_set(l, "name", name);
}

static const char *privacy_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    size_t n = xml_child_count(payload);
    const xml_node *c = xml_child(payload, NULL, NULL);
    if (n > 1 || (c && (strcmp(c->name, "list") != 0 || strcmp(c->ns, NS_PRIVACY) != 0))) return "bad-request";
    xml_node *q = xml_node_new("query", NS_PRIVACY);
    if (!q) return "internal-server-error";
    if (c) {
        const char *name = xml_attr_get(c, "name");
        xml_node *l = name ? sm_privacy_list_xml(r->owner, name) : NULL;
        if (!l) {
            xml_node_free(&q);
            return name ? "item-not-found" : "bad-request";
        }
        xml_append(q, l);
    } else {
        const char *def = sm_privacy_default(r->owner);
        xml_node *a = r->s->privacy_active ? xml_add_child(q, "active", NS_PRIVACY) : NULL;
        if (a) xml_attr_set(a, "name", r->s->privacy_active);
        xml_node *d = def ? xml_add_child(q, "default", NS_PRIVACY) : NULL;
        if (d) xml_attr_set(d, "name", def);
        sm_privacy_names(r->owner, privacy_add_name, q);
    }
    return sm_iq_reply(sm, r, iq, q) < 0 ? "internal-server-error" : NULL;
}

/* Non-zero if list `name` applies to a connected resource of u other
 * than s: active there, or the default for one without an active list. */
static int privacy_in_use(const sm_user *u, const sm_session *s, const char *name)
{
    const char *def = sm_privacy_default(u);
    for (const sm_session *o = u->sessions; o; o = o->next) {
        if (o == s) continue;
        if (o->privacy_active ? strcmp(o->privacy_active, name) == 0 : def && strcmp(def, name) == 0) return 1;
    }
    return 0;
}

static void privacy_push(sm_t *sm, const sm_user *u, const char *name)
{
    static unsigned long long seq;
    for (const sm_session *s = u->sessions; s; s = s->next) {
        char id[40];
        snprintf(id, sizeof id, "privacy-push-%llu", ++seq);
        xml_node *iq = xml_node_new("iq", NS_CLIENT);
        xml_node *q = iq ? xml_add_child(iq, "query", NS_PRIVACY) : NULL;
        xml_node *l = q ? xml_add_child(q, "list", NS_PRIVACY) : NULL;
        if (l && xml_attr_set(l, "name", name) == 0 && xml_attr_set(iq, "type", "set") == 0 &&
            xml_attr_set(iq, "id", id) == 0 && xml_attr_set(iq, "to", s->full) == 0)
            sm_deliver(sm, s, iq);
        xml_node_free(&iq);
    }
}

static const char *privacy_store(sm_t *sm, const sm_iq_req *r, const xml_node *iq, json_t *req)
{
    if (!req) return "internal-server-error";
    return sm_iq_storage(sm, iq, r->owner->bare, req, sm_iq_stored) < 0 ? "internal-server-error" : NULL;
}

static const char *privacy_set_list(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *list)
{
    sm_user *u = r->owner;
    const char *name = xml_attr_get(list, "name");
    json_t *req = NULL;
    if (!name || !*name) return "bad-request";
    if (xml_child_count(list) > 0) {
        const char *cond = sm_privacy_put(sm, u, list, &req);
        if (cond) return cond;
    } else {
        if (!sm_privacy_has(u, name)) return "item-not-found";
        if (privacy_in_use(u, r->s, name)) return "conflict";
        const char *def = sm_privacy_default(u);
        if (def && strcmp(def, name) == 0) sm_storage_call(sm, u->bare, sm_privacy_set_default(u, NULL), NULL, NULL);
        for (sm_session *s = u->sessions; s; s = s->next)      /* only r->s can hold it here */
            if (s->privacy_active && strcmp(s->privacy_active, name) == 0) {
                free(s->privacy_active);
                s->privacy_active = NULL;
            }
        req = sm_privacy_remove(u, name);
    }
    privacy_push(sm, u, name);
    return privacy_store(sm, r, iq, req);
}

static const char *privacy_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    if (xml_child_count(payload) != 1) return "bad-request";
    const xml_node *c = xml_child(payload, NULL, NULL);
    const char *name = xml_attr_get(c, "name");
    sm_user *u = r->owner;
    if (strcmp(c->ns, NS_PRIVACY) != 0) return "bad-request";
    if (strcmp(c->name, "list") == 0) return privacy_set_list(sm, r, iq, c);
    if (name && !sm_privacy_has(u, name)) return "item-not-found";
    if (strcmp(c->name, "active") == 0) {
        char *copy = name ? strdup(name) : NULL;
        if (name && !copy) return "internal-server-error";
        free(r->s->privacy_active);
        r->s->privacy_active = copy;
        return sm_iq_reply(sm, r, iq, NULL) < 0 ? "internal-server-error" : NULL;
    }
    if (strcmp(c->name, "default") != 0) return "bad-request";
    const char *def = sm_privacy_default(u);
    if (def && (!name || strcmp(def, name) != 0) && privacy_in_use(u, r->s, def)) return "conflict";
    return privacy_store(sm, r, iq, sm_privacy_set_default(u, name));
}

static const sm_iq_handler privacy_iq[] = {
    {"query", NS_PRIVACY, "get", SM_IQ_ACCOUNT, privacy_get},
    {"query", NS_PRIVACY, "set", SM_IQ_ACCOUNT, privacy_set},
    {NULL, NULL, NULL, 0, NULL},
};

static const char *const privacy_features[] = {NS_PRIVACY, NULL};

const sm_module mod_privacy = {
    .name = "privacy",
    .iq = privacy_iq,
    .features = privacy_features,
};
