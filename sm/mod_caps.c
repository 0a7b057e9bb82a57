/*
 * mod_caps.c - XEP-0115 Entity Capabilities: the caps a client announces
 * in its presence, verified once per hash and cached for every shard.
 *
 * An available broadcast presence carrying <c xmlns=caps hash node ver/>
 * with a hash this server computes (sha-1, sha-256) is looked up in this
 * shard's memory, then in Redis (caps:<hash>:<ver>, shared by all shards).
 * An unknown ver is asked for once: a disco#info query for node#ver from
 * the server to the announcing resource. The answer's verification string
 * (XEP-0115 section 5.1: identities, features and XEP-0128 forms, sorted)
 * is hashed and compared with ver (section 5.4, also refusing duplicate
 * identities, duplicate features and forms that repeat a FORM_TYPE); only
 * a match is cached, with the features, so a forged ver never is. Legacy
 * caps without a hash are not verified.
 *
 * Each session keeps the caps of its last available presence (sm_session
 * .caps), for what needs a session's features (PEP notifications).
 *
 * Queries in flight are bounded (CAPS_MAX_PENDING) and forgotten after
 * CAPS_QUERY_MS; one ver is asked for at most once at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "hmap.h"
#include "log.h"
#include "mod.h"
#include "caps.h"
#include "route.h"
#include "sm_redis.h"
#include "stanza.h"

#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_XDATA "jabber:x:data"
#define CAPS_ID "caps-"
#define CAPS_MAX_PENDING 1000
#define CAPS_MAX_KNOWN 20000
#define CAPS_QUERY_MS 30000

typedef struct caps_query {
    sm_t *sm;
    char id[32];
    char *key;                 /* "<hash> <ver>" */
    char *hash, *ver, *node, *full;
    uint64_t sent;             /* loop_now() when asked; 0 while looking in Redis */
} caps_query;

static hmap_t caps_known;      /* "<hash> <ver>" -> (void *)1: verified */
static hmap_t caps_pending;    /* query id -> caps_query, and key -> the same query */
static unsigned long long caps_seq;

static void query_free(caps_query *q)
{
    if (!q) return;
    free(q->key);
    free(q->hash);
    free(q->ver);
    free(q->node);
    free(q->full);
    free(q);
}

static void query_drop(caps_query *q)
{
    if (hmap_get(&caps_pending, q->key) == q) hmap_del(&caps_pending, q->key);
    if (q->id[0] && hmap_get(&caps_pending, q->id) == q) hmap_del(&caps_pending, q->id);
    query_free(q);
}

static const EVP_MD *caps_md(const char *hash)
{
    if (strcmp(hash, "sha-1") == 0) return EVP_sha1();
    if (strcmp(hash, "sha-256") == 0) return EVP_sha256();
    return NULL;
}

static void caps_remember(const char *key)
{
    if (caps_known.count >= CAPS_MAX_KNOWN) hmap_free(&caps_known);    /* Redis still has them */
    hmap_put(&caps_known, key, (void *)1);
}

/* ---- the verification string (XEP-0115 section 5.1) ---- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qsort, which must not be given a NULL array even when it is empty */
static void sort_strs(char **v, size_t n)
{
    if (n > 1) qsort(v, n, sizeof *v, str_cmp);
}

typedef struct strv {
    char **v;
    size_t n;
} strv;

static int strv_add(strv *s, const char *a, const char *b, const char *c, const char *d)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) return -1;
    s->v = v;
    size_t len = strlen(a) + (b ? strlen(b) + strlen(c) + strlen(d) + 3 : 0) + 1;
    if (!(v[s->n] = malloc(len))) return -1;
    if (b) snprintf(v[s->n], len, "%s/%s/%s/%s", a, b, c, d);
    else memcpy(v[s->n], a, len);
    s->n++;
    return 0;
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Sort s and append each entry and '<' to out. -1 on a duplicate. */
static int strv_emit(strv *s, buf_t *out)
{
    sort_strs(s->v, s->n);
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0 && strcmp(s->v[i], s->v[i - 1]) == 0) return -1;
        if (buf_puts(out, s->v[i]) < 0 || buf_append(out, "<", 1) < 0) return -1;
    }
    return 0;
}

