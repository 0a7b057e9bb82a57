/*
 * ops.c - the storage protocol: JSON requests turned into driver calls.
 *
 * The operations are declared as data (ops_table: name, the arguments it
 * takes, handler). ops_execute checks once that the request is an object
 * with a known op and no argument the op does not take; each handler then
 * checks its arguments' types and values before it calls the driver, and
 * maps the driver's status to a reply. Internal errors are logged here with
 * the driver's text; the reply says only "storage error", so database
 * details stay inside the storage worker.
 */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "scram.h"
#include "scram_json.h"

#define OPS_BARE_MAX (2 * JID_PART_MAX + 1)   /* local@domain */
#define OPS_STANZA_MAX 262144                 /* bytes of a stored stanza */
#define OPS_NAME_MAX 1023                     /* bytes of a roster item name */
#define OPS_GROUP_MAX 1023                    /* bytes of a roster group name */
#define OPS_GROUPS_MAX 64                     /* groups of one roster item */
#define OPS_KIND_MAX 64                       /* bytes of a keyed-data kind */
#define OPS_KINDS_MAX 32                      /* kinds one user.load may ask for */
#define OPS_KEY_MAX 3072                      /* bytes of a keyed-data key */
#define OPS_VALUE_MAX 1048576                 /* bytes of a keyed-data value */

typedef json_t *(*ops_fn)(const ops_ctx *c, const json_t *req);

typedef struct ops_entry {
    const char *name;            /* value of "op" */
    const char *const *args;     /* arguments it takes besides "op", NULL-ended */
    ops_fn fn;                   /* runs a request whose keys were checked */
} ops_entry;

/* ---- replies ---- */

/* {"ok": false, "code": code, "error": formatted text}; NULL on OOM. */
static json_t *ops_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *ops_fail(const char *code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", text);
}

static json_t *ops_ok(void)
{
    return json_pack("{s:b}", "ok", 1);
}

/* The reply for a driver status that is not DRIVER_OK. */
static json_t *ops_status(const ops_ctx *c, driver_status s, const char *op, const char *jid)
{
    switch (s) {
    case DRIVER_OK:
        return ops_ok();
    case DRIVER_NOT_FOUND:
        return ops_fail("not-found", "no such user %s", jid);
    case DRIVER_EXISTS:
        return ops_fail("exists", "user %s already exists", jid);
    case DRIVER_LIMIT:
        return ops_fail("limit", "%s: limit reached for %s", op, jid);
    default:
        log_error("%s %s: %s", op, jid ? jid : "-", c->drv->last_error(c->db));
        return ops_fail("internal", "storage error");
    }
}

int ops_reply_ok(const json_t *reply)
{
    return json_is_true(json_object_get(reply, "ok"));
}

const char *ops_reply_code(const json_t *reply)
{
    return json_string_value(json_object_get(reply, "code"));
}

/* ---- argument checks: each returns 0, or -1 with *fail set ---- */

/* Non-zero if s is a bare JID exactly as jid_parse + jid_bare write it
 * (normalized, no resource), with a localpart when need_local is set. */
static int ops_is_bare(const char *s, int need_local)
{
    jid_t j;
    char bare[OPS_BARE_MAX + 1];
    return strlen(s) <= OPS_BARE_MAX && jid_parse(s, &j) == 0 && (!need_local || jid_has_local(&j)) &&
           !jid_has_resource(&j) && jid_bare(&j, bare, sizeof bare) >= 0 && strcmp(bare, s) == 0;
}

/* The bare JID in req.jid, which must already be normalized and have a
 * localpart and no resource. Returns the string (owned by req) or NULL. */
static const char *ops_arg_jid(const json_t *req, json_t **fail)
{
    const json_t *v = json_object_get(req, "jid");
    const char *s = json_string_value(v);
    if (!s) {
        *fail = ops_fail("bad-request", "jid: %s", v ? "must be a string" : "missing");
        return NULL;
    }
    if (!ops_is_bare(s, 1)) {
        *fail = ops_fail("bad-request", "jid: must be a normalized bare JID with a localpart");
        return NULL;
    }
    return s;
}

/* A contact's JID in v (field `what`): a normalized bare JID, the
 * localpart optional (a contact may be a server or a gateway). Returns the
 * string (owned by v) or NULL with *fail set. */
static const char *ops_contact(const json_t *v, const char *what, json_t **fail)
{
    const char *s = json_string_value(v);
    if (!s) {
        *fail = ops_fail("bad-request", "%s: %s", what, v ? "must be a string" : "missing");
        return NULL;
    }
    if (!ops_is_bare(s, 0)) {
        *fail = ops_fail("bad-request", "%s: must be a normalized bare JID", what);
        return NULL;
    }
    return s;
}

