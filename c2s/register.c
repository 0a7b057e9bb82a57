/*
 * register.c - XEP-0077 registration before authentication (the
 * logged-in part is the sm's mod_register.c).
 *
 * Off unless c2s.register is true; then the stream features offer
 * <register xmlns='http://jabber.org/features/iq-register'/> wherever
 * SASL is offered (after STARTTLS when TLS is required). An IQ in
 * jabber:iq:register before authentication:
 *
 *   get   instructions, <username/> and <password/>, and the same as a
 *         jabber:x:data form (FORM_TYPE jabber:iq:register)
 *   set   <username/> and <password/> or the submitted form: the account
 *         is created with SCRAM-SHA-1 and SCRAM-SHA-256 records derived
 *         here (the password never reaches storage); the client then
 *         authenticates as usual. Errors: a missing or empty field
 *         <not-acceptable/>; a username nodeprep refuses <jid-malformed/>;
 *         an existing account <conflict/>; a second registration on one
 *         connection, or past c2s.register_per_ip accounts from one IP
 *         address per hour (counted per c2s process), <not-acceptable/>
 *         with a text; registration off <service-unavailable/>.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "c2s.h"
#include "hmap.h"
#include "log.h"
#include "scram_json.h"
#include "stanza.h"

#define NS_REGISTER "jabber:iq:register"
#define NS_XDATA "jabber:x:data"
#define REG_STORAGE_TIMEOUT_MS 5000
#define REG_WINDOW_S 3600
#define REG_MAX_IPS 10000

typedef struct reg_ip {
    time_t start;       /* the current hour window began */
    unsigned count;     /* accounts created in it */
} reg_ip;

static hmap_t reg_ips;  /* IP -> reg_ip (one per process; c2s is single-threaded) */

int register_enabled(const c2s_t *s)
{
    return config_bool(s->cfg, "c2s.register", 0);
}

/* The address part of a peer name "host:port". */
static void reg_peer_ip(const conn_t *c, char *out, size_t n)
{
    const char *colon = strrchr(c->peer, ':');
    size_t len = colon ? (size_t)(colon - c->peer) : strlen(c->peer);
    if (len >= n) len = n - 1;
    memcpy(out, c->peer, len);
    out[len] = '\0';
}

/* Count one more account for c's IP; 0, or -1 past the limit. */
static int reg_rate_take(const conn_t *c)
{
    long long max = config_int(c->srv->cfg, "c2s.register_per_ip", 5);
    char ip[64];
    reg_peer_ip(c, ip, sizeof ip);
    time_t now = time(NULL);
    reg_ip *r = hmap_get(&reg_ips, ip);
    if (!r) {
        if (reg_ips.count >= REG_MAX_IPS) {   /* forget all rather than grow without bound */
            size_t pos = 0;
            void *v;
            while (hmap_next(&reg_ips, &pos, NULL, &v)) free(v);
            hmap_free(&reg_ips);
        }
        if (!(r = calloc(1, sizeof *r)) || hmap_put(&reg_ips, ip, r) < 0) {
            free(r);
            return -1;
        }
        r->start = now;
    }
    if (now - r->start >= REG_WINDOW_S) {
        r->start = now;
        r->count = 0;
    }
    if (max > 0 && r->count >= (unsigned long long)max) return -1;
    r->count++;
    return 0;
}

static void reg_error(conn_t *c, const xml_node *iq, const char *cond, const char *text)
{
    xml_node *e = stanza_error_reply(iq, cond, text);
    if (e) {
        xml_attr_del(e, "from");
        conn_write_node(c, e);
    }
    xml_node_free(&e);
}

static xml_node *reg_field(xml_node *x, const char *var, const char *type, const char *label)
{
    xml_node *f = xml_add_child(x, "field", NS_XDATA);
    if (f && (xml_attr_set(f, "var", var) < 0 || xml_attr_set(f, "type", type) < 0 ||
              (label && xml_attr_set(f, "label", label) < 0)))
        return NULL;
    return f;
}

static void reg_get(conn_t *c, const xml_node *iq)
{
    static const char instr[] = "Choose a username and password to register with this server.";
    xml_node *r = stanza_iq_result(iq);
    xml_node *q = r ? xml_add_child(r, "query", NS_REGISTER) : NULL;
    xml_node *in = q ? xml_add_child(q, "instructions", NS_REGISTER) : NULL;
    xml_node *x = in && xml_add_text(in, instr, strlen(instr)) == 0 && xml_add_child(q, "username", NS_REGISTER) &&
                          xml_add_child(q, "password", NS_REGISTER)
                      ? xml_add_child(q, "x", NS_XDATA)
                      : NULL;
    xml_node *ft = x && xml_attr_set(x, "type", "form") == 0 ? reg_field(x, "FORM_TYPE", "hidden", NULL) : NULL;
    xml_node *v = ft ? xml_add_child(ft, "value", NS_XDATA) : NULL;
    xml_node *u = v && xml_add_text(v, NS_REGISTER, strlen(NS_REGISTER)) == 0
                      ? reg_field(x, "username", "text-single", "Username")
                      : NULL;
    xml_node *p = u && xml_add_child(u, "required", NS_XDATA) ? reg_field(x, "password", "text-private", "Password")
                                                              : NULL;
    if (p && xml_add_child(p, "required", NS_XDATA)) {
        xml_attr_del(r, "from");
        conn_write_node(c, r);
    } else {
        reg_error(c, iq, "internal-server-error", NULL);
    }
    xml_node_free(&r);
}

