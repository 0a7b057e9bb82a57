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
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "scram.h"

#define OPS_BARE_MAX (2 * JID_PART_MAX + 1)   /* local@domain */

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

/* The bare JID in req.jid, which must already be normalized and have a
 * localpart and no resource. Returns the string (owned by req) or NULL. */
static const char *ops_arg_jid(const json_t *req, json_t **fail)
{
    const json_t *v = json_object_get(req, "jid");
    const char *s = json_string_value(v);
    jid_t j;
    char bare[OPS_BARE_MAX + 1];
    if (!s) {
        *fail = ops_fail("bad-request", "jid: %s", v ? "must be a string" : "missing");
        return NULL;
    }
    if (strlen(s) > OPS_BARE_MAX || jid_parse(s, &j) < 0 || !jid_has_local(&j) ||
        jid_has_resource(&j) || jid_bare(&j, bare, sizeof bare) < 0 || strcmp(bare, s) != 0) {
        *fail = ops_fail("bad-request", "jid: must be a normalized bare JID with a localpart");
        return NULL;
    }
    return s;
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

/* ---- results ---- */

/* Base64 of p[0..n) as a new JSON string, or NULL. */
static json_t *ops_b64_json(const unsigned char *p, size_t n)
{
    buf_t b = BUF_INIT;
    json_t *s = NULL;
    if (scram_b64_encode(p, n, &b) == 0) s = json_stringn(buf_head(&b), buf_pending(&b));
    buf_free(&b);
    return s;
}

/* {"salt":..., "iter":..., "stored_key":..., "server_key":...}, or NULL. */
static json_t *ops_record_json(const scram_record *r)
{
    size_t klen = scram_hash_len(r->hash);
    return json_pack("{s:o, s:I, s:o, s:o}",
                     "salt", ops_b64_json(r->salt, r->salt_len),
                     "iter", (json_int_t)r->iter,
                     "stored_key", ops_b64_json(r->stored_key, klen),
                     "server_key", ops_b64_json(r->server_key, klen));
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

static const char *const ops_args_jid[] = {"jid", NULL};
static const char *const ops_args_jid_scram[] = {"jid", "scram", NULL};
static const char *const ops_args_list[] = {"domain", NULL};

static const ops_entry ops_table[] = {
    {"user.get", ops_args_jid, ops_user_get},
    {"user.create", ops_args_jid_scram, ops_user_create},
    {"user.passwd", ops_args_jid_scram, ops_user_passwd},
    {"user.delete", ops_args_jid, ops_user_delete},
    {"user.list", ops_args_list, ops_user_list},
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
