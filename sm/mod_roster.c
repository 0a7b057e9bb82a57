/*
 * mod_roster.c - jabber:iq:roster (RFC 6121 section 2): roster get with
 * versioning, roster set (add, update, remove), and who gets roster
 * pushes.
 *
 * A get marks the session as interested (it gets pushes from then on)
 * and answers with the items of the roster (hidden rows never show) and
 * the version. With a 'ver' (2.6.3): the current version gets an empty
 * result; an older one gets an empty result followed by one push per item
 * changed since, read from storage ("roster.since"; the store keeps
 * tombstones of removed items), or the full roster when the store no
 * longer knows that version; anything else gets the full roster. While
 * roster.since is in flight, pushes for the session are held and sent
 * after the catch-up pushes, so that they stay in version order.
 *
 * A set carries exactly one item. Errors (2.3.3, 2.5.3): more than one
 * item, duplicate groups, no 'jid', a 'jid' with a resource, a
 * 'subscription' outside the schema's values: <bad-request/>; a 'jid'
 * that is not a JID: <jid-malformed/>; an empty group, a name or group
 * longer than sm.max_roster_name / sm.max_roster_group, more than 64
 * groups: <not-acceptable/>; a new item past sm.max_roster_items:
 * <not-allowed/>; removing an item that is not there: <item-not-found/>
 * (type modify, as in the RFC's example). subscription values other than
 * "remove" are ignored (2.1.2.5). The user's own JID is accepted as an
 * item (the RFC has no rule against it). A roster get or set addressed to
 * another account is <forbidden/>.
 *
 * Removing an item (2.5.2) also sends, from the user's bare JID,
 * unsubscribe when the user is subscribed to the contact or asked to be,
 * and unsubscribed (after unavailable presence) when the contact is
 * subscribed to the user or asked to be; the pre-approval goes with the
 * item.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "deliver.h"
#include "iq.h"
#include "load.h"
#include "log.h"
#include "mod.h"
#include "presence.h"
#include "roster.h"
#include "route.h"
#include "session.h"
#include "sm_storage.h"
#include "stanza.h"

/* A roster get waiting for its roster.since answer. */
typedef struct roster_wait {
    char *bare, *resource;         /* the session, found again by these */
    uint64_t conn;                 /* and by its connection */
    unsigned seq;                  /* its roster_seq when the get came */
    xml_node *iq;                  /* the get, owned */
} roster_wait;

static void roster_wait_free(roster_wait *w)
{
    free(w->bare);
    free(w->resource);
    xml_node_free(&w->iq);
    free(w);
}

static int roster_cmp(const void *a, const void *b)
{
    return strcmp((*(sm_contact *const *)a)->jid, (*(sm_contact *const *)b)->jid);
}

/* <query ver='...'/> with every item of u's roster, by JID. */
static xml_node *roster_query(const sm_user *u)
{
    char ver[24];
    size_t n = 0, pos = 0;
    void *v;
    sm_contact **all = calloc(u->roster.count + 1, sizeof *all);
    xml_node *q = all ? xml_node_new("query", NS_ROSTER) : NULL;
    snprintf(ver, sizeof ver, "%llu", u->roster_ver);
    if (!q || xml_attr_set(q, "ver", ver) < 0) {
        free(all);
        xml_node_free(&q);
        return NULL;
    }
    while (hmap_next(&u->roster, &pos, NULL, &v))
        if (sm_roster_visible(v)) all[n++] = v;
    qsort(all, n, sizeof *all, roster_cmp);
    for (size_t i = 0; i < n; i++) {
        xml_node *it = sm_roster_item(all[i]);
        if (it) xml_append(q, it);
    }
    free(all);
    return q;
}

/* Answer iq with the full roster; s gets pushes from now on. 0/-1. */
static int roster_full(sm_t *sm, sm_session *s, const xml_node *iq)
{
    xml_node *q = roster_query(s->user);
    s->roster_requested = 1;
    return q ? sm_iq_reply_session(sm, s, iq, q) : -1;
}

