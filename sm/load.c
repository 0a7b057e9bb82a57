/*
 * load.c - loading a user's stored state and the gate that keeps that
 * user's stanzas waiting, in order, until it is in memory (see load.h).
 */
#include "load.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "deliver.h"
#include "log.h"
#include "privacy.h"
#include "route.h"
#include "session.h"
#include "sm_storage.h"

#define SM_MAX_QUEUED 1000

struct sm_work {
    sm_work *next;
    xml_node *st;                  /* the stanza, owned */
    int out;                       /* 1: outbound from a session, 0: inbound */
    char *resource;                /* outbound: the sending session's resource */
    uint64_t conn;                 /* outbound: its connection */
};

sm_contact *sm_roster_find(const sm_user *u, const char *contact)
{
    return hmap_get(&u->roster, contact);
}

void sm_contact_free(sm_contact *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->ngroups; i++) free(c->groups[i]);
    free(c->groups);
    free(c->jid);
    free(c->name);
    free(c);
}

static unsigned contact_sub_parse(const char *s)
{
    if (!s) return 0;
    if (!strcmp(s, "to")) return SM_SUB_TO;
    if (!strcmp(s, "from")) return SM_SUB_FROM;
    if (!strcmp(s, "both")) return SM_SUB_TO | SM_SUB_FROM;
    return 0;
}

static const char *contact_sub_name(unsigned sub)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    return names[sub & 3];
}

sm_contact *sm_contact_from_json(const json_t *item)
{
    const char *jid = json_string_value(json_object_get(item, "contact"));
    json_t *groups = json_object_get(item, "groups");
    if (!jid) return NULL;
    sm_contact *c = calloc(1, sizeof *c);
    c->jid = strdup(jid);
    const char *name = json_string_value(json_object_get(item, "name"));
    if (name) c->name = strdup(name);
    c->ngroups = json_array_size(groups);
    c->groups = calloc(c->ngroups + 1, sizeof *c->groups);
    for (size_t i = 0; i < c->ngroups; i++) c->groups[i] = strdup(json_string_value(json_array_get(groups, i)) ?: "");
    c->sub = contact_sub_parse(json_string_value(json_object_get(item, "sub")));
    c->ask = json_is_true(json_object_get(item, "ask"));
    c->pending_in = json_is_true(json_object_get(item, "pending_in"));
    c->approved = json_is_true(json_object_get(item, "approved"));
    c->hidden = json_is_true(json_object_get(item, "hidden"));
    c->ver = (unsigned long long)json_integer_value(json_object_get(item, "ver"));
    return c;
}

json_t *sm_contact_to_json(const sm_contact *c)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < c->ngroups; i++) json_array_append_new(groups, json_string(c->groups[i]));
    return json_pack("{s:s, s:o, s:o, s:s, s:b, s:b, s:b, s:b}", "contact", c->jid,
                     "name", c->name ? json_string(c->name) : json_null(), "groups", groups,
                     "sub", contact_sub_name(c->sub), "ask", c->ask, "pending_in", c->pending_in,
                     "approved", c->approved, "hidden", c->hidden);
}

static void work_free(sm_work *w)
{
    xml_node_free(&w->st);
    free(w->resource);
    free(w);
}

/* Forget the stored state (not the queue). */
static void load_clear_state(sm_user *u)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&u->roster, &pos, NULL, &v)) sm_contact_free(v);
    hmap_free(&u->roster);
    pos = 0;
    while (hmap_next(&u->pending, &pos, NULL, &v)) free(v);
    hmap_free(&u->pending);
    free(u->last_unavail);
    u->last_unavail = NULL;
    u->roster_ver = 0;
    u->offline_count = 0;
    u->exists = 0;
    sm_privacy_free(u);
}

void sm_load_clear(sm_user *u)
{
    load_clear_state(u);
    while (u->work_head) {
        sm_work *w = u->work_head;
        u->work_head = w->next;
        work_free(w);
    }
    u->work_tail = NULL;
    u->nwork = 0;
    u->load = SM_UNLOADED;
}