/* The text of a field's <value/> children. */
static int field_values(const xml_node *f, strv *vals)
{
    for (const xml_node *v = xml_child(f, "value", NS_XDATA); v; v = xml_child_next(f, v, "value", NS_XDATA)) {
        char *t = xml_text(v);
        int rc = t ? strv_add(vals, t, NULL, NULL, NULL) : -1;
        free(t);
        if (rc < 0) return -1;
    }
    return 0;
}

/* One XEP-0128 form as its part of the string: "FORM_TYPE<var<values<..."
 * into *out (owned). 0 done, 1 the form is ignored (no single hidden
 * FORM_TYPE), -1 error. */
static int form_string(const xml_node *x, char **out)
{
    char *form_type = NULL;
    int bad = 0;
    strv fields = {NULL, 0};
    for (const xml_node *f = xml_child(x, "field", NS_XDATA); f && !bad; f = xml_child_next(x, f, "field", NS_XDATA)) {
        const char *var = xml_attr_get(f, "var"), *type = xml_attr_get(f, "type");
        strv vals = {NULL, 0};
        if (!var) continue;
        if (field_values(f, &vals) < 0) {
            bad = -1;
        } else if (strcmp(var, "FORM_TYPE") == 0) {
            if (form_type || vals.n != 1 || (type && strcmp(type, "hidden") != 0)) bad = 1;
            else if (!(form_type = strdup(vals.v[0]))) bad = -1;
        } else {
            buf_t b = BUF_INIT;
            sort_strs(vals.v, vals.n);
            int rc = buf_puts(&b, var) < 0 || buf_append(&b, "<", 1) < 0 ? -1 : 0;
            for (size_t i = 0; rc == 0 && i < vals.n; i++)
                rc = buf_puts(&b, vals.v[i]) < 0 || buf_append(&b, "<", 1) < 0 ? -1 : 0;
            if (rc < 0 || strv_add(&fields, b.data, NULL, NULL, NULL) < 0) bad = -1;
            buf_free(&b);
        }
        strv_free(&vals);
    }
    int rc = bad < 0 ? -1 : 1;
    if (!bad && form_type) {
        buf_t b = BUF_INIT;
        sort_strs(fields.v, fields.n);
        rc = buf_puts(&b, form_type) < 0 || buf_append(&b, "<", 1) < 0 ? -1 : 0;
        for (size_t i = 0; rc == 0 && i < fields.n; i++) rc = buf_puts(&b, fields.v[i]) < 0 ? -1 : 0;
        *out = rc == 0 ? buf_steal(&b, NULL) : NULL;
        if (!*out) rc = -1;
        buf_free(&b);
    }
    strv_free(&fields);
    free(form_type);
    return rc;
}

/* The verification string of a disco#info <query/> into out. 0, or -1
 * when the result must not be cached (duplicates, a repeated FORM_TYPE). */
static int caps_string(const xml_node *q, buf_t *out)
{
    strv ids = {NULL, 0}, feats = {NULL, 0}, forms = {NULL, 0};
    int rc = 0;
    for (const xml_node *c = xml_child(q, NULL, NULL); c && rc == 0; c = xml_child_next(q, c, NULL, NULL)) {
        if (strcmp(c->ns, NS_DISCO_INFO) == 0 && strcmp(c->name, "identity") == 0) {
            const char *cat = xml_attr_get(c, "category"), *type = xml_attr_get(c, "type");
            const char *lang = xml_attr_get(c, "xml:lang"), *name = xml_attr_get(c, "name");
            rc = cat && type ? strv_add(&ids, cat, type, lang ? lang : "", name ? name : "") : -1;
        } else if (strcmp(c->ns, NS_DISCO_INFO) == 0 && strcmp(c->name, "feature") == 0) {
            const char *var = xml_attr_get(c, "var");
            rc = var ? strv_add(&feats, var, NULL, NULL, NULL) : -1;
        } else if (strcmp(c->ns, NS_XDATA) == 0 && strcmp(c->name, "x") == 0) {
            char *f = NULL;
            int r = form_string(c, &f);
            if (r == 0) rc = strv_add(&forms, f, NULL, NULL, NULL);
            else if (r < 0) rc = -1;
            free(f);
        }
    }
    /* forms sort by FORM_TYPE, which starts each string up to its '<' */
    if (rc == 0) rc = strv_emit(&ids, out);
    if (rc == 0) rc = strv_emit(&feats, out);
    if (rc == 0) {
        sort_strs(forms.v, forms.n);
        for (size_t i = 0; rc == 0 && i < forms.n; i++) {
            size_t a = strcspn(forms.v[i], "<");
            if (i > 0 && strncmp(forms.v[i], forms.v[i - 1], a) == 0 && forms.v[i - 1][a] == '<') rc = -1;
            else rc = buf_puts(out, forms.v[i]);
        }
    }
    strv_free(&ids);
    strv_free(&feats);
    strv_free(&forms);
    return rc;
}

