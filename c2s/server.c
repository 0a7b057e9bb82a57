/*
 * server.c - c2s process state: the bus link and its dispatch, the table
 * of connections by id, and the before-sleep flush of queued output.
 *
 * Connection ids are (generation << 32 | table index): a late envelope
 * for a connection that closed never reaches the connection that reused
 * its slot.
 */
#include "c2s.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <jansson.h>

#include "log.h"
#include "stanza.h"

#define C2S_DEFAULT_MAX_OUT (4u << 20)

int c2s_conn_register(c2s_t *s, conn_t *c)
{
    if (s->nfree == 0) {
        uint32_t n = s->nconns_cap ? s->nconns_cap * 2 : 1024;
        conn_t **cs = realloc(s->conns, n * sizeof *cs);
        if (!cs) return -1;
        s->conns = cs;
        uint32_t *g = realloc(s->gens, n * sizeof *g);
        if (!g) return -1;
        s->gens = g;
        uint32_t *f = realloc(s->free_idx, n * sizeof *f);
        if (!f) return -1;
        s->free_idx = f;
        for (uint32_t i = n; i > s->nconns_cap; i--) {
            s->conns[i - 1] = NULL;
            s->gens[i - 1] = 1;
            s->free_idx[s->nfree++] = i - 1;
        }
        s->nconns_cap = n;
    }
    uint32_t idx = s->free_idx[--s->nfree];
    s->conns[idx] = c;
    c->id = ((uint64_t)s->gens[idx] << 32) | idx;
    s->nconns++;
    return 0;
}

void c2s_conn_unregister(c2s_t *s, conn_t *c)
{
    uint32_t idx = (uint32_t)c->id;
    if (idx >= s->nconns_cap || s->conns[idx] != c) return;
    s->conns[idx] = NULL;
    s->gens[idx]++;
    s->free_idx[s->nfree++] = idx;
    s->nconns--;
}

conn_t *c2s_conn_find(c2s_t *s, uint64_t id)
{
    uint32_t idx = (uint32_t)id;
    if (idx >= s->nconns_cap || s->gens[idx] != (uint32_t)(id >> 32)) return NULL;
    return s->conns[idx];
}

void c2s_mark_dirty(c2s_t *s, conn_t *c)
{
    if (c->dirty) return;
    c->dirty = 1;
    c->next_dirty = s->dirty_head;
    s->dirty_head = c;
}

/* Before sleeping, write what every connection has queued. */
static void c2s_flush_hook(loop_t *l, void *ud)
{
    c2s_t *s = ud;
    while (s->dirty_head) {
        conn_t *c = s->dirty_head;
        s->dirty_head = c->next_dirty;
        c->dirty = 0;
        c->next_dirty = NULL;
        if (c->state == CONN_CLOSED) {
            conn_free(c);
            continue;
        }
        if (conn_flush(c) < 0) {
            conn_destroy(c, "write failed");
            continue;
        }
        if (c->state == CONN_CLOSING && buf_pending(&c->out) == 0) conn_destroy(c, "closed");
    }
}

/* sm asks us to close a connection with a stream error. */
static void c2s_on_kick(c2s_t *s, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = c2s_conn_find(s, h->conn);
    if (!c) return;
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *cond = json_string_value(json_object_get(j, "condition"));
    log_info("session kicked jid=%s conn=%llu condition=%s", conn_name(c), (unsigned long long)c->id,
             cond ? cond : "conflict");
    c->bound = 0; /* the sm already dropped this session */
    stream_error(c, cond ? cond : "conflict", NULL);
    json_decref(j);
}

/* A stanza for one of our connections: write it as it is. */
static void c2s_on_deliver(c2s_t *s, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = c2s_conn_find(s, h->conn);
    if (c && !c->bound && c->bind_iq && c->state == CONN_OPEN) {
        /* The sm bound the session and a stanza for it overtook the bind
         * answer on another router: keep it until the answer is written. */
        if (buf_pending(&c->early) + len > s->max_out || buf_append(&c->early, body, len) < 0)
            conn_destroy(c, "output buffer full");
        return;
    }
    if (!c || !c->bound || c->state != CONN_OPEN) {
        env_hdr r = {0};
        r.type = ENV_UNROUTABLE;
        r.flags = ENV_STANZA_DELIVER;
        r.conn = h->conn;
        r.trace = h->trace;
        if (env_set_dest_node(&r, h->src) == 0) bus_send(s->bus, &r, body, len);
        return;
    }
    s->stanzas_out++;
    conn_write(c, body, len);
}

/* The router could not reach the sm for a client stanza: tell the client
 * instead of dropping it silently. */