/* The stanza text in req.stanza: a string of 1..OPS_STANZA_MAX bytes. */
static const char *ops_arg_stanza(const json_t *req, json_t **fail)
{
    const json_t *v = json_object_get(req, "stanza");
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) == 0 || json_string_length(v) > OPS_STANZA_MAX) {
        *fail = ops_fail("bad-request", "stanza: %s", !v ? "missing" : !s ? "must be a string"
                                                      : "must be 1..262144 bytes");
        return NULL;
    }
    return s;
}

/* Non-zero if s (len bytes) is a kind: 1..OPS_KIND_MAX bytes of
 * [a-z0-9._-], a plain name that needs no escaping in logs or JSON. */
static int ops_is_kind(const char *s, size_t len)
{
    if (!s || len == 0 || len > OPS_KIND_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

/* The kind in v (field `what`), see ops_is_kind. Returns the string
 * (owned by v) or NULL with *fail set. */
static const char *ops_kind(const json_t *v, const char *what, json_t **fail)
{
    const char *s = json_string_value(v);
    if (!ops_is_kind(s, json_string_length(v))) {
        *fail = ops_fail("bad-request", "%s: %s", what, !v ? "missing" : !s ? "must be a string"
                         : "must be 1..64 bytes of a-z, 0-9, '.', '_', '-'");
        return NULL;
    }
    return s;
}

/* req[name] as a string of at most max bytes ("" allowed) and without a
 * NUL byte, which the database would cut the text at (the JSON parser
 * refuses \u0000, but ops_execute also takes requests built in memory).
 * Returns the string (owned by req); NULL when it is absent and optional,
 * *fail untouched, or NULL with *fail set. */
static const char *ops_arg_text(const json_t *req, const char *name, size_t max, int optional, json_t **fail)
{
    const json_t *v = json_object_get(req, name);
    const char *s = json_string_value(v);
    if (!v && optional) return NULL;
    if (!s) {
        *fail = ops_fail("bad-request", "%s: %s", name, v ? "must be a string" : "missing");
        return NULL;
    }
    if (json_string_length(v) > max || strlen(s) != json_string_length(v)) {
        *fail = ops_fail("bad-request", "%s: must be a string of at most %zu bytes without NUL", name, max);
        return NULL;
    }
    return s;
}

/* The optional req.kinds: an array of at most OPS_KINDS_MAX distinct
 * kinds, into the NULL-ended kinds (strings owned by req). Returns 1, 0
 * when absent (kinds[0] = NULL), or -1 with *fail set. */
static int ops_arg_kinds(const json_t *req, const char *kinds[OPS_KINDS_MAX + 1], json_t **fail)
{
    const json_t *v = json_object_get(req, "kinds");
    size_t n = json_array_size(v);
    kinds[0] = NULL;
    if (!v) return 0;
    if (!json_is_array(v) || n > OPS_KINDS_MAX) {
        *fail = ops_fail("bad-request", "kinds: %s", !json_is_array(v) ? "must be an array" : "at most 32 kinds");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(kinds[i] = ops_kind(json_array_get(v, i), "kinds", fail))) return -1;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(kinds[k], kinds[i]) == 0) {
                *fail = ops_fail("bad-request", "kinds: duplicate kind %s", kinds[i]);
                return -1;
            }
        }
    }
    kinds[n] = NULL;
    return 1;
}

/* req[key] as a non-negative integer into *out. Returns 1, 0 when it is
 * absent and optional (*out untouched), or -1 with *fail set. */
static int ops_arg_count(const json_t *req, const char *key, int optional, int64_t *out, json_t **fail)
{
    const json_t *v = json_object_get(req, key);
    if (!v && optional) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *fail = ops_fail("bad-request", "%s: %s", key, v ? "must be a non-negative integer" : "missing");
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 1;
}

