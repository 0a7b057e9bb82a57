/*
 * ops.c - the storage protocol: JSON requests turned into driver calls.
 *
 * The operations are declared as data (ops_table: name, the arguments it
 * takes, handler). ops_execute checks once that the request is an object
 * with a known op and no argument the op does not take; each handler then
 * checks its arguments' types and values before it calls the driver, and
 * maps the driver's status to a reply. Internal errors are logged here with
 * the driver's text; the reply says only "storage error", so database
 * details stay inside the storage worker. Replies and the argument
 * checks live in ops_args.c (ops_int.h).
 */
#include "ops_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "scram.h"
#include "scram_json.h"

typedef json_t *(*ops_fn)(const ops_ctx *c, const json_t *req);

typedef struct ops_entry {
    const char *name;            /* value of "op" */
    const char *const *args;     /* arguments it takes besides "op", NULL-ended */
    ops_fn fn;                   /* runs a request whose keys were checked */
} ops_entry;

/* ---- results ---- */


/* The "scram" object of a user.get reply, or NULL on OOM. */
static json_t *ops_scram_json(const driver_user *u)
{
    json_t *obj = json_object();
    for (int h = 0; obj && h < DRIVER_SCRAM_COUNT; h++) {
        if (!(u->has & DRIVER_HAS(h))) continue;
        json_t *rec = scram_record_json(&u->scram[h]);
        if (!rec || json_object_set_new(obj, scram_mech_name((scram_hash)h), rec) < 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    return obj;
}

/* A roster row as JSON: a tombstone is {"contact", "deleted": true, "ver"},
 * anything else the full item. NULL on OOM or a corrupt groups column. */
static json_t *ops_item_json(const driver_item *it)
{
    if (it->deleted) {
        return json_pack("{s:s, s:b, s:I}", "contact", it->contact, "deleted", 1, "ver", (json_int_t)it->ver);
    }
    json_t *groups = json_loads(it->groups, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(groups)) {
        log_error("roster item %s: corrupt groups column", it->contact);
        json_decref(groups);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:s, s:b, s:b, s:b, s:b, s:I}", "contact", it->contact,
                     "name", it->name ? json_string(it->name) : json_null(), "groups", groups,
                     "sub", driver_sub_name(it->sub), "ask", it->ask, "pending_in", it->pending_in,
                     "approved", it->approved, "hidden", it->hidden, "ver", (json_int_t)it->ver);
}

/* driver_item_cb: append the row to the JSON array ud. */
static int ops_items_add(void *ud, const driver_item *it)
{
    return json_array_append_new(ud, ops_item_json(it));
}

/* driver_stanza_cb: append {"stanza", "stamp"} (and "contact" first when
 * the row has one) to the JSON array ud. */
static int ops_stanzas_add(void *ud, const driver_stanza *st)
{
    json_t *o = st->contact
        ? json_pack("{s:s, s:s, s:I}", "contact", st->contact, "stanza", st->stanza, "stamp", (json_int_t)st->stamp)
        : json_pack("{s:s, s:I}", "stanza", st->stanza, "stamp", (json_int_t)st->stamp);
    return json_array_append_new(ud, o);
}

/* ---- operations ---- */

static json_t *ops_user_get(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail);
    driver_user u;
    if (!jid) return fail;
    driver_status s = c->drv->user_get(c->db, jid, &u);
    if (s != DRIVER_OK) return ops_status(c, s, "user.get", jid);
    return json_pack("{s:b, s:s, s:I, s:o}", "ok", 1, "jid", jid,
                     "created", (json_int_t)u.created, "scram", ops_scram_json(&u));
}

/* user.create and user.passwd share their arguments. */
static json_t *ops_user_write(const ops_ctx *c, const json_t *req, const char *op,
                              driver_status (*write)(void *, const char *, const driver_user *))
{
    json_t *fail = NULL;
    driver_user u;
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid || ops_arg_scram(req, &u, &fail) < 0) return fail;
    return ops_status(c, write(c->db, jid, &u), op, jid);
}