/* base64(hash(s)) into out. 0/-1. */
static int caps_hash(const EVP_MD *md, const buf_t *s, char out[SM_CAPS_VER_MAX])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (!EVP_Digest(s->data ? s->data : "", s->len, d, &dlen, md, NULL)) return -1;
    EVP_EncodeBlock((unsigned char *)out, d, (int)dlen);
    return 0;
}

int sm_caps_ver(const xml_node *query, const char *hash, char out[SM_CAPS_VER_MAX])
{
    buf_t str = BUF_INIT;
    const EVP_MD *md = caps_md(hash);
    int rc = md && caps_string(query, &str) == 0 && caps_hash(md, &str, out) == 0 ? 0 : -1;
    buf_free(&str);
    return rc;
}

/* ---- asking ---- */

static void caps_ask(caps_query *q)
{
    sm_t *sm = q->sm;
    snprintf(q->id, sizeof q->id, CAPS_ID "%llu", ++caps_seq);
    xml_node *iq = xml_node_new("iq", NS_CLIENT);
    xml_node *qn = iq ? xml_add_child(iq, "query", NS_DISCO_INFO) : NULL;
    char node[2048];
    snprintf(node, sizeof node, "%s#%s", q->node, q->ver);
    jid_t to;
    if (!qn || xml_attr_set(qn, "node", node) < 0 || xml_attr_set(iq, "type", "get") < 0 ||
        xml_attr_set(iq, "id", q->id) < 0 || xml_attr_set(iq, "from", sm->domain) < 0 ||
        xml_attr_set(iq, "to", q->full) < 0 || jid_parse(q->full, &to) < 0 || hmap_put(&caps_pending, q->id, q) < 0) {
        xml_node_free(&iq);
        query_drop(q);
        return;
    }
    q->sent = loop_now(sm->loop);
    sm_route_inbound(sm, iq, &to);
    xml_node_free(&iq);
}

static void caps_on_redis(void *ud, const char *value, int ok)
{
    caps_query *q = ud;
    if (!ok) {               /* Redis went away: forget it, the next presence asks again */
        query_drop(q);
        return;
    }
    if (value) {
        caps_remember(q->key);
        query_drop(q);
        return;
    }
    caps_ask(q);
}

/* Drop queries nobody answered in time. */
static void caps_expire(sm_t *sm)
{
    size_t pos = 0;
    const char *key;
    void *v;
    uint64_t now = loop_now(sm->loop);
    caps_query *old[64];
    size_t n = 0;
    while (n < 64 && hmap_next(&caps_pending, &pos, &key, &v)) {
        caps_query *q = v;
        if (q->sent && now - q->sent > CAPS_QUERY_MS && strcmp(key, q->id) == 0) old[n++] = q;
    }
    for (size_t i = 0; i < n; i++) query_drop(old[i]);
}