/* The value of field var in a submitted form, or of the element var. */
static char *reg_value(const xml_node *q, const char *var)
{
    const xml_node *x = xml_child(q, "x", NS_XDATA);
    for (const xml_node *f = x ? xml_child(x, "field", NS_XDATA) : NULL; f; f = xml_child_next(x, f, "field", NS_XDATA)) {
        const char *name = xml_attr_get(f, "var");
        if (name && strcmp(name, var) == 0) return xml_text(xml_child(f, "value", NS_XDATA));
    }
    const xml_node *e = xml_child(q, var, NS_REGISTER);
    return e ? xml_text(e) : NULL;
}

static void reg_on_created(void *ud, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = ud;
    xml_node *iq = c->bind_iq;
    c->bind_iq = NULL;
    c->pending_req = 0;
    json_t *j = h && h->type == ENV_STORAGE_RESP ? json_loadb(body, len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "code"));
    if (c->state == CONN_OPEN && iq) {
        if (json_is_true(json_object_get(j, "ok"))) {
            xml_node *r = stanza_iq_result(iq);
            if (r) {
                xml_attr_del(r, "from");
                conn_write_node(c, r);
            }
            xml_node_free(&r);
            log_info("account %s@%s registered in-band from %s", c->user, c->srv->domain, c->peer);
        } else {
            reg_error(c, iq, code && strcmp(code, "exists") == 0 ? "conflict" : "internal-server-error", NULL);
        }
    }
    json_decref(j);
    xml_node_free(&iq);
}

static void reg_set(conn_t *c, const xml_node *iq, const xml_node *q)
{
    char *user = reg_value(q, "username"), *pw = reg_value(q, "password");
    char prepped[JID_PART_MAX + 1], bare[C2S_JID_MAX];
    const char *err = NULL;
    json_t *scram = NULL;
    if (!user || !pw || !*user || !*pw) {
        reg_error(c, iq, "not-acceptable", "a username and a password are required");
    } else if (jid_nodeprep(user, prepped) < 0) {
        reg_error(c, iq, "jid-malformed", "this username is not allowed");
    } else if (c->pending_req || c->bind_iq || c->user) {
        reg_error(c, iq, "not-acceptable", "one registration per connection, before authenticating");
    } else if (reg_rate_take(c) < 0) {
        log_info("registration from %s refused: too many from this address", c->peer);
        reg_error(c, iq, "not-acceptable", "too many registrations from this address; try again later");
    } else if (!(scram = scram_records_json(pw, SCRAM_JSON_ITERATIONS, &err))) {
        reg_error(c, iq, "not-acceptable", err);
    } else {
        snprintf(bare, sizeof bare, "%s@%s", prepped, c->srv->domain);
        json_t *req = json_pack("{s:s, s:s, s:o}", "op", "user.create", "jid", bare, "scram", scram);
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        env_hdr h = {0};
        h.type = ENV_STORAGE_REQ;
        const char *node = bus_storage_node(c->srv->cfg, bare);
        if (body && node && env_set_dest_node(&h, node) == 0 && (c->bind_iq = xml_node_copy(iq)) &&
            bus_request(c->srv->bus, &h, body, strlen(body), REG_STORAGE_TIMEOUT_MS, reg_on_created, c) == 0) {
            c->pending_req = h.req;
            free(c->user);
            c->user = strdup(prepped);
        } else {
            xml_node_free(&c->bind_iq);
            reg_error(c, iq, "internal-server-error", NULL);
        }
        free(body);
    }
    if (pw) OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
    free(user);
}

int register_handle(conn_t *c, const xml_node *el)
{
    const xml_node *q = strcmp(el->name, "iq") == 0 && strcmp(el->ns, NS_CLIENT) == 0
                            ? xml_child(el, "query", NS_REGISTER)
                            : NULL;
    const char *type = xml_attr_get(el, "type");
    if (!q || !type) return 0;
    if (!register_enabled(c->srv) || (!c->tls && c->srv->require_tls)) reg_error(c, el, "service-unavailable", NULL);
    else if (strcmp(type, "get") == 0) reg_get(c, el);
    else if (strcmp(type, "set") == 0) reg_set(c, el, q);
    else reg_error(c, el, "bad-request", NULL);
    return 1;
}