/* Push a roster.since item (changed or removed) to s. */
static void roster_catch_up_one(sm_t *sm, sm_session *s, const json_t *item)
{
    const char *contact = json_string_value(json_object_get(item, "contact"));
    unsigned long long ver = (unsigned long long)json_integer_value(json_object_get(item, "ver"));
    xml_node *it = NULL;
    if (!contact) return;
    if (json_is_true(json_object_get(item, "deleted")) || json_is_true(json_object_get(item, "hidden"))) {
        it = sm_roster_item_removed(contact);
    } else {
        sm_contact *c = sm_contact_from_json(item);
        it = c ? sm_roster_item(c) : NULL;
        sm_contact_free(c);
    }
    xml_node *iq = sm_roster_push_iq(s, it, ver);
    if (iq) sm_deliver(sm, s, iq);
    xml_node_free(&iq);
}

/* Empty result, the changes since the client's version, then the pushes
 * held meanwhile (2.6.3). */
static void roster_catch_up(sm_t *sm, sm_session *s, const xml_node *iq, const json_t *reply)
{
    const json_t *items = json_object_get(reply, "items");
    sm_iq_reply_session(sm, s, iq, NULL);
    for (size_t i = 0; i < json_array_size(items); i++) roster_catch_up_one(sm, s, json_array_get(items, i));
    s->roster_requested = 1;
    for (xml_node *h = s->roster_held ? s->roster_held->first : NULL; h; h = h->next)
        if (h->name) sm_deliver(sm, s, h);
    sm_roster_held_free(s);
    log_msg(LOG_DEBUG, sm->trace, "roster of %s: %zu changes since the client's version", s->full,
            json_array_size(items));
}

static void roster_on_since(sm_t *sm, void *ud, json_t *reply)
{
    roster_wait *w = ud;
    sm_user *u = sm_user_find(sm, w->bare);
    sm_session *s = sm_session_find(u, w->resource);
    if (s && s->conn == w->conn && s->roster_seq == w->seq && s->roster_requested == 2) {
        if (sm_storage_ok(reply) && json_is_true(json_object_get(reply, "complete"))) {
            roster_catch_up(sm, s, w->iq, reply);
        } else {
            sm_roster_held_free(s);
            if (roster_full(sm, s, w->iq) < 0) sm_route_bounce(sm, w->iq, "internal-server-error");
        }
    }
    roster_wait_free(w);
}

/* Ask storage for the changes after version v; the answer completes the
 * get. 0, or -1 if the request could not be made. */
static int roster_since(sm_t *sm, sm_session *s, const xml_node *iq, unsigned long long v)
{
    roster_wait *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->bare = strdup(s->user->bare);
    w->resource = strdup(s->resource);
    w->conn = s->conn;
    w->seq = s->roster_seq;
    w->iq = xml_node_copy(iq);
    if (!w->bare || !w->resource || !w->iq) {
        roster_wait_free(w);
        return -1;
    }
    json_t *req = json_pack("{s:s, s:s, s:I}", "op", "roster.since", "jid", s->user->bare, "ver", (json_int_t)v);
    if (sm_storage_call(sm, s->user->bare, req, roster_on_since, w) < 0) {
        roster_wait_free(w);
        return -1;
    }
    s->roster_requested = 2;
    return 0;
}

/* A 'ver' we issued: decimal digits, no sign or leading zero. 0/-1. */
static int roster_ver_parse(const char *s, unsigned long long *v)
{
    char *end;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1]) || strlen(s) > 19) return -1;
    *v = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

static const char *roster_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    sm_session *s = r->s;
    const char *ver = xml_attr_get(payload, "ver");
    unsigned long long v;
    if (xml_child(payload, NULL, NULL)) return "bad-request";   /* a get MUST NOT carry items (2.1.3) */
    sm_roster_held_free(s);
    s->roster_seq++;
    if (ver && roster_ver_parse(ver, &v) == 0 && v <= s->user->roster_ver) {
        if (v == s->user->roster_ver) {
            s->roster_requested = 1;
            return sm_iq_reply_session(sm, s, iq, NULL) < 0 ? "internal-server-error" : NULL;
        }
        if (roster_since(sm, s, iq, v) == 0) return NULL;
    }
    return roster_full(sm, s, iq) < 0 ? "internal-server-error" : NULL;
}

/* Send iq an error with an explicit type (when the RFC shows one other
 * than RFC 6120's default for the condition). */
