/*
 * roster.c - roster rows of a loaded user: item form, storage writes,
 * pushes and pending requests (see roster.h).
 */
#include "roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "deliver.h"
#include "load.h"
#include "log.h"
#include "route.h"
#include "sm_storage.h"
#include "stanza.h"

/* A storage write in flight: what to check its reply against. */
typedef struct roster_write {
    unsigned long long expect;     /* roster version the store should report */
    char op[16];                   /* for logs */
    char bare[];                   /* the user */
} roster_write;

static unsigned long long roster_push_seq;   /* for push ids */

int sm_roster_visible(const sm_contact *c)
{
    return c && !c->hidden;
}

unsigned sm_roster_sub(const sm_user *u, const char *contact)
{
    const sm_contact *c = sm_roster_find(u, contact);
    return c ? c->sub : 0;
}

size_t sm_roster_count(const sm_user *u)
{
    size_t pos = 0, n = 0;
    void *v;
    while (hmap_next(&u->roster, &pos, NULL, &v)) n += sm_roster_visible(v);
    return n;
}

sm_contact *sm_roster_add(sm_user *u, const char *contact)
{
    sm_contact *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->jid = strdup(contact);
    c->groups = calloc(1, sizeof *c->groups);
    c->hidden = 1;
    if (!c->jid || !c->groups || hmap_put(&u->roster, contact, c) < 0) {
        sm_contact_free(c);
        return NULL;
    }
    return c;
}

xml_node *sm_roster_item(const sm_contact *c)
{
    static const char *const subs[] = {"none", "to", "from", "both"};
    xml_node *it = xml_node_new("item", NS_ROSTER);
    int ok = it && xml_attr_set(it, "jid", c->jid) == 0 && xml_attr_set(it, "subscription", subs[c->sub & 3]) == 0;
    if (ok && c->name && c->name[0]) ok = xml_attr_set(it, "name", c->name) == 0;
    if (ok && c->ask) ok = xml_attr_set(it, "ask", "subscribe") == 0;
    if (ok && c->approved) ok = xml_attr_set(it, "approved", "true") == 0;
    for (size_t i = 0; ok && i < c->ngroups; i++) {
        xml_node *g = xml_add_child(it, "group", NULL);
        ok = g && xml_add_text(g, c->groups[i], strlen(c->groups[i])) == 0;
    }
    if (!ok) xml_node_free(&it);
    return it;
}

xml_node *sm_roster_item_removed(const char *contact)
{
    xml_node *it = xml_node_new("item", NS_ROSTER);
    if (it && (xml_attr_set(it, "jid", contact) < 0 || xml_attr_set(it, "subscription", "remove") < 0))
        xml_node_free(&it);
    return it;
}

static void roster_on_write(sm_t *sm, void *ud, json_t *reply)
{
    roster_write *w = ud;
    json_t *ver = json_object_get(reply, "ver");
    if (!sm_storage_ok(reply))
        log_warn("storage %s for %s failed: %s", w->op, w->bare,
                 reply ? json_string_value(json_object_get(reply, "code")) ?: "?" : "no answer");
    else if (json_is_integer(ver) && (unsigned long long)json_integer_value(ver) != w->expect)
        log_warn("storage %s for %s: roster version %lld, expected %llu", w->op, w->bare,
                 (long long)json_integer_value(ver), w->expect);
    free(w);
}

/* Send a roster write for u whose reply must report u's current version. */
static void roster_call(sm_t *sm, const sm_user *u, json_t *req, const char *op)
{
    size_t n = strlen(u->bare) + 1;
    roster_write *w = malloc(sizeof *w + n);
    if (!w) {
        json_decref(req);
        log_warn("storage %s for %s: out of memory", op, u->bare);
        return;
    }
    w->expect = u->roster_ver;
    snprintf(w->op, sizeof w->op, "%s", op);
    memcpy(w->bare, u->bare, n);
    if (sm_storage_call(sm, u->bare, req, roster_on_write, w) < 0) free(w);
}

void sm_roster_store(sm_t *sm, sm_user *u, sm_contact *c, int bump, unsigned max)
{
    if (bump) c->ver = ++u->roster_ver;
    json_t *req = json_pack("{s:s, s:s, s:o, s:b}", "op", "roster.put", "jid", u->bare, "item",
                            sm_contact_to_json(c), "bump", bump != 0);
    if (req && max) json_object_set_new(req, "max", json_integer(max));
    roster_call(sm, u, req, "roster.put");
}

