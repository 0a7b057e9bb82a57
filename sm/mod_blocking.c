/*
 * mod_blocking.c - XEP-0191 Blocking Command on the privacy lists
 * (privacy.h holds the mechanism; this is the protocol).
 *
 *   blocklist get   the blocked JIDs; the asking session then gets pushes
 *   block           one or more <item jid/> (none: <bad-request/>; a bad
 *                   JID: <jid-malformed/>); before the block takes effect
 *                   every available resource of the user sends unavailable
 *                   presence to the blocked contacts that could see it
 *                   (a 'from' subscription or directed presence)
 *   unblock         the items given, or every blocked JID when none is;
 *                   afterwards each available resource's current presence
 *                   goes to the unblocked contacts with a 'from'
 *                   subscription
 * Each change is pushed (an IQ set with the same items, or an empty
 * <unblock/> for unblock-all) to every session that retrieved the
 * blocklist, and answered once the lists are stored.
 *
 * What a block means for stanzas is enforced where every stanza passes:
 * deliver.c (inbound), route.c (outbound), mod_presence.c (presence
 * broadcast and probe answers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "iq.h"
#include "load.h"
#include "mod.h"
#include "presence.h"
#include "privacy.h"
#include "sm_storage.h"
#include "stanza.h"


static void blocklist_add_item(void *ud, const char *jid)
{
    xml_node *it = xml_add_child(ud, "item", NS_BLOCKING);
    if (it) xml_attr_set(it, "jid", jid);
}

static const char *blocklist_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    xml_node *b = xml_node_new("blocklist", NS_BLOCKING);
    if (!b) return "internal-server-error";
    sm_privacy_blocklist(r->owner, blocklist_add_item, b);
    r->s->blocklist_requested = 1;
    return sm_iq_reply(sm, r, iq, b) < 0 ? "internal-server-error" : NULL;
}

static void blocking_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The items' JIDs, normalized and distinct, into *out (n entries).
 * NULL, or the error condition. */
static const char *blocking_items(const xml_node *payload, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = xml_child_count(payload);
    char **v = calloc(cap + 1, sizeof *v);
    if (!v) return "internal-server-error";
    *out = v;
    for (const xml_node *it = xml_child(payload, NULL, NULL); it; it = xml_child_next(payload, it, NULL, NULL)) {
        const char *jid = xml_attr_get(it, "jid");
        jid_t j;
        char norm[SM_JID_MAX];
        if (strcmp(it->name, "item") != 0 || strcmp(it->ns, NS_BLOCKING) != 0 || !jid) return "bad-request";
        if (jid_parse(jid, &j) < 0 || jid_full(&j, norm, sizeof norm) < 0) return "jid-malformed";
        int dup = 0;
        for (size_t i = 0; i < *n && !dup; i++) dup = strcmp(v[i], norm) == 0;
        if (!dup && !(v[(*n)++] = strdup(norm))) return "internal-server-error";
    }
    return NULL;
}

/* Push <name xmlns='urn:xmpp:blocking'> with the JIDs to every session of
 * u that retrieved the blocklist. */
static void blocking_push(sm_t *sm, const sm_user *u, const char *name, char **jids, size_t n)
{
    static unsigned long long seq;
    for (const sm_session *s = u->sessions; s; s = s->next) {
        if (!s->blocklist_requested) continue;
        char id[40];
        snprintf(id, sizeof id, "block-push-%llu", ++seq);
        xml_node *iq = xml_node_new("iq", NS_CLIENT);
        xml_node *b = iq ? xml_add_child(iq, name, NS_BLOCKING) : NULL;
        for (size_t i = 0; b && i < n; i++) blocklist_add_item(b, jids[i]);
        if (b && xml_attr_set(iq, "type", "set") == 0 && xml_attr_set(iq, "id", id) == 0 &&
            xml_attr_set(iq, "to", s->full) == 0)
            sm_deliver(sm, s, iq);
        xml_node_free(&iq);
    }
}