static void roster_error(sm_t *sm, sm_session *s, const xml_node *iq, const char *cond, const char *type)
{
    xml_node *r = stanza_error_reply(iq, cond, NULL);
    xml_node *e = r ? xml_child(r, "error", NS_CLIENT) : NULL;
    if (e && xml_attr_set(e, "type", type) == 0) sm_deliver(sm, s, r);
    xml_node_free(&r);
}

/* The name and groups of a roster set's item, checked (2.3.3), into out
 * (whose groups array has room for SM_ROSTER_GROUPS_MAX). NULL, or the
 * error condition; what was stored in out is the caller's either way. */
static const char *roster_item_parse(sm_t *sm, const xml_node *item, sm_contact *out)
{
    const char *name = xml_attr_get(item, "name");
    char norm[JID_PART_MAX + 1], (*prep)[JID_PART_MAX + 1] = calloc(SM_ROSTER_GROUPS_MAX, sizeof *prep);
    const char *cond = prep ? NULL : "internal-server-error";
    if (!cond && name && strlen(name) > sm->max_roster_name) cond = "not-acceptable";
    if (!cond && name && name[0]) out->name = strdup(name);
    for (const xml_node *g = xml_child(item, "group", NS_ROSTER); g && !cond;
         g = xml_child_next(item, g, "group", NS_ROSTER)) {
        char *text = xml_text(g);
        size_t len = text ? strlen(text) : 0;
        if (!text) cond = "internal-server-error";
        else if (len == 0 || len > sm->max_roster_group || out->ngroups >= SM_ROSTER_GROUPS_MAX) cond = "not-acceptable";
        else if (jid_resourceprep(text, norm) < 0) snprintf(norm, sizeof norm, "%s", text);
        for (size_t i = 0; !cond && i < out->ngroups; i++)
            if (strcmp(prep[i], norm) == 0) cond = "bad-request";   /* duplicate group */
        if (!cond) {
            memcpy(prep[out->ngroups], norm, sizeof norm);
            out->groups[out->ngroups++] = text;
            text = NULL;
        }
        free(text);
    }
    free(prep);
    return cond;
}

/* Add or update the item of contact (2.3, 2.4). */
static const char *roster_update(sm_t *sm, sm_session *s, const xml_node *iq, const xml_node *item,
                                 const char *contact)
{
    sm_user *u = s->user;
    sm_contact parsed = {.groups = calloc(SM_ROSTER_GROUPS_MAX + 1, sizeof(char *))};
    const char *cond = parsed.groups ? roster_item_parse(sm, item, &parsed) : "internal-server-error";
    sm_contact *c = sm_roster_find(u, contact);
    if (!cond && !sm_roster_visible(c) && sm_roster_count(u) >= sm->max_roster_items) cond = "not-allowed";
    if (!cond && !c && !(c = sm_roster_add(u, contact))) cond = "internal-server-error";
    if (cond) {
        for (size_t i = 0; i < parsed.ngroups; i++) free(parsed.groups[i]);
        free(parsed.groups);
        free(parsed.name);
        return cond;
    }
    for (size_t i = 0; i < c->ngroups; i++) free(c->groups[i]);
    free(c->groups);
    free(c->name);
    c->name = parsed.name;
    c->groups = parsed.groups;
    c->ngroups = parsed.ngroups;
    c->hidden = 0;
    sm_roster_store(sm, u, c, 1, sm->max_roster_items);
    log_msg(LOG_DEBUG, sm->trace, "roster of %s: set %s (%zu groups), version %llu", u->bare, contact,
            c->ngroups, c->ver);
    xml_node *push = sm_roster_item(c);
    sm_iq_reply_session(sm, s, iq, NULL);
    sm_roster_push(sm, u, push, c->ver);
    return NULL;
}