static json_t *ops_user_create(const ops_ctx *c, const json_t *req)
{
    return ops_user_write(c, req, "user.create", c->drv->user_create);
}

static json_t *ops_user_passwd(const ops_ctx *c, const json_t *req)
{
    return ops_user_write(c, req, "user.passwd", c->drv->user_set_scram);
}

static json_t *ops_user_delete(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid) return fail;
    return ops_status(c, c->drv->user_delete(c->db, jid), "user.delete", jid);
}

/* driver_list_cb: append jid to the JSON array ud. */
static int ops_list_add(void *ud, const char *jid)
{
    return json_array_append_new(ud, json_string(jid));
}

static json_t *ops_user_list(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *domain = ops_arg_domain(req, &fail);
    if (fail) return fail;
    json_t *users = json_array();
    if (!users) return NULL;
    driver_status s = c->drv->user_list(c->db, domain, ops_list_add, users);
    if (s != DRIVER_OK) {
        json_decref(users);
        return ops_status(c, s, "user.list", domain);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "users", users);
}

/* What user.load gathers through the driver's callbacks. */
typedef struct ops_load_acc {
    json_t *items;      /* roster rows */
    json_t *pending;    /* pending requests */
    json_t *presence;   /* the last presence object, or NULL */
    json_t *data;       /* {kind: {key: value}} of the requested kinds, or NULL */
} ops_load_acc;

static int ops_load_item(void *ud, const driver_item *it)
{
    return ops_items_add(((ops_load_acc *)ud)->items, it);
}

static int ops_load_pending(void *ud, const driver_stanza *st)
{
    return ops_stanzas_add(((ops_load_acc *)ud)->pending, st);
}

static int ops_load_presence(void *ud, const driver_stanza *st)
{
    ops_load_acc *a = ud;
    json_decref(a->presence);
    a->presence = json_pack("{s:s, s:I}", "stanza", st->stanza, "stamp", (json_int_t)st->stamp);
    return a->presence ? 0 : -1;
}

/* driver_data_cb: key -> value into the object of the row's kind. */
static int ops_load_data(void *ud, const driver_data *row)
{
    json_t *kind = json_object_get(((ops_load_acc *)ud)->data, row->kind);
    return json_object_set_new(kind, row->key, json_stringn(row->value, row->value_len));
}

/* {kind: {}, ...} for each of the NULL-ended kinds, so that a kind
 * without rows is in the reply too; NULL on OOM. */