unsigned long long sm_roster_delete(sm_t *sm, sm_user *u, sm_contact *c)
{
    unsigned long long ver = c->hidden ? 0 : ++u->roster_ver;
    hmap_del(&u->roster, c->jid);
    roster_call(sm, u, json_pack("{s:s, s:s, s:s}", "op", "roster.del", "jid", u->bare, "contact", c->jid),
                "roster.del");
    sm_contact_free(c);
    return ver;
}

xml_node *sm_roster_push_iq(const sm_session *s, xml_node *item, unsigned long long ver)
{
    char id[32], v[24];
    snprintf(id, sizeof id, "push%llu", ++roster_push_seq);
    snprintf(v, sizeof v, "%llu", ver);
    xml_node *iq = item ? xml_node_new("iq", NS_CLIENT) : NULL;
    xml_node *q = iq ? xml_add_child(iq, "query", NS_ROSTER) : NULL;
    if (!q || xml_attr_set(iq, "type", "set") < 0 || xml_attr_set(iq, "id", id) < 0 ||
        xml_attr_set(iq, "to", s->full) < 0 || xml_attr_set(q, "ver", v) < 0) {
        xml_node_free(&iq);
        xml_node_free(&item);
        return NULL;
    }
    xml_append(q, item);
    return iq;
}

/* Hold iq (taken) for s until its roster.since answer. */
static void roster_hold(sm_session *s, xml_node *iq)
{
    if (!s->roster_held) s->roster_held = xml_node_new("held", NULL);
    if (s->roster_held) xml_append(s->roster_held, iq);
    else xml_node_free(&iq);
}

void sm_roster_push(sm_t *sm, sm_user *u, xml_node *item, unsigned long long ver)
{
    for (sm_session *s = item ? u->sessions : NULL; s; s = s->next) {
        if (!s->roster_requested) continue;
        xml_node *iq = sm_roster_push_iq(s, xml_node_copy(item), ver);
        if (!iq) continue;
        if (s->roster_requested == 2) {
            roster_hold(s, iq);
        } else {
            sm_deliver(sm, s, iq);
            xml_node_free(&iq);
        }
    }
    xml_node_free(&item);
}

void sm_roster_held_free(sm_session *s)
{
    xml_node_free(&s->roster_held);
}

void sm_roster_pending_put(sm_t *sm, sm_user *u, const char *contact, const xml_node *st)
{
    buf_t b = BUF_INIT;
    if (hmap_get(&u->pending, contact)) return;
    /* kept with a XEP-0203 stamp of its arrival, for when it is delivered later */
    xml_node *copy = xml_node_copy(st);
    char *txt = copy && sm_deliver_delay(copy, sm->domain, (long long)time(NULL)) == 0 &&
                        xml_serialize(copy, NULL, &b) == 0
                    ? buf_steal(&b, NULL)
                    : NULL;
    xml_node_free(&copy);
    buf_free(&b);
    if (!txt || hmap_put(&u->pending, contact, txt) < 0) {
        log_warn("%s: cannot keep the subscription request of %s", u->bare, contact);
        free(txt);
        return;
    }
    sm_storage_call(sm, u->bare,
                    json_pack("{s:s, s:s, s:s, s:s}", "op", "pending.put", "jid", u->bare, "contact", contact,
                              "stanza", txt),
                    NULL, NULL);
}

void sm_roster_pending_del(sm_t *sm, sm_user *u, const char *contact)
{
    char *txt = hmap_del(&u->pending, contact);
    if (!txt) return;
    free(txt);
    sm_storage_call(sm, u->bare, json_pack("{s:s, s:s, s:s}", "op", "pending.del", "jid", u->bare, "contact", contact),
                    NULL, NULL);
}

void sm_roster_send(sm_t *sm, const sm_user *u, const char *contact, const char *type, const char *id)
{
    jid_t to;
    if (jid_parse(contact, &to) < 0 || !jid_has_local(&to) || strcmp(to.domain, sm->domain) != 0) {
        log_debug("no %s from %s to %s: not a local account", type, u->bare, contact);
        return;
    }
    xml_node *p = xml_node_new("presence", NS_CLIENT);
    if (p && xml_attr_set(p, "from", u->bare) == 0 && xml_attr_set(p, "to", contact) == 0 &&
        xml_attr_set(p, "type", type) == 0 && (!id || xml_attr_set(p, "id", id) == 0))
        sm_route_inbound(sm, p, &to);
    xml_node_free(&p);
}
