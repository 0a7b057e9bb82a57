/*
 * bind.c - resource binding, unbinding and kicks (see bind.h).
 *
 * Binding follows RFC 6120 section 7.7: an empty resource gets a random
 * one; a resource already in use is taken over by the newest connection
 * (the old one is kicked with <conflict/>); more than
 * sm.max_sessions_per_user sessions is <resource-constraint/>. UNBIND
 * removes a session only if it still belongs to the connection that sent
 * it, so a replaced connection closing late cannot remove its successor.
 */
#include "bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "load.h"
#include "caps.h"
#include "log.h"
#include "session.h"

#define BIND_GEN_TRIES 8
#define BIND_REASON_MAX 32

/* Send a JSON object (consumed) as the reply to h. */
static void bind_reply_json(sm_t *sm, const env_hdr *h, uint16_t flags, json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!txt || bus_reply(sm->bus, h, ENV_BIND_RESP, flags, txt, strlen(txt)) < 0)
        log_msg(LOG_WARN, h->trace, "bind: cannot answer %s conn=%llu", h->src, (unsigned long long)h->conn);
    free(txt);
    json_decref(o);
}

static void bind_reply_ok(sm_t *sm, const env_hdr *h, const char *full)
{
    json_t *o = json_pack("{s:b, s:s}", "ok", 1, "jid", full);
    if (o && sm->caps_ver[0])    /* the domain's caps, for c2s to put in its stream features */
        json_object_set_new(o, "caps", json_pack("{s:s, s:s, s:s}", "hash", "sha-1", "node", SM_CAPS_NODE, "ver",
                                                 sm->caps_ver));
    bind_reply_json(sm, h, 0, o);
}

static void bind_reply_error(sm_t *sm, const env_hdr *h, const char *jid, const char *cond)
{
    log_msg(LOG_INFO, h->trace, "bind refused jid=%s condition=%s c2s=%s conn=%llu", jid ? jid : "-", cond,
            h->src, (unsigned long long)h->conn);
    bind_reply_json(sm, h, ENV_F_ERROR, json_pack("{s:b, s:s}", "ok", 0, "condition", cond));
}

/* A random resource not used by u, into out (JID_PART_MAX + 1). 0/-1. */
static int bind_gen_resource(const sm_user *u, char *out)
{
    unsigned char rnd[8];
    for (int t = 0; t < BIND_GEN_TRIES; t++) {
        if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
        for (size_t i = 0; i < sizeof rnd; i++) snprintf(out + 2 * i, 3, "%02x", rnd[i]);
        if (!sm_session_find(u, out)) return 0;
    }
    return -1;
}

/* Validate the requested bare JID into bare (SM_JID_MAX). NULL or the
 * condition to refuse with. */
static const char *bind_check_jid(sm_t *sm, const char *jid, char *bare)
{
    jid_t j;
    if (!jid || jid_parse(jid, &j) < 0 || !jid_has_local(&j) || jid_has_resource(&j) ||
        strcmp(j.domain, sm->domain) != 0 || jid_bare(&j, bare, SM_JID_MAX) < 0)
        return "bad-request";
    if (!sm_owns(sm, bare)) {
        log_warn("bind: %s (slot %u) is not held by this shard; slot maps differ?", bare, slot_of(bare));
        return "internal-server-error";
    }
    return NULL;
}

/* The resource to bind into res (JID_PART_MAX + 1): the requested one,
 * prepared again, or a generated one. NULL or a condition. */
static const char *bind_pick_resource(const sm_user *u, const char *req, char *res)
{
    if (req && req[0]) return jid_resourceprep(req, res) < 0 ? "bad-request" : NULL;
    return bind_gen_resource(u, res) < 0 ? "internal-server-error" : NULL;
}

/* Take the resource over from an older session. */
static void bind_replace(sm_t *sm, sm_session *old, const env_hdr *h)
{
    if (strcmp(old->c2s, h->src) != 0 || old->conn != h->conn) sm_bind_kick(sm, old, "conflict");
    sm_session_end(sm, old, "replaced");
}

/* Bind for the request h; on success *sp is the new session. NULL or a
 * condition. */