static json_t *ops_data_kinds(const char *const *kinds)
{
    json_t *data = json_object();
    for (size_t i = 0; data && kinds[i]; i++) {
        if (json_object_set_new(data, kinds[i], json_object()) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    return data;
}

/* The user.load reply for the state in a and out ("data" only when kinds
 * were asked for); NULL on OOM. */
static json_t *ops_load_reply(const ops_load_acc *a, const driver_load *out, int exists)
{
    json_t *reply = json_pack("{s:b, s:b, s:{s:I, s:O}, s:O, s:O, s:I}", "ok", 1, "exists", exists,
                              "roster", "ver", (json_int_t)out->roster_ver, "items", a->items, "pending",
                              a->pending, "last_presence", a->presence ? a->presence : json_null(),
                              "offline_count", (json_int_t)out->offline_count);
    if (reply && a->data && json_object_set(reply, "data", a->data) < 0) {
        json_decref(reply);
        reply = NULL;
    }
    return reply;
}

static json_t *ops_user_load(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *kinds[OPS_KINDS_MAX + 1];
    const char *jid = ops_arg_jid(req, &fail);
    int with_data = jid ? ops_arg_kinds(req, kinds, &fail) : -1;
    if (with_data < 0) return fail;
    ops_load_acc a = {json_array(), json_array(), NULL, with_data ? ops_data_kinds(kinds) : NULL};
    driver_load_cb cb = {.item = ops_load_item, .pending = ops_load_pending, .presence = ops_load_presence,
                         .data = ops_load_data, .kinds = with_data ? kinds : NULL, .ud = &a};
    driver_load out = {0, 0};
    int ready = a.items && a.pending && (!with_data || a.data);
    driver_status s = ready ? c->drv->user_load(c->db, jid, &cb, &out) : DRIVER_ERROR;
    json_t *reply = NULL;
    if (s == DRIVER_OK || s == DRIVER_NOT_FOUND) {
        if (s == DRIVER_NOT_FOUND) {   /* nothing was added; reply with the empty state */
            json_decref(a.presence);
            a.presence = NULL;
        }
        reply = ops_load_reply(&a, &out, s == DRIVER_OK);
    } else if (ready) {
        reply = ops_status(c, s, "user.load", jid);
    }
    json_decref(a.items);
    json_decref(a.pending);
    json_decref(a.presence);
    json_decref(a.data);
    return reply;
}

static json_t *ops_roster_put(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    driver_item it;
    char *groups = NULL;
    int bump = 0;
    int64_t max = -1, ver = 0;
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid || ops_arg_item(req, &it, &groups, &fail) < 0 || ops_arg_bool(req, "bump", "bump", &bump, &fail) < 0 ||
        ops_arg_count(req, "max", 1, &max, &fail) < 0) {
        free(groups);
        return fail;
    }
    driver_status s = c->drv->roster_put(c->db, jid, &it, bump, max, &ver);
    free(groups);
    if (s != DRIVER_OK) return ops_status(c, s, "roster.put", jid);
    return json_pack("{s:b, s:I}", "ok", 1, "ver", (json_int_t)ver);
}

static json_t *ops_roster_del(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail), *contact = NULL;
    int64_t ver = 0;
    if (!jid || !(contact = ops_contact(json_object_get(req, "contact"), "contact", &fail))) return fail;
    driver_status s = c->drv->roster_del(c->db, jid, contact, &ver);
    if (s == DRIVER_NOT_FOUND) return ops_fail("not-found", "no roster item %s for %s", contact, jid);
    if (s != DRIVER_OK) return ops_status(c, s, "roster.del", jid);
    return json_pack("{s:b, s:I}", "ok", 1, "ver", (json_int_t)ver);
}

static json_t *ops_roster_since(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail);
    int64_t since = 0;
    if (!jid || ops_arg_count(req, "ver", 0, &since, &fail) < 0) return fail;
    json_t *items = json_array();
    if (!items) return NULL;
    driver_since out;
    driver_status s = c->drv->roster_since(c->db, jid, since, ops_items_add, items, &out);
    if (s != DRIVER_OK) {
        json_decref(items);
        return ops_status(c, s, "roster.since", jid);
    }
    return json_pack("{s:b, s:I, s:b, s:o}", "ok", 1, "ver", (json_int_t)out.ver, "complete", out.complete,
                     "items", items);
}

static json_t *ops_pending_put(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    driver_stanza st = {NULL, NULL, 0};
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid || !(st.contact = ops_contact(json_object_get(req, "contact"), "contact", &fail)) ||
        !(st.stanza = ops_arg_stanza(req, &fail))) {
        return fail;
    }
    return ops_status(c, c->drv->pending_put(c->db, jid, &st), "pending.put", jid);
}

static json_t *ops_pending_del(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail), *contact = NULL;
    if (!jid || !(contact = ops_contact(json_object_get(req, "contact"), "contact", &fail))) return fail;
    return ops_status(c, c->drv->pending_del(c->db, jid, contact), "pending.del", jid);
}

static json_t *ops_presence_last(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    driver_stanza st = {NULL, NULL, 0};
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid || !(st.stanza = ops_arg_stanza(req, &fail))) return fail;
    return ops_status(c, c->drv->presence_last(c->db, jid, &st), "presence.last", jid);
}