/* Non-zero if the JID `contact` falls under one of the items. */
static int blocking_covers(char **jids, size_t n, const char *contact)
{
    for (size_t i = 0; i < n; i++)
        if (sm_privacy_jid_covers(jids[i], contact)) return 1;
    return 0;
}

typedef struct jid_vec {
    char **v;
    size_t n;
} jid_vec;

static void jid_vec_add(void *ud, const char *jid)
{
    jid_vec *l = ud;
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return;
    l->v = v;
    if ((v[l->n] = strdup(jid))) l->n++;
}

/* Tell the contacts under the items that could see u's presence: its
 * current presence (available) or unavailable. The JIDs are collected
 * first: sending must not walk maps that routing could change. */
static void blocking_presence(sm_t *sm, sm_user *u, char **jids, size_t n, int available)
{
    jid_vec to = {NULL, 0};
    size_t pos = 0;
    const char *key;
    void *v;
    while (hmap_next(&u->roster, &pos, &key, &v)) {
        const sm_contact *c = v;
        if (!c->hidden && (c->sub & SM_SUB_FROM) && blocking_covers(jids, n, key)) jid_vec_add(&to, key);
    }
    for (sm_session *s = u->sessions; s && !available; s = s->next) {
        pos = 0;
        while (s->avail && hmap_next(&s->directed, &pos, &key, NULL))
            if (blocking_covers(jids, n, key) && !sm_roster_find(u, key)) jid_vec_add(&to, key);
    }
    for (size_t i = 0; i < to.n; i++) {
        if (available) sm_presence_send_current(sm, u, to.v[i]);
        else sm_presence_send_unavailable(sm, u, to.v[i]);
    }
    blocking_free(to.v, to.n);
}

static const char *blocking_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload, int block)
{
    char **jids;
    size_t n;
    const char *cond = blocking_items(payload, &jids, &n);
    if (!cond && block && n == 0) cond = "bad-request";
    if (!cond && block && !sm_privacy_block_fits(sm, r->owner, n)) cond = "policy-violation";
    if (cond) {
        blocking_free(jids, n);
        return cond;
    }
    sm_user *u = r->owner;
    jid_vec was = {NULL, 0};      /* unblock-all: the JIDs it frees */
    if (!block && n == 0) sm_privacy_blocklist(u, jid_vec_add, &was);
    if (block) blocking_presence(sm, u, jids, n, 0);
    json_t *req = block ? sm_privacy_block(sm, u, jids, n) : sm_privacy_unblock(sm, u, jids, n);
    if (!block) blocking_presence(sm, u, n ? jids : was.v, n ? n : was.n, 1);
    blocking_free(was.v, was.n);
    blocking_push(sm, u, block ? "block" : "unblock", jids, n);
    blocking_free(jids, n);
    if (!req) return sm_iq_reply(sm, r, iq, NULL) < 0 ? "internal-server-error" : NULL;
    return sm_iq_storage(sm, iq, u->bare, req, sm_iq_stored) < 0 ? "internal-server-error" : NULL;
}

static const char *block_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    return blocking_set(sm, r, iq, payload, 1);
}

static const char *unblock_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    return blocking_set(sm, r, iq, payload, 0);
}

static const sm_iq_handler blocking_iq[] = {
    {"blocklist", NS_BLOCKING, "get", SM_IQ_ACCOUNT, blocklist_get},
    {"block", NS_BLOCKING, "set", SM_IQ_ACCOUNT, block_set},
    {"unblock", NS_BLOCKING, "set", SM_IQ_ACCOUNT, unblock_set},
    {NULL, NULL, NULL, 0, NULL},
};

static const char *const blocking_features[] = {NS_BLOCKING, NULL};

const sm_module mod_blocking = {
    .name = "blocking",
    .iq = blocking_iq,
    .features = blocking_features,
};