static char *dup_s(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A broadcast available presence with caps from session s: remember
 * them on the session, and verify them unless known. */
static void caps_seen(sm_t *sm, sm_session *s, const xml_node *c)
{
    const char *hash = xml_attr_get(c, "hash"), *node = xml_attr_get(c, "node"), *ver = xml_attr_get(c, "ver");
    char key[1024];
    free(s->caps);
    s->caps = NULL;
    if (!hash || !node || !ver || !*ver || !caps_md(hash)) return;
    if ((size_t)snprintf(key, sizeof key, "%s %s", hash, ver) >= sizeof key) return;
    s->caps = strdup(key);
    if (hmap_get(&caps_known, key) || hmap_get(&caps_pending, key)) return;
    caps_expire(sm);
    if (caps_pending.count >= 2 * CAPS_MAX_PENDING) return;
    caps_query *q = calloc(1, sizeof *q);
    if (!q) return;
    q->sm = sm;
    q->key = strdup(key);
    q->hash = dup_s(hash);
    q->ver = dup_s(ver);
    q->node = dup_s(node);
    q->full = dup_s(s->full);
    if (!q->key || !q->hash || !q->ver || !q->node || !q->full || hmap_put(&caps_pending, q->key, q) < 0) {
        query_free(q);
        return;
    }
    char rkey[1100];
    snprintf(rkey, sizeof rkey, "caps:%s:%s", hash, ver);
    if (sm_redis_get(sm->redis, rkey, caps_on_redis, q) < 0) caps_ask(q);
}

/* The client's answer to one of our queries. */
static void caps_answer(sm_t *sm, const sm_session *s, const xml_node *iq, caps_query *q)
{
    const xml_node *res = xml_child(iq, "query", NS_DISCO_INFO);
    const char *type = xml_attr_get(iq, "type");
    if (strcmp(q->full, s->full) != 0) return;      /* not from the one we asked */
    buf_t str = BUF_INIT;
    char got[SM_CAPS_VER_MAX] = "";
    int valid = type && strcmp(type, "result") == 0 && res && caps_string(res, &str) == 0 &&
                caps_hash(caps_md(q->hash), &str, got) == 0;
    if (valid && strcmp(got, q->ver) == 0) {
        json_t *feats = json_array();
        for (const xml_node *f = xml_child(res, "feature", NS_DISCO_INFO); f;
             f = xml_child_next(res, f, "feature", NS_DISCO_INFO))
            if (xml_attr_get(f, "var")) json_array_append_new(feats, json_string(xml_attr_get(f, "var")));
        char *text = json_dumps(feats, JSON_COMPACT);
        char rkey[1100];
        snprintf(rkey, sizeof rkey, "caps:%s:%s", q->hash, q->ver);
        if (text) sm_redis_set(sm->redis, rkey, text, 0);
        free(text);
        json_decref(feats);
        caps_remember(q->key);
        log_info("caps %s %s of %s verified", q->hash, q->ver, q->full);
    } else {
        log_warn("caps %s %s announced by %s %s; not cached", q->hash, q->ver, q->full,
                 !valid ? "got no usable disco#info answer" : "does not match its disco#info (forged or wrong)");
    }
    buf_free(&str);
    query_drop(q);
}

static int caps_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (strcmp(st->name, "presence") == 0) {
        if (!to && !xml_attr_get(st, "type")) {
            const xml_node *c = xml_child(st, "c", NS_CAPS);
            if (c) caps_seen(sm, s, c);
            else {               /* a presence without caps drops the old ones */
                free(s->caps);
                s->caps = NULL;
            }
        }
        return SM_PASS;
    }
    const char *id = xml_attr_get(st, "id"), *type = xml_attr_get(st, "type");
    if (strcmp(st->name, "iq") != 0 || !id || strncmp(id, CAPS_ID, strlen(CAPS_ID)) != 0 || !type ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0) || (to && (jid_has_local(to) || strcmp(to->domain, sm->domain) != 0)))
        return SM_PASS;
    caps_query *q = hmap_get(&caps_pending, id);
    if (q && strcmp(q->id, id) == 0) caps_answer(sm, s, st, q);
    return SM_HANDLED;
}

/* Queries already asked are held only by the map; those still waiting
 * for Redis are freed by their callback when the connection closes. */
static void caps_fini(sm_t *sm)
{
    size_t pos = 0, n = 0;
    const char *key;
    void *v;
    caps_query **asked = calloc(caps_pending.count + 1, sizeof *asked);
    while (asked && hmap_next(&caps_pending, &pos, &key, &v)) {
        caps_query *q = v;
        if (q->sent && strcmp(key, q->key) == 0) asked[n++] = q;
    }
    for (size_t i = 0; i < n; i++) query_drop(asked[i]);
    free(asked);
    hmap_free(&caps_known);
}

const sm_module mod_caps = {
    .name = "caps",
    .out = caps_out,
    .fini = caps_fini,
};