static json_t *ops_offline_put(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    driver_stanza st = {NULL, NULL, 0};
    int64_t max = 0, count = 0;
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid || !(st.stanza = ops_arg_stanza(req, &fail)) || ops_arg_count(req, "max", 0, &max, &fail) < 0) {
        return fail;
    }
    driver_status s = c->drv->offline_put(c->db, jid, &st, max, &count);
    if (s != DRIVER_OK) return ops_status(c, s, "offline.put", jid);
    return json_pack("{s:b, s:I}", "ok", 1, "count", (json_int_t)count);
}

static json_t *ops_offline_pop(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail);
    if (!jid) return fail;
    json_t *messages = json_array();
    if (!messages) return NULL;
    driver_status s = c->drv->offline_pop(c->db, jid, ops_stanzas_add, messages);
    if (s != DRIVER_OK) {
        json_decref(messages);
        return ops_status(c, s, "offline.pop", jid);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "messages", messages);
}

/* driver_data_cb of data.get: the row's value and stamp into the reply ud. */
static int ops_data_found(void *ud, const driver_data *row)
{
    if (json_object_set_new(ud, "value", json_stringn(row->value, row->value_len)) < 0 ||
        json_object_set_new(ud, "stamp", json_integer((json_int_t)row->stamp)) < 0) {
        return -1;
    }
    return json_object_set_new(ud, "found", json_true());
}

/* driver_data_cb of data.list: append {"key", "value", "stamp"} to the
 * JSON array ud. */
static int ops_data_add(void *ud, const driver_data *row)
{
    json_t *o = json_pack("{s:s, s:o, s:I}", "key", row->key, "value", json_stringn(row->value, row->value_len),
                          "stamp", (json_int_t)row->stamp);
    return json_array_append_new(ud, o);
}

static json_t *ops_data_get(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail), *kind = NULL, *key = NULL;
    if (!jid || !(kind = ops_kind(json_object_get(req, "kind"), "kind", &fail)) ||
        !(key = ops_arg_text(req, "key", OPS_KEY_MAX, 0, &fail))) {
        return fail;
    }
    json_t *reply = json_pack("{s:b, s:b}", "ok", 1, "found", 0);
    if (!reply) return NULL;
    driver_status s = c->drv->data_get(c->db, jid, kind, key, ops_data_found, reply);
    if (s == DRIVER_OK) return reply;
    json_decref(reply);
    return ops_status(c, s, "data.get", jid);
}

static json_t *ops_data_put(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    int64_t max = 0;
    const char *jid = ops_arg_jid(req, &fail), *kind = NULL, *key = NULL, *value = NULL;
    if (!jid || !(kind = ops_kind(json_object_get(req, "kind"), "kind", &fail)) ||
        !(key = ops_arg_text(req, "key", OPS_KEY_MAX, 0, &fail)) ||
        !(value = ops_arg_text(req, "value", OPS_VALUE_MAX, 0, &fail)) ||
        ops_arg_count(req, "max", 1, &max, &fail) < 0) {
        return fail;
    }
    return ops_status(c, c->drv->data_put(c->db, jid, kind, key, value, max), "data.put", jid);
}

static json_t *ops_data_del(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail), *kind = NULL, *key = NULL;
    if (!jid || !(kind = ops_kind(json_object_get(req, "kind"), "kind", &fail))) return fail;
    key = ops_arg_text(req, "key", OPS_KEY_MAX, 1, &fail);   /* absent: every row of kind */
    if (fail) return fail;
    return ops_status(c, c->drv->data_del(c->db, jid, kind, key), "data.del", jid);
}

static json_t *ops_data_list(const ops_ctx *c, const json_t *req)
{
    json_t *fail = NULL;
    const char *jid = ops_arg_jid(req, &fail), *kind = NULL;
    if (!jid || !(kind = ops_kind(json_object_get(req, "kind"), "kind", &fail))) return fail;
    json_t *items = json_array();
    if (!items) return NULL;
    driver_status s = c->drv->data_list(c->db, jid, kind, ops_data_add, items);
    if (s != DRIVER_OK) {
        json_decref(items);
        return ops_status(c, s, "data.list", jid);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "items", items);
}