/* Fill u from a user.load reply. 0/-1. */
static int load_apply(sm_user *u, const json_t *reply)
{
    u->exists = json_is_true(json_object_get(reply, "exists"));
    json_t *roster = json_object_get(reply, "roster"), *items = json_object_get(roster, "items");
    u->roster_ver = (unsigned long long)json_integer_value(json_object_get(roster, "ver"));
    for (size_t i = 0; i < json_array_size(items); i++) {
        sm_contact *c = sm_contact_from_json(json_array_get(items, i));
        if (!c || hmap_put(&u->roster, c->jid, c) < 0) {
            sm_contact_free(c);
            return -1;
        }
    }
    json_t *pending = json_object_get(reply, "pending");
    for (size_t i = 0; i < json_array_size(pending); i++) {
        json_t *p = json_array_get(pending, i);
        const char *contact = json_string_value(json_object_get(p, "contact"));
        const char *stanza = json_string_value(json_object_get(p, "stanza"));
        if (contact && stanza) {
            free(hmap_get(&u->pending, contact));
            hmap_put(&u->pending, contact, strdup(stanza));
        }
    }
    json_t *last = json_object_get(reply, "last_presence");
    if (json_is_object(last) && json_string_value(json_object_get(last, "stanza"))) {
        u->last_unavail = strdup(json_string_value(json_object_get(last, "stanza")));
        u->last_unavail_stamp = json_integer_value(json_object_get(last, "stamp"));
    }
    u->offline_count = (unsigned)json_integer_value(json_object_get(reply, "offline_count"));
    return sm_privacy_load(u, json_object_get(reply, "data"));
}

/* Process one queued stanza now that u is loaded (or answer it with an
 * error when the load failed). */
static void load_replay_one(sm_t *sm, sm_user *u, sm_work *w)
{
    if (u->load != SM_LOADED) {
        if (strcmp(w->st->name, "presence") != 0) sm_route_bounce(sm, w->st, "internal-server-error");
        return;
    }
    if (!w->out) {
        sm_deliver_loaded(sm, u, w->st);
        return;
    }
    sm_session *s = sm_session_find(u, w->resource);
    if (s && s->conn == w->conn) sm_route_out(sm, s, w->st);
    else log_debug("dropped a queued %s of %s/%s: the session ended", w->st->name, u->bare, w->resource);
}

static void load_on_reply(sm_t *sm, void *ud, json_t *reply)
{
    sm_user *u = ud;
    if (sm_storage_ok(reply) && load_apply(u, reply) == 0) {
        u->load = SM_LOADED;
    } else {
        log_warn("cannot load the state of %s: %s", u->bare,
                 reply ? json_string_value(json_object_get(reply, "error")) ?: "bad reply" : "storage unavailable");
        load_clear_state(u);
        u->load = SM_UNLOADED;
    }
    u->busy++;
    while (u->work_head) {
        sm_work *w = u->work_head;
        u->work_head = w->next;
        if (!u->work_head) u->work_tail = NULL;
        u->nwork--;
        load_replay_one(sm, u, w);
        work_free(w);
    }
    u->busy--;
    sm_user_release(sm, &u);
}

void sm_load_start(sm_t *sm, sm_user *u)
{
    if (u->load != SM_UNLOADED) return;
    u->load = SM_LOADING;
    json_t *kinds = json_array();
    for (const char *const *k = sm_privacy_kinds; *k; k++) json_array_append_new(kinds, json_string(*k));
    json_t *req = json_pack("{s:s, s:s, s:o}", "op", "user.load", "jid", u->bare, "kinds", kinds);
    if (sm_storage_call(sm, u->bare, req, load_on_reply, u) < 0) u->load = SM_UNLOADED;
}

/* Queue a copy of st on u and make sure a load is under way. Returns 1
 * if the stanza was queued or refused (answered), 0 if u is loaded. */
static int load_enqueue(sm_t *sm, sm_user *u, const xml_node *st, sm_session *s)
{
    if (u->load == SM_UNLOADED) sm_load_start(sm, u);
    if (u->load == SM_LOADED) return 0;
    const char *refuse = u->load != SM_LOADING ? "internal-server-error"
                         : u->nwork >= SM_MAX_QUEUED ? "resource-constraint" : NULL;
    xml_node *copy = refuse ? NULL : xml_node_copy(st);
    if (!copy) {
        log_warn("%s: cannot hold a %s until its state is loaded (%s)", u->bare, st->name,
                 refuse ? refuse : "out of memory");
        if (strcmp(st->name, "presence") != 0) sm_route_bounce(sm, st, refuse ? refuse : "internal-server-error");
        return 1;
    }
    sm_work *w = calloc(1, sizeof *w);
    w->st = copy;
    w->out = s != NULL;
    if (s) {
        w->resource = strdup(s->resource);
        w->conn = s->conn;
    }
    if (u->work_tail) u->work_tail->next = w;
    else u->work_head = w;
    u->work_tail = w;
    u->nwork++;
    return 1;
}

int sm_load_gate_out(sm_t *sm, sm_session *s, const xml_node *st)
{
    sm_user *u = s->user;
    if (u->load == SM_LOADED && !u->work_head) return 0;
    return load_enqueue(sm, u, st, s);
}

int sm_load_gate_in(sm_t *sm, sm_user *u, const xml_node *st)
{
    if (u->load == SM_LOADED && !u->work_head) return 0;
    return load_enqueue(sm, u, st, NULL);
}