static const char *bind_do(sm_t *sm, const env_hdr *h, const char *jid, const char *req_res, sm_session **sp)
{
    char bare[SM_JID_MAX], res[JID_PART_MAX + 1];
    const char *cond = bind_check_jid(sm, jid, bare);
    if (cond) return cond;
    sm_user *u = sm_user_open(sm, bare);
    if (!u) return "internal-server-error";
    cond = bind_pick_resource(u, req_res, res);
    sm_session *old = cond ? NULL : sm_session_find(u, res);
    if (!cond && !old && u->nsessions >= sm->max_sessions) cond = "resource-constraint";
    if (!cond) {
        if (old) bind_replace(sm, old, h);
        *sp = sm_session_add(sm, u, res, h->src, h->conn);
        if (!*sp) cond = "internal-server-error";
        else sm_load_start(sm, u); /* the roster is needed for the session's first stanzas */
    }
    sm_user_release(sm, &u);
    return cond;
}

void sm_bind_on_req(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    json_t *req = json_loadb(body, len, 0, NULL);
    const char *jid = json_string_value(json_object_get(req, "jid"));
    const char *res = json_string_value(json_object_get(req, "resource"));
    sm_session *s = NULL;
    const char *cond = json_is_object(req) ? bind_do(sm, h, jid, res, &s) : "bad-request";
    if (cond) bind_reply_error(sm, h, jid, cond);
    else bind_reply_ok(sm, h, s->full);
    json_decref(req);
}

/* The session named by a full JID string if it still belongs to
 * (c2s, conn); c2s NULL matches any node. */
static sm_session *bind_session_of(sm_t *sm, const char *full, const char *c2s, uint64_t conn)
{
    jid_t j;
    if (!full || jid_parse(full, &j) < 0) return NULL;
    sm_session *s = sm_session_find_jid(sm, &j);
    if (!s || s->conn != conn || (c2s && strcmp(s->c2s, c2s) != 0)) return NULL;
    return s;
}

/* The c2s' reason as one log token in out (BIND_REASON_MAX + 1 bytes):
 * characters other than letters, digits and "-_." become '_', and it is
 * cut at BIND_REASON_MAX; "unbind" if there is none. */
static const char *bind_reason(const char *r, char *out)
{
    size_t n = 0;
    for (; r && r[n] && n < BIND_REASON_MAX; n++) {
        char ch = r[n];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.';
        out[n] = ok ? ch : '_';
    }
    out[n] = '\0';
    return n ? out : "unbind";
}

/* End s and drop its user record if that was the last session. */
static void bind_end(sm_t *sm, sm_session *s, const char *reason)
{
    sm_user *u = s->user;
    sm_session_end(sm, s, reason);
    sm_user_release(sm, &u);
}

void sm_bind_on_unbind(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    json_t *req = json_loadb(body, len, 0, NULL);
    const char *jid = json_string_value(json_object_get(req, "jid"));
    char reason[BIND_REASON_MAX + 1];
    sm_session *s = bind_session_of(sm, jid, h->src, h->conn);
    if (s) bind_end(sm, s, bind_reason(json_string_value(json_object_get(req, "reason")), reason));
    else log_msg(LOG_DEBUG, h->trace, "unbind of %s from %s conn=%llu: no such session (replaced?)",
                 jid ? jid : "-", h->src, (unsigned long long)h->conn);
    json_decref(req);
}

void sm_bind_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    json_t *resp = json_loadb(body, len, 0, NULL);
    const char *jid = json_string_value(json_object_get(resp, "jid"));
    sm_session *s = json_is_true(json_object_get(resp, "ok")) ? bind_session_of(sm, jid, NULL, h->conn) : NULL;
    if (s) bind_end(sm, s, "unroutable");
    json_decref(resp);
}

int sm_bind_kick(sm_t *sm, const sm_session *s, const char *condition)
{
    env_hdr h = {0};
    h.type = ENV_KICK;
    h.conn = s->conn;
    h.trace = sm->trace;
    json_t *o = json_pack("{s:s, s:s}", "condition", condition, "jid", s->full);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int rc = -1;
    if (txt && env_set_dest_node(&h, s->c2s) == 0) rc = bus_send(sm->bus, &h, txt, strlen(txt));
    free(txt);
    log_msg(LOG_INFO, sm->trace, "kick jid=%s c2s=%s conn=%llu condition=%s%s", s->full, s->c2s,
            (unsigned long long)s->conn, condition, rc < 0 ? " (not sent)" : "");
    return rc;
}