static const char *const ops_args_jid[] = {"jid", NULL};
static const char *const ops_args_jid_scram[] = {"jid", "scram", NULL};
static const char *const ops_args_list[] = {"domain", NULL};
static const char *const ops_args_roster_put[] = {"jid", "item", "bump", "max", NULL};
static const char *const ops_args_jid_contact[] = {"jid", "contact", NULL};
static const char *const ops_args_since[] = {"jid", "ver", NULL};
static const char *const ops_args_pending_put[] = {"jid", "contact", "stanza", NULL};
static const char *const ops_args_jid_stanza[] = {"jid", "stanza", NULL};
static const char *const ops_args_offline_put[] = {"jid", "stanza", "max", NULL};
static const char *const ops_args_load[] = {"jid", "kinds", NULL};
static const char *const ops_args_data_key[] = {"jid", "kind", "key", NULL};
static const char *const ops_args_data_put[] = {"jid", "kind", "key", "value", "max", NULL};
static const char *const ops_args_data_kind[] = {"jid", "kind", NULL};

static const ops_entry ops_table[] = {
    {"user.get", ops_args_jid, ops_user_get},
    {"user.create", ops_args_jid_scram, ops_user_create},
    {"user.passwd", ops_args_jid_scram, ops_user_passwd},
    {"user.delete", ops_args_jid, ops_user_delete},
    {"user.list", ops_args_list, ops_user_list},
    {"user.load", ops_args_load, ops_user_load},
    {"roster.put", ops_args_roster_put, ops_roster_put},
    {"roster.del", ops_args_jid_contact, ops_roster_del},
    {"roster.since", ops_args_since, ops_roster_since},
    {"pending.put", ops_args_pending_put, ops_pending_put},
    {"pending.del", ops_args_jid_contact, ops_pending_del},
    {"presence.last", ops_args_jid_stanza, ops_presence_last},
    {"offline.put", ops_args_offline_put, ops_offline_put},
    {"offline.pop", ops_args_jid, ops_offline_pop},
    {"data.get", ops_args_data_key, ops_data_get},
    {"data.put", ops_args_data_put, ops_data_put},
    {"data.del", ops_args_data_key, ops_data_del},
    {"data.list", ops_args_data_kind, ops_data_list},
};

/* ---- dispatch ---- */

static const ops_entry *ops_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof ops_table / sizeof ops_table[0]; i++) {
        if (strcmp(ops_table[i].name, name) == 0) return &ops_table[i];
    }
    return NULL;
}

/* Check that req has only "op" and the arguments e takes. */
static json_t *ops_check_keys(const ops_entry *e, const json_t *req)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        size_t i = 0;
        while (e->args[i] && strcmp(e->args[i], k) != 0) i++;
        if (!e->args[i] && strcmp(k, "op") != 0) {
            return ops_fail("bad-request", "%s: unexpected argument %s", e->name, k);
        }
    }
    return NULL;
}

json_t *ops_execute(const ops_ctx *c, const json_t *req, char *op, size_t opsz)
{
    const char *name = json_string_value(json_object_get(req, "op"));
    if (opsz) snprintf(op, opsz, "%s", name ? name : "?");
    if (!json_is_object(req)) return ops_fail("bad-request", "request must be a JSON object");
    if (!name) return ops_fail("bad-request", "op: must be a string");
    const ops_entry *e = ops_find(name);
    if (!e) return ops_fail("bad-request", "unknown op %.64s", name);
    json_t *fail = ops_check_keys(e, req);
    return fail ? fail : e->fn(c, req);
}

json_t *ops_handle(const ops_ctx *c, const char *body, size_t len, char *op, size_t opsz)
{
    json_error_t jerr;
    json_t *req = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        if (opsz) snprintf(op, opsz, "?");
        return ops_fail("bad-request", "malformed JSON: %s", jerr.text);
    }
    json_t *reply = ops_execute(c, req, op, opsz);
    json_decref(req);
    return reply;
}
