/*
 * sasl.c - SASL (RFC 6120 section 6) for c2s: PLAIN (only over TLS),
 * SCRAM-SHA-1 and SCRAM-SHA-256.
 *
 * The account's SCRAM records come from a storage worker over the bus
 * ("user.get"); the connection is parked until the reply or a timeout.
 * PLAIN is verified by deriving StoredKey from the password with the
 * stored salt, so no cleartext password is ever stored. An unknown user
 * gets a SCRAM challenge with a fake salt and fails at the proof, like a
 * wrong password.
 */
#include "c2s.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slot.h"
#include "stanza.h"

#define SASL_STORAGE_TIMEOUT_MS 5000

void sasl_write_mechanisms(conn_t *c)
{
    conn_write_str(c, "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                      "<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>");
    if (c->tls) conn_write_str(c, "<mechanism>PLAIN</mechanism>");
    conn_write_str(c, "</mechanisms>");
}

void sasl_reset(conn_t *c)
{
    scram_server_free(&c->scram);
    if (c->plain_pass) {
        memset(c->plain_pass, 0, strlen(c->plain_pass));
        free(c->plain_pass);
        c->plain_pass = NULL;
    }
    c->mech = MECH_NONE;
}

static void sasl_failure(conn_t *c, const char *condition, const char *why)
{
    c->srv->auth_fail++;
    log_info("conn %llu from %s: authentication failed for '%s': %s (%s)", (unsigned long long)c->id, c->peer,
             c->user ? c->user : "", condition, why);
    sasl_reset(c);
    conn_write_str(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><");
    conn_write_str(c, condition);
    conn_write_str(c, "/></failure>");
    if (strcmp(condition, "aborted") != 0 && ++c->auth_failures >= c->srv->max_auth_failures)
        stream_error(c, "policy-violation", "too many authentication failures");
}

static void sasl_success(conn_t *c, const char *additional)
{
    c->srv->auth_ok++;
    c->authed = 1;
    free(c->bare);
    c->bare = malloc(strlen(c->user) + 1 + strlen(c->srv->domain) + 1);
    sprintf(c->bare, "%s@%s", c->user, c->srv->domain);
    c->slot = slot_of(c->bare);
    /* debug: a login leaves one line at info, "session bound" with the
     * peer address; each line is a write(2) on a busy server */
    log_debug("conn %llu from %s: authenticated as %s (%s)", (unsigned long long)c->id, c->peer, c->bare,
              c->mech == MECH_PLAIN ? "PLAIN" : c->mech == MECH_SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256");
    sasl_reset(c);
    conn_write_str(c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
    if (additional && *additional) {
        conn_write_str(c, ">");
        conn_write_str(c, additional);
        conn_write_str(c, "</success>");
    } else {
        conn_write_str(c, "/>");
    }
    stream_restart(c);
}

/* Decode the text of a SASL element. "=" means an empty response.
 * Returns 0, or -1 for bad base64. */
static int sasl_decode(const xml_node *el, buf_t *out)
{
    char *t = xml_text(el);
    if (!t) return -1;
    int rc = 0;
    if (t[0] && strcmp(t, "=") != 0) rc = scram_b64_decode(t, strlen(t), out);
    if (rc == 0 && buf_append(out, "", 0) < 0) rc = -1;
    free(t);
    return rc;
}

/* Parse a "SCRAM-SHA-x" record object from storage. 0/-1. */
static int sasl_parse_record(json_t *j, scram_hash h, scram_record *rec)
{
    const char *salt = json_string_value(json_object_get(j, "salt"));
    const char *sk = json_string_value(json_object_get(j, "stored_key"));
    const char *vk = json_string_value(json_object_get(j, "server_key"));
    json_int_t iter = json_integer_value(json_object_get(j, "iter"));
    buf_t a = BUF_INIT, b = BUF_INIT, d = BUF_INIT;
    int rc = -1;
    size_t hl = scram_hash_len(h);
    if (salt && sk && vk && iter > 0 && scram_b64_decode(salt, strlen(salt), &a) == 0 &&
        scram_b64_decode(sk, strlen(sk), &b) == 0 && scram_b64_decode(vk, strlen(vk), &d) == 0 &&
        a.len > 0 && a.len <= SCRAM_MAX_SALT && b.len == hl && d.len == hl) {
        memset(rec, 0, sizeof *rec);
        rec->hash = h;
        memcpy(rec->salt, a.data, a.len);
        rec->salt_len = a.len;
        rec->iter = (unsigned)iter;
        memcpy(rec->stored_key, b.data, hl);
        memcpy(rec->server_key, d.data, hl);
        rc = 0;
    }
    buf_free(&a);
    buf_free(&b);
    buf_free(&d);
    return rc;
}

/* Storage answer to user.get. found: 1 record usable, 0 no such user, -1 error. */
static int sasl_record_from_reply(const env_hdr *h, const char *body, size_t len, scram_hash hash,
                                  scram_record *rec)
{
    if (!h || h->type != ENV_STORAGE_RESP) return -1;
    json_t *j = json_loadb(body, len, 0, NULL);
    int found = -1;
    if (json_is_true(json_object_get(j, "ok"))) {
        json_t *r = json_object_get(json_object_get(j, "scram"), scram_mech_name(hash));
        found = sasl_parse_record(r, hash, rec) == 0 ? 1 : -1;
    } else {
        const char *code = json_string_value(json_object_get(j, "code"));
        found = code && strcmp(code, "not-found") == 0 ? 0 : -1;
    }
    json_decref(j);
    return found;
}

static void sasl_on_record(void *ud, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = ud;
    c->pending_req = 0;
    if (c->state != CONN_OPEN) return;
    scram_record rec;
    scram_hash hash = c->mech == MECH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
    int found = sasl_record_from_reply(h, body, len, hash, &rec);
    if (found < 0) {
        sasl_failure(c, "temporary-auth-failure", h ? "storage error" : "storage timeout");
        return;
    }
    if (c->mech == MECH_PLAIN) {
        if (found && scram_check_password(&rec, c->plain_pass)) sasl_success(c, NULL);
        else sasl_failure(c, "not-authorized", found ? "wrong password" : "no such user");
        return;
    }
    buf_t first = BUF_INIT, b64 = BUF_INIT;
    if (scram_server_first(c->scram, found ? &rec : NULL, &first) != SCRAM_OK ||
        scram_b64_encode((const unsigned char *)first.data, first.len, &b64) < 0) {
        sasl_failure(c, "temporary-auth-failure", "cannot build challenge");
    } else {
        conn_write_str(c, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
        conn_write(c, b64.data, b64.len);
        conn_write_str(c, "</challenge>");
    }
    buf_free(&first);
    buf_free(&b64);
}

/* Ask storage for the records of c->user. 0/-1. */
static int sasl_fetch_record(conn_t *c)
{
    char bare[C2S_JID_MAX];
    snprintf(bare, sizeof bare, "%s@%s", c->user, c->srv->domain);
    json_t *req = json_pack("{s:s, s:s}", "op", "user.get", "jid", bare);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    env_hdr h = {0};
    h.type = ENV_STORAGE_REQ;
    const char *node = bus_storage_node(c->srv->cfg, bare);
    int rc = -1;
    if (node && env_set_dest_node(&h, node) == 0 &&
        bus_request(c->srv->bus, &h, body, strlen(body), SASL_STORAGE_TIMEOUT_MS, sasl_on_record, c) == 0) {
        c->pending_req = h.req;
        rc = 0;
    }
    free(body);
    return rc;
}

/* Set c->user from a SASL username (nodeprep). 0/-1. */
static int sasl_set_user(conn_t *c, const char *name)
{
    char prepped[JID_PART_MAX + 1];
    if (!name[0] || jid_nodeprep(name, prepped) < 0) return -1;
    free(c->user);
    c->user = strdup(prepped);
    return 0;
}

/* PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616). */
static void sasl_plain(conn_t *c, const buf_t *msg)
{
    const char *p = msg->data, *end = msg->data + msg->len;
    const char *n1 = memchr(p, '\0', msg->len);
    const char *n2 = n1 ? memchr(n1 + 1, '\0', (size_t)(end - n1 - 1)) : NULL;
    if (!n1 || !n2 || n2 + 1 > end) {
        sasl_failure(c, "malformed-request", "bad PLAIN message");
        return;
    }
    if (sasl_set_user(c, n1 + 1) < 0) {
        sasl_failure(c, "not-authorized", "bad username");
        return;
    }
    if (n1 != p) {
        char bare[C2S_JID_MAX];
        snprintf(bare, sizeof bare, "%s@%s", c->user, c->srv->domain);
        jid_t az;
        char azbare[C2S_JID_MAX];
        if (jid_parse(p, &az) < 0 || jid_has_resource(&az) || jid_bare(&az, azbare, sizeof azbare) < 0 ||
            strcmp(azbare, bare) != 0) {
            sasl_failure(c, "invalid-authzid", "authzid differs from the user");
            return;
        }
    }
    c->plain_pass = strndup(n2 + 1, (size_t)(end - n2 - 1));
    if (!c->plain_pass[0] || sasl_fetch_record(c) < 0)
        sasl_failure(c, c->plain_pass[0] ? "temporary-auth-failure" : "not-authorized", "cannot check");
}

static void sasl_scram_first(conn_t *c, const buf_t *msg)
{
    const char *user = NULL;
    c->scram = scram_server_new(c->mech == MECH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256);
    scram_status st = c->scram ? scram_server_client_first(c->scram, msg->data, msg->len, &user)
                               : SCRAM_ERR_NOT_AUTHORIZED;
    if (st == SCRAM_ERR_MALFORMED) { sasl_failure(c, "malformed-request", "bad client-first"); return; }
    if (st != SCRAM_OK) { sasl_failure(c, "not-authorized", scram_server_detail(c->scram)); return; }
    if (sasl_set_user(c, user) < 0) {
        sasl_failure(c, "not-authorized", "bad username");
        return;
    }
    const char *authz = scram_server_authzid(c->scram);
    if (authz) {
        char bare[C2S_JID_MAX], azbare[C2S_JID_MAX];
        jid_t az;
        snprintf(bare, sizeof bare, "%s@%s", c->user, c->srv->domain);
        if (jid_parse(authz, &az) < 0 || jid_bare(&az, azbare, sizeof azbare) < 0 || strcmp(azbare, bare) != 0) {
            sasl_failure(c, "invalid-authzid", "authzid differs from the user");
            return;
        }
    }
    if (sasl_fetch_record(c) < 0) sasl_failure(c, "temporary-auth-failure", "storage unreachable");
}

static void sasl_scram_final(conn_t *c, const buf_t *msg)
{
    buf_t out = BUF_INIT, b64 = BUF_INIT;
    scram_status st = scram_server_client_final(c->scram, msg->data, msg->len, &out);
    if (st == SCRAM_OK && scram_b64_encode((const unsigned char *)out.data, out.len, &b64) == 0)
        sasl_success(c, b64.data);
    else if (st == SCRAM_ERR_MALFORMED)
        sasl_failure(c, "malformed-request", scram_server_detail(c->scram));
    else
        sasl_failure(c, "not-authorized", scram_server_detail(c->scram));
    buf_free(&out);
    buf_free(&b64);
}

static void sasl_auth(conn_t *c, xml_node *el)
{
    const char *m = xml_attr_get(el, "mechanism");
    if (c->mech != MECH_NONE || c->pending_req) {
        sasl_failure(c, "aborted", "new <auth/> during an exchange");
        return;
    }
    if (m && strcmp(m, "SCRAM-SHA-256") == 0) c->mech = MECH_SCRAM_SHA256;
    else if (m && strcmp(m, "SCRAM-SHA-1") == 0) c->mech = MECH_SCRAM_SHA1;
    else if (m && strcmp(m, "PLAIN") == 0 && c->tls) c->mech = MECH_PLAIN;
    else { sasl_failure(c, "invalid-mechanism", m ? m : "no mechanism"); return; }
    buf_t msg = BUF_INIT;
    if (sasl_decode(el, &msg) < 0) {
        sasl_failure(c, "incorrect-encoding", "bad base64");
    } else if (msg.len == 0) {
        conn_write_str(c, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"); /* ask for the initial response */
    } else if (c->mech == MECH_PLAIN) {
        sasl_plain(c, &msg);
    } else {
        sasl_scram_first(c, &msg);
    }
    buf_free(&msg);
}

static void sasl_response(conn_t *c, xml_node *el)
{
    if (c->mech == MECH_NONE || c->pending_req) {
        sasl_failure(c, "malformed-request", "unexpected <response/>");
        return;
    }
    buf_t msg = BUF_INIT;
    if (sasl_decode(el, &msg) < 0) sasl_failure(c, "incorrect-encoding", "bad base64");
    else if (c->mech == MECH_PLAIN) sasl_plain(c, &msg);
    else if (!c->scram) sasl_scram_first(c, &msg);
    else sasl_scram_final(c, &msg);
    buf_free(&msg);
}

void sasl_handle(conn_t *c, xml_node *el)
{
    if (strcmp(el->name, "auth") == 0) sasl_auth(c, el);
    else if (strcmp(el->name, "response") == 0) sasl_response(c, el);
    else if (strcmp(el->name, "abort") == 0) {
        if (c->pending_req) {
            bus_cancel(c->srv->bus, c->pending_req);
            c->pending_req = 0;
        }
        sasl_failure(c, "aborted", "client aborted");
    } else stream_error(c, "bad-format", "unknown SASL element");
}