/* Remove the item of contact (2.5). */
static const char *roster_remove(sm_t *sm, sm_session *s, const xml_node *iq, const char *contact)
{
    sm_user *u = s->user;
    sm_contact *c = sm_roster_find(u, contact);
    if (!sm_roster_visible(c)) {
        roster_error(sm, s, iq, "item-not-found", "modify");
        return NULL;
    }
    unsigned sub = c->sub, ask = c->ask, pin = c->pending_in;
    if (pin) sm_roster_pending_del(sm, u, contact);
    unsigned long long ver = sm_roster_delete(sm, u, c);
    log_msg(LOG_DEBUG, sm->trace, "roster of %s: removed %s (sub=%u ask=%u pending_in=%u), version %llu", u->bare,
            contact, sub, ask, pin, ver);
    sm_iq_reply_session(sm, s, iq, NULL);
    sm_roster_push(sm, u, sm_roster_item_removed(contact), ver);
    if (sub & SM_SUB_FROM) sm_presence_send_unavailable(sm, u, contact);
    if ((sub & SM_SUB_TO) || ask) sm_roster_send(sm, u, contact, "unsubscribe", NULL);
    if ((sub & SM_SUB_FROM) || pin) sm_roster_send(sm, u, contact, "unsubscribed", NULL);
    return NULL;
}

static const char *roster_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    sm_session *s = r->s;
    const xml_node *item = xml_child(payload, "item", NS_ROSTER);
    if (!item || xml_child_next(payload, item, "item", NS_ROSTER)) return "bad-request";
    const char *jid_s = xml_attr_get(item, "jid"), *sub = xml_attr_get(item, "subscription");
    jid_t j;
    char contact[SM_JID_MAX];
    if (!jid_s) return "bad-request";
    if (jid_parse(jid_s, &j) < 0) return "jid-malformed";
    if (jid_has_resource(&j) || jid_bare(&j, contact, sizeof contact) < 0) return "bad-request";
    if (sub && strcmp(sub, "remove") == 0) return roster_remove(sm, s, iq, contact);
    if (sub && strcmp(sub, "none") != 0 && strcmp(sub, "to") != 0 && strcmp(sub, "from") != 0 &&
        strcmp(sub, "both") != 0)
        return "bad-request";   /* not a value of the schema; the valid ones are ignored */
    return roster_update(sm, s, iq, item, contact);
}

/* A roster get or set addressed to another account's bare JID. */
static int roster_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    const char *type = xml_attr_get(st, "type"), *from = xml_attr_get(st, "from");
    jid_t f;
    if (strcmp(st->name, "iq") != 0 || jid_has_resource(to) || !u || !u->exists || !type ||
        (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) || !xml_child(st, "query", NS_ROSTER))
        return SM_PASS;
    if (from && jid_parse(from, &f) == 0 && jid_bare_eq(&f, to)) return SM_PASS;
    sm_route_bounce(sm, st, "forbidden");
    return SM_HANDLED;
}

/* sm.max_roster_* into sm (1..limit). 0/-1. */
static int roster_setting(sm_t *sm, const char *key, long long def, long long limit, unsigned *out)
{
    long long v = sm->cfg ? config_int(sm->cfg, key, def) : def;
    if (v < 1 || v > limit) {
        log_error("config: %s must be 1..%lld", key, limit);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int roster_init(sm_t *sm)
{
    if (roster_setting(sm, "sm.max_roster_items", SM_ROSTER_ITEMS_DEFAULT, SM_ROSTER_ITEMS_LIMIT,
                       &sm->max_roster_items) < 0 ||
        roster_setting(sm, "sm.max_roster_name", SM_ROSTER_TEXT_DEFAULT, SM_ROSTER_TEXT_DEFAULT,
                       &sm->max_roster_name) < 0 ||
        roster_setting(sm, "sm.max_roster_group", SM_ROSTER_TEXT_DEFAULT, SM_ROSTER_TEXT_DEFAULT,
                       &sm->max_roster_group) < 0)
        return -1;
    return 0;
}

/* Free the pushes held for every session (sm_session_free_all runs no
 * hooks). */
static void roster_fini(sm_t *sm)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&sm->users, &pos, NULL, &v))
        for (sm_session *s = ((sm_user *)v)->sessions; s; s = s->next) sm_roster_held_free(s);
}

static void roster_session_end(sm_t *sm, sm_session *s, const char *reason)
{
    sm_roster_held_free(s);
}

static const sm_iq_handler roster_iq[] = {
    {"query", NS_ROSTER, "get", SM_IQ_ACCOUNT, roster_get},
    {"query", NS_ROSTER, "set", SM_IQ_ACCOUNT, roster_set},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_roster = {
    .name = "roster",
    .init = roster_init,
    .fini = roster_fini,
    .session_end = roster_session_end,
    .in = roster_in,
    .iq = roster_iq,
};
