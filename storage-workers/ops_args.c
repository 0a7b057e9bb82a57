/*
 * ops_args.c - replies and argument checks of the storage protocol (see
 * ops.c for the operations): every argument is checked for type, size and
 * form before a driver is called, and a failed check becomes the
 * bad-request reply the caller returns.
 */
#include "ops_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

/* ---- replies ---- */

/* {"ok": false, "code": code, "error": formatted text}; NULL on OOM. */
json_t *ops_fail(const char *code, const char *fmt, ...)
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
json_t *ops_status(const ops_ctx *c, driver_status s, const char *op, const char *jid)
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
const char *ops_arg_jid(const json_t *req, json_t **fail)
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
const char *ops_contact(const json_t *v, const char *what, json_t **fail)
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
const char *ops_arg_stanza(const json_t *req, json_t **fail)
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
const char *ops_kind(const json_t *v, const char *what, json_t **fail)
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
const char *ops_arg_text(const json_t *req, const char *name, size_t max, int optional, json_t **fail)
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
int ops_arg_kinds(const json_t *req, const char *kinds[OPS_KINDS_MAX + 1], json_t **fail)
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
int ops_arg_count(const json_t *req, const char *key, int optional, int64_t *out, json_t **fail)
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
int ops_arg_bool(const json_t *obj, const char *key, const char *what, int *out, json_t **fail)
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
const char *ops_arg_domain(const json_t *req, json_t **fail)
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
int ops_arg_scram(const json_t *req, driver_user *u, json_t **fail)
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
int ops_arg_item(const json_t *req, driver_item *it, char **groups, json_t **fail)
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