static void c2s_on_unroutable(c2s_t *s, const env_hdr *h, const char *body, size_t len)
{
    conn_t *c = c2s_conn_find(s, h->conn);
    log_warn("%s for conn %llu was unroutable", env_type_name(h->flags), (unsigned long long)h->conn);
    if (!c || h->flags != ENV_STANZA_OUT || c->state != CONN_OPEN) return;
    xml_node *st = xml_parse_document(body, len);
    if (st && !stanza_is_error_or_result(st)) {
        xml_node *e = stanza_error_reply(st, "internal-server-error", "session manager unavailable");
        if (e) {
            xml_attr_del(e, "from");
            conn_write_node(c, e);
        }
        xml_node_free(&e);
    }
    xml_node_free(&st);
}

static void c2s_on_bus(void *ud, const env_hdr *h, const char *body, size_t len)
{
    c2s_t *s = ud;
    switch (h->type) {
    case ENV_STANZA_DELIVER: c2s_on_deliver(s, h, body, len); break;
    case ENV_KICK: c2s_on_kick(s, h, body, len); break;
    case ENV_UNROUTABLE: c2s_on_unroutable(s, h, body, len); break;
    default:
        log_warn("unexpected %s from %s", env_type_name(h->type), h->src);
        break;
    }
}

static void c2s_load_limits(c2s_t *s)
{
    xml_limits_default(&s->limits);
    s->limits.max_stanza = (size_t)config_int(s->cfg, "c2s.max_stanza_size", (long long)s->limits.max_stanza);
    s->limits.max_depth = (unsigned)config_int(s->cfg, "c2s.max_depth", s->limits.max_depth);
    s->limits.max_attrs = (unsigned)config_int(s->cfg, "c2s.max_attrs", s->limits.max_attrs);
    s->limits.max_buffer = (size_t)config_int(s->cfg, "c2s.max_buffer", (long long)s->limits.max_buffer);
    s->auth_timeout_ms = (unsigned)config_int(s->cfg, "c2s.auth_timeout", 30) * 1000u;
    long long pi = config_int(s->cfg, "c2s.ping_interval", 300), pt = config_int(s->cfg, "c2s.ping_timeout", 60);
    s->ping_interval = pi > 0 && pi < 86400 ? (unsigned)pi : 0;
    s->ping_timeout = pt > 0 && pt < 86400 ? (unsigned)pt : 60;
    s->max_auth_failures = (int)config_int(s->cfg, "c2s.max_auth_failures", 3);
    s->max_out = (size_t)config_int(s->cfg, "c2s.max_output_buffer", C2S_DEFAULT_MAX_OUT);
    s->require_tls = config_bool(s->cfg, "c2s.require_tls", 1);
}

/* Every client is a file descriptor, and the soft limit is often 1024
 * while the hard one allows far more: take all we may. */
static void c2s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn("cannot raise the open file limit from %llu to %llu: %s", (unsigned long long)was,
                     (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = was;
        }
    }
    log_info("open file limit %llu (connections per c2s process are bounded by it)",
             (unsigned long long)rl.rlim_cur);
}

static void c2s_shutdown(c2s_t *s)
{
    listener_close(s);
    for (uint32_t i = 0; i < s->nconns_cap; i++) {
        conn_t *c = s->conns[i];
        if (!c) continue;
        if (c->state == CONN_OPEN || c->state == CONN_HEADER) {
            stream_error(c, "system-shutdown", NULL);
            conn_flush(c);
        }
        conn_destroy(c, "shutdown");
    }
    c2s_flush_hook(s->loop, s);
}

int c2s_run(const config_t *cfg, loop_t *loop, const char *node_id)
{
    c2s_t *s = calloc(1, sizeof *s);
    s->cfg = cfg;
    s->loop = loop;
    s->node = node_id;
    s->listen_fd = -1;
    c2s_load_limits(s);
    c2s_raise_nofile();
    int rc = -1;
    if (jid_nameprep(config_str(cfg, "domain", "localhost"), s->domain_buf) < 0) {
        log_error("config: 'domain' is not a valid domain name");
        goto out;
    }
    s->domain = s->domain_buf;
    s->tls_ctx = tls_server_ctx(cfg, &s->tls_takeover);
    if (!s->tls_ctx) goto out;
    s->bus = bus_open(loop, cfg, node_id, c2s_on_bus, s);
    if (!s->bus) goto out;
    if (loop_add_hook(loop, c2s_flush_hook, s) < 0 || listener_open(s) < 0 || conn_sweep_start(s) < 0) goto out;
    log_info("ready");
    rc = loop_run(loop);
    c2s_shutdown(s);
out:
    conn_sweep_stop(s);
    loop_del_hook(loop, c2s_flush_hook, s);
    listener_close(s);
    bus_close(&s->bus);
    if (s->tls_ctx) SSL_CTX_free(s->tls_ctx);
    free(s->caps);
    free(s->conns);
    free(s->gens);
    free(s->free_idx);
    free(s);
    return rc;
}