/* obj[key] as a JSON boolean into *out; `what` names it in the error. */
static int ops_arg_bool(const json_t *obj, const char *key, const char *what, int *out, json_t **fail)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) {
        *fail = ops_fail("bad-request", "%s: %s", what, v ? "must be true or false" : "missing");
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The optional req.domain: NULL with *fail untouched when absent. */
static const char *ops_arg_domain(const json_t *req, json_t **fail)
{
    const json_t *v = json_object_get(req, "domain");
    const char *s = json_string_value(v);
    jid_t j;
    char bare[OPS_BARE_MAX + 1];
    if (!v) return NULL;
    if (!s || strlen(s) > JID_PART_MAX || jid_parse(s, &j) < 0 || jid_has_local(&j) ||
        jid_has_resource(&j) || jid_bare(&j, bare, sizeof bare) < 0 || strcmp(bare, s) != 0) {
        *fail = ops_fail("bad-request", "domain: must be a normalized domain name");
    }
    return s;
}

/* Decode base64 text v into dst: exactly `want` bytes, or 1..want bytes
 * when exact is 0. Returns the length or -1. */
static int ops_b64(const json_t *v, unsigned char *dst, size_t want, int exact)
{
    const char *s = json_string_value(v);
    buf_t b = BUF_INIT;
    int n = -1;
    if (s && scram_b64_decode(s, json_string_length(v), &b) == 0) {
        size_t len = buf_pending(&b);
        if (len > 0 && len <= want && (!exact || len == want)) {
            memcpy(dst, buf_head(&b), len);
            n = (int)len;
        }
    }
    buf_free(&b);
    return n;
}

/* Non-zero if obj has no key outside the NULL-ended list keys. */
static int ops_keys_only(const json_t *obj, const char *const *keys, const char **extra)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0) i++;
        if (!keys[i]) {
            *extra = k;
            return 0;
        }
    }
    return 1;
}

/* Parse one SCRAM record object for hash h into r. 0, or -1 with *fail. */
static int ops_arg_record(const json_t *v, scram_hash h, scram_record *r, json_t **fail)
{
    static const char *const keys[] = {"salt", "iter", "stored_key", "server_key", NULL};
    const char *mech = scram_mech_name(h), *extra = NULL;
    const json_t *iter = json_object_get(v, "iter");
    size_t klen = scram_hash_len(h);
    if (!json_is_object(v) || !ops_keys_only(v, keys, &extra)) {
        *fail = extra ? ops_fail("bad-request", "scram.%s: unexpected field %s", mech, extra)
                      : ops_fail("bad-request", "scram.%s: must be an object", mech);
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->hash = h;
    int salt = ops_b64(json_object_get(v, "salt"), r->salt, SCRAM_MAX_SALT, 0);
    if (salt < 0) {
        *fail = ops_fail("bad-request", "scram.%s.salt: must be base64 of 1..%d bytes", mech, SCRAM_MAX_SALT);
        return -1;
    }
    r->salt_len = (size_t)salt;
    if (!json_is_integer(iter) || json_integer_value(iter) < 1 || json_integer_value(iter) > 0x7fffffff) {
        *fail = ops_fail("bad-request", "scram.%s.iter: must be an integer 1..2147483647", mech);
        return -1;
    }
    r->iter = (unsigned)json_integer_value(iter);
    if (ops_b64(json_object_get(v, "stored_key"), r->stored_key, klen, 1) < 0 ||
        ops_b64(json_object_get(v, "server_key"), r->server_key, klen, 1) < 0) {
        *fail = ops_fail("bad-request", "scram.%s: stored_key and server_key must be base64 of %zu bytes",
                         mech, klen);
        return -1;
    }
    return 0;
}

/* Parse req.scram, which must hold exactly one record per mechanism
 * (SCRAM-SHA-1 and SCRAM-SHA-256), into u. 0, or -1 with *fail. */
static int ops_arg_scram(const json_t *req, driver_user *u, json_t **fail)
{
    static const char *const keys[] = {"SCRAM-SHA-1", "SCRAM-SHA-256", NULL};
    const json_t *v = json_object_get(req, "scram");
    const char *extra = NULL;
    memset(u, 0, sizeof *u);
    if (!json_is_object(v) || !ops_keys_only(v, keys, &extra)) {
        *fail = extra ? ops_fail("bad-request", "scram: unknown mechanism %s", extra)
                      : ops_fail("bad-request", "scram: %s", v ? "must be an object" : "missing");
        return -1;
    }
    for (int h = 0; h < DRIVER_SCRAM_COUNT; h++) {
        const json_t *rec = json_object_get(v, scram_mech_name((scram_hash)h));
        if (!rec) {
            *fail = ops_fail("bad-request", "scram: missing %s", scram_mech_name((scram_hash)h));
            return -1;
        }
        if (ops_arg_record(rec, (scram_hash)h, &u->scram[h], fail) < 0) return -1;
        u->has |= DRIVER_HAS(h);
    }
    return 0;
}

/* Check item.groups: an array of at most OPS_GROUPS_MAX distinct strings
 * of 1..OPS_GROUP_MAX bytes. Returns its compact JSON text (the caller
 * frees it) or NULL with *fail set. */
static char *ops_arg_groups(const json_t *v, json_t **fail)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n > OPS_GROUPS_MAX) {
        *fail = ops_fail("bad-request", "item.groups: %s", !v ? "missing"
                         : !json_is_array(v) ? "must be an array" : "at most 64 groups");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *g = json_array_get(v, i);
        size_t len = json_string_length(g);
        if (!json_is_string(g) || len == 0 || len > OPS_GROUP_MAX) {
            *fail = ops_fail("bad-request", "item.groups: each must be a string of 1..1023 bytes");
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            const json_t *h = json_array_get(v, k);
            if (json_string_length(h) == len && memcmp(json_string_value(h), json_string_value(g), len) == 0) {
                *fail = ops_fail("bad-request", "item.groups: duplicate group");
                return NULL;
            }
        }
    }
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text) *fail = ops_fail("internal", "out of memory");
    return text;
}

/* Parse req.item into it (strings owned by req, except *groups, which the
 * caller frees). 0, or -1 with *fail set. */
static int ops_arg_item(const json_t *req, driver_item *it, char **groups, json_t **fail)
{
    static const char *const keys[] = {"contact", "name", "groups", "sub", "ask", "pending_in", "approved",
                                       "hidden", NULL};
    const json_t *v = json_object_get(req, "item");
    const char *extra = NULL;
    memset(it, 0, sizeof *it);
    *groups = NULL;
    if (!json_is_object(v) || !ops_keys_only(v, keys, &extra)) {
        *fail = extra ? ops_fail("bad-request", "item: unexpected field %s", extra)
                      : ops_fail("bad-request", "item: %s", v ? "must be an object" : "missing");
        return -1;
    }
    if (!(it->contact = ops_contact(json_object_get(v, "contact"), "item.contact", fail))) return -1;
    const json_t *name = json_object_get(v, "name");
    if (!json_is_null(name) && (!json_is_string(name) || json_string_length(name) > OPS_NAME_MAX)) {
        *fail = ops_fail("bad-request", "item.name: %s", name ? "must be null or a string of at most 1023 bytes"
                                                              : "missing (null for none)");
        return -1;
    }
    it->name = json_string_value(name);
    int sub = driver_sub_parse(json_string_value(json_object_get(v, "sub")));
    if (sub < 0) {
        *fail = ops_fail("bad-request", "item.sub: must be \"none\", \"to\", \"from\" or \"both\"");
        return -1;
    }
    it->sub = (driver_sub)sub;
    if (ops_arg_bool(v, "ask", "item.ask", &it->ask, fail) < 0 ||
        ops_arg_bool(v, "pending_in", "item.pending_in", &it->pending_in, fail) < 0 ||
        ops_arg_bool(v, "approved", "item.approved", &it->approved, fail) < 0 ||
        ops_arg_bool(v, "hidden", "item.hidden", &it->hidden, fail) < 0) {
        return -1;
    }
    /* the states RFC 6121 A.1 rules out */
    int to = it->sub == DRIVER_SUB_TO || it->sub == DRIVER_SUB_BOTH;
    int from = it->sub == DRIVER_SUB_FROM || it->sub == DRIVER_SUB_BOTH;
    if ((to && it->ask) || (from && it->pending_in)) {
        *fail = ops_fail("bad-request", "item: %s", to && it->ask ? "ask with subscription to or both"
                                                                  : "pending_in with subscription from or both");
        return -1;
    }
    if (!(*groups = ops_arg_groups(json_object_get(v, "groups"), fail))) return -1;
    it->groups = *groups;
    return 0;
}

/* ---- results ---- */


/* {"salt":..., "iter":..., "stored_key":..., "server_key":...}, or NULL. */
static json_t *ops_record_json(const scram_record *r)
{
    size_t klen = scram_hash_len(r->hash);
    return json_pack("{s:o, s:I, s:o, s:o}",
                     "salt", scram_b64_json(r->salt, r->salt_len),
                     "iter", (json_int_t)r->iter,
                     "stored_key", scram_b64_json(r->stored_key, klen),
                     "server_key", scram_b64_json(r->server_key, klen));
}

/* The "scram" object of a user.get reply, or NULL on OOM. */
static json_t *ops_scram_json(const driver_user *u)
{
    json_t *obj = json_object();
    for (int h = 0; obj && h < DRIVER_SCRAM_COUNT; h++) {
        if (!(u->has & DRIVER_HAS(h))) continue;
        json_t *rec = ops_record_json(&u->scram[h]);
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
