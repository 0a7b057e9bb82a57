/*
 * sm_redis.c - hiredis' async API on the project event loop (see
 * sm_redis.h).
 *
 * The adapter: hiredis asks for read/write interest through ac->ev
 * (addRead, delRead, addWrite, delWrite, cleanup); we keep the wanted
 * events in `events` and mirror them with loop_add_fd / loop_mod_fd /
 * loop_del_fd. The fd callback calls redisAsyncHandleRead/Write. hiredis
 * frees the context by itself when the connection fails; its cleanup hook
 * runs first, which is where `ac` is forgotten, so nothing here touches a
 * freed context.
 *
 * Once the connection is UP, a command does not arm EPOLLOUT: what
 * hiredis has buffered is written from a before-sleep hook, so all the
 * commands of one loop iteration leave in one write(2) without two
 * epoll_ctl calls and an extra wakeup around it. Only a write the socket
 * does not take whole falls back to waiting for EPOLLOUT.
 *
 * States: DOWN (no context, a retry timer pending) -> CONNECTING (TCP
 * connect in progress) -> HANDSHAKE (AUTH / SELECT in flight) -> UP. Any
 * failure goes back to DOWN through rd_down(), which logs once per outage
 * and schedules the next attempt. Every command counts in `pending` until
 * its reply (or its cancellation, a NULL reply) arrives; too many pending
 * replies means Redis stopped answering, and the connection is remade.
 */
#include "sm_redis.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "envelope.h"
#include "log.h"

#define RD_RETRY_MS 1000          /* between connection attempts */
#define RD_CONNECT_TIMEOUT_MS 3000 /* connect plus AUTH/SELECT */
#define RD_ALIVE_MS 1000          /* node:{id} refresh period */
#define RD_ALIVE_TTL 5            /* seconds */
#define RD_MAX_PENDING 1000000    /* replies outstanding before we give up */
#define RD_SCAN_COUNT 500         /* SCAN COUNT hint */
#define RD_SESS_PREFIX "sess:{"

typedef enum rd_state { RD_DOWN, RD_CONNECTING, RD_HANDSHAKE, RD_UP } rd_state;

struct sm_redis {
    loop_t *loop;
    const sm_redis_cb *cb;       /* owner's callbacks (borrowed) */
    void *ud;                    /* owner's argument */
    char node[ENV_NODE_MAX + 1]; /* for node:{id} */
    char *host;                  /* redis.host */
    int port;                    /* redis.port */
    char *password;              /* redis.password, NULL if unset */
    long long db;                /* redis.db */
    redisAsyncContext *ac;       /* NULL while down */
    int fd;                      /* fd registered in the loop, -1 if none */
    unsigned events;             /* LOOP_READ|LOOP_WRITE registered in the loop */
    int want_write;              /* UP, output buffered for the flush hook */
    rd_state state;
    int reported;                /* on_state was called at least once */
    int warned;                  /* this outage was logged */
    int closing;                 /* sm_redis_close is running */
    uint64_t retry_timer;
    uint64_t connect_timer;
    uint64_t alive_timer;
    uint64_t abort_timer;        /* frees an abandoned context */
    unsigned pending;            /* commands awaiting their reply */
    unsigned scan_deleted;       /* stale keys deleted by the current scan */
};

static void rd_connect(sm_redis *r);

/* ---- event loop adapter ---- */

static void rd_on_fd(loop_t *l, int fd, unsigned events, void *ud)
{
    sm_redis *r = ud;
    if (r->ac && (events & LOOP_READ)) redisAsyncHandleRead(r->ac);
    if (r->ac && (events & LOOP_WRITE)) redisAsyncHandleWrite(r->ac);
}

/* Make the loop registration match r->events. */
static void rd_apply(sm_redis *r)
{
    if (!r->ac) return;
    if (r->events == 0) {
        if (r->fd >= 0) loop_del_fd(r->loop, r->fd);
        r->fd = -1;
    } else if (r->fd < 0) {
        if (loop_add_fd(r->loop, r->ac->c.fd, r->events, rd_on_fd, r) == 0) r->fd = r->ac->c.fd;
        else log_error("redis: cannot watch fd %d", r->ac->c.fd);
    } else {
        loop_mod_fd(r->loop, r->fd, r->events);
    }
}

static void rd_add_read(void *p) { sm_redis *r = p; r->events |= LOOP_READ; rd_apply(r); }
static void rd_del_read(void *p) { sm_redis *r = p; r->events &= ~LOOP_READ; rd_apply(r); }

/* hiredis has output: while UP the flush hook writes it, else (connect,
 * handshake) wait for EPOLLOUT as usual. */
static void rd_add_write(void *p)
{
    sm_redis *r = p;
    if (r->state == RD_UP && !(r->events & LOOP_WRITE)) {
        r->want_write = 1;
        return;
    }
    r->events |= LOOP_WRITE;
    rd_apply(r);
}

static void rd_del_write(void *p)
{
    sm_redis *r = p;
    r->want_write = 0;
    if (!(r->events & LOOP_WRITE)) return;
    r->events &= ~(unsigned)LOOP_WRITE;
    rd_apply(r);
}

/* Before-sleep hook: write what the commands of this iteration buffered.
 * Registered after the bus's hook, so commands made for the envelopes it
 * drains go out in the same pass. If the socket takes only part, hiredis
 * asks for write again and EPOLLOUT takes over. */
static void rd_flush(loop_t *l, void *ud)
{
    sm_redis *r = ud;
    if (!r->want_write || !r->ac || r->state != RD_UP) return;
    r->want_write = 0;
    redisAsyncHandleWrite(r->ac);      /* may drop the connection: r->ac NULL */
    if (r->ac && r->want_write) {
        r->want_write = 0;
        r->events |= LOOP_WRITE;
        rd_apply(r);
    }
}

/* hiredis is about to free the context: forget it. */
static void rd_cleanup(void *p)
{
    sm_redis *r = p;
    if (r->fd >= 0) loop_del_fd(r->loop, r->fd);
    r->fd = -1;
    r->events = 0;
    r->want_write = 0;
    r->ac = NULL;
}

static void rd_attach(sm_redis *r, redisAsyncContext *ac)
{
    ac->data = r;
    ac->ev.data = r;
    ac->ev.addRead = rd_add_read;
    ac->ev.delRead = rd_del_read;
    ac->ev.addWrite = rd_add_write;
    ac->ev.delWrite = rd_del_write;
    ac->ev.cleanup = rd_cleanup;
    r->ac = ac;
    r->fd = -1;
    r->events = 0;
    r->want_write = 0;
}

/* ---- state changes ---- */

static void rd_retry(loop_t *l, uint64_t id, void *ud)
{
    sm_redis *r = ud;
    r->retry_timer = 0;
    rd_connect(r);
}

/* Tell the owner about a change of state (failures only once per outage,
 * except for the very first attempt). */
static void rd_report(sm_redis *r, int up)
{
    r->reported = 1;
    if (r->cb->on_state) r->cb->on_state(r->ud, up);
}

/* The connection is gone or never came up: log, tell the owner, schedule
 * the next attempt. Idempotent within one outage. Does not touch r->ac
 * (hiredis frees it, or the caller does). */
static void rd_down(sm_redis *r, const char *why)
{
    if (r->state == RD_DOWN) return;
    int was_up = r->state == RD_UP, first = !r->reported;
    r->state = RD_DOWN;
    loop_cancel_timer(r->loop, r->connect_timer);
    r->connect_timer = 0;
    if (r->closing) return;
    if (was_up)
        log_warn("redis: connection to %s:%d lost (%s); reconnecting", r->host, r->port, why);
    else if (!r->warned)
        log_warn("redis: cannot connect to %s:%d (%s); retrying every %d ms", r->host, r->port, why, RD_RETRY_MS);
    else
        log_debug("redis: still cannot connect to %s:%d (%s)", r->host, r->port, why);
    r->warned = 1;
    if (was_up || first) rd_report(r, 0);
    r->retry_timer = loop_add_timer(r->loop, RD_RETRY_MS, rd_retry, r);
}

static void rd_free_later(loop_t *l, uint64_t id, void *ud)
{
    sm_redis *r = ud;
    r->abort_timer = 0;
    if (r->ac && r->state == RD_DOWN) redisAsyncFree(r->ac);
}

/* Give up on the current context and go DOWN. The context is freed from a
 * timer, never here: this may run inside any hiredis callback (the connect
 * callback included, where freeing would pull the context from under
 * hiredis); until then commands are refused because the state is DOWN. */
static void rd_abort(sm_redis *r, const char *why)
{
    rd_down(r, why);
    if (r->ac && !r->abort_timer) r->abort_timer = loop_add_timer(r->loop, 0, rd_free_later, r);
}

/* Queue a command; 0, or -1 if it could not be queued. */
static int rd_cmd(sm_redis *r, redisCallbackFn *fn, void *priv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rd_cmd(sm_redis *r, redisCallbackFn *fn, void *priv, const char *fmt, ...)
{
    if (!r->ac || r->state == RD_DOWN || r->state == RD_CONNECTING) return -1;
    if (r->pending >= RD_MAX_PENDING) {
        log_error("redis: %u replies outstanding, dropping the connection", r->pending);
        rd_abort(r, "not answering");
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, fn, priv, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) return -1;
    r->pending++;
    return 0;
}

/* Reply to a write: only errors matter. */
static void rd_on_write(redisAsyncContext *ac, void *reply, void *priv)
{
    sm_redis *r = ac->data;
    redisReply *rep = reply;
    r->pending--;
    if (rep && rep->type == REDIS_REPLY_ERROR) log_warn("redis: command failed: %s", rep->str);
}

/* ---- liveness key ---- */

static void rd_alive(loop_t *l, uint64_t id, void *ud)
{
    sm_redis *r = ud;
    if (r->state == RD_UP)
        rd_cmd(r, rd_on_write, NULL, "SET node:{%s} %lld EX %d", r->node, (long long)time(NULL), RD_ALIVE_TTL);
    r->alive_timer = loop_add_timer(l, RD_ALIVE_MS, rd_alive, r);
}

/* ---- stale session keys ---- */

static int rd_scan(sm_redis *r, const char *cursor);

/* Delete key k (a SCAN result) if it is a stale session key. */
static void rd_scan_key(sm_redis *r, const redisReply *k)
{
    size_t plen = strlen(RD_SESS_PREFIX);
    if (k->type != REDIS_REPLY_STRING || (size_t)k->len <= plen + 1) return;
    if (memcmp(k->str, RD_SESS_PREFIX, plen) != 0 || k->str[k->len - 1] != '}') return;
    size_t n = (size_t)k->len - plen - 1;
    char *bare = strndup(k->str + plen, n);
    if (!bare) return;
    if (strlen(bare) == n && r->cb->is_stale && r->cb->is_stale(r->ud, bare) &&
        rd_cmd(r, rd_on_write, NULL, "DEL " RD_SESS_PREFIX "%s}", bare) == 0)
        r->scan_deleted++;
    free(bare);
}

static void rd_on_scan(redisAsyncContext *ac, void *reply, void *priv)
{
    sm_redis *r = ac->data;
    redisReply *rep = reply;
    r->pending--;
    if (!rep || r->state != RD_UP) return;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
        log_warn("redis: unexpected SCAN reply%s%s", rep->type == REDIS_REPLY_ERROR ? ": " : "",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "");
        return;
    }
    for (size_t i = 0; i < rep->element[1]->elements; i++) rd_scan_key(r, rep->element[1]->element[i]);
    if (strcmp(rep->element[0]->str, "0") != 0) {
        rd_scan(r, rep->element[0]->str);
    } else if (r->scan_deleted) {
        log_info("redis: deleted %u stale session keys", r->scan_deleted);
    }
}

static int rd_scan(sm_redis *r, const char *cursor)
{
    return rd_cmd(r, rd_on_scan, NULL, "SCAN %s MATCH " RD_SESS_PREFIX "* COUNT %d", cursor, RD_SCAN_COUNT);
}

/* ---- connection ---- */

static void rd_up(sm_redis *r)
{
    r->state = RD_UP;
    loop_cancel_timer(r->loop, r->connect_timer);
    r->connect_timer = 0;
    r->warned = 0;
    log_info("redis: connected to %s:%d", r->host, r->port);
    rd_report(r, 1);
    if (r->state != RD_UP) return;
    rd_cmd(r, rd_on_write, NULL, "SET node:{%s} %lld EX %d", r->node, (long long)time(NULL), RD_ALIVE_TTL);
    r->scan_deleted = 0;
    rd_scan(r, "0");
}

static void rd_on_handshake(redisAsyncContext *ac, void *reply, void *priv);

/* Send the handshake command of `step` or a later one (0 AUTH, 1 SELECT);
 * past the last, the connection is up. */
static void rd_handshake(sm_redis *r, int step)
{
    if (step <= 0 && r->password) {
        if (rd_cmd(r, rd_on_handshake, (void *)(intptr_t)1, "AUTH %s", r->password) < 0)
            rd_abort(r, "cannot send AUTH");
        return;
    }
    if (step <= 1 && r->db != 0) {
        if (rd_cmd(r, rd_on_handshake, (void *)(intptr_t)2, "SELECT %lld", r->db) < 0)
            rd_abort(r, "cannot send SELECT");
        return;
    }
    rd_up(r);
}

static void rd_on_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    sm_redis *r = ac->data;
    redisReply *rep = reply;
    int next = (int)(intptr_t)priv;
    r->pending--;
    if (!rep || r->state != RD_HANDSHAKE) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        log_msg(r->warned ? LOG_DEBUG : LOG_ERROR, 0, "redis: %s refused: %s", next == 1 ? "AUTH" : "SELECT",
                rep->str);
        rd_abort(r, next == 1 ? "AUTH refused" : "SELECT refused");
        return;
    }
    rd_handshake(r, next);
}

static void rd_on_connect(const redisAsyncContext *ac, int status)
{
    sm_redis *r = ac->data;
    if (status != REDIS_OK) {
        rd_down(r, ac->c.err ? ac->c.errstr : "connect failed");
        return;   /* hiredis frees the context after this returns */
    }
    r->state = RD_HANDSHAKE;
    rd_handshake(r, 0);
}

static void rd_on_disconnect(const redisAsyncContext *ac, int status)
{
    sm_redis *r = ac->data;
    rd_down(r, ac->c.err ? ac->c.errstr : "closed");
}

static void rd_connect_timeout(loop_t *l, uint64_t id, void *ud)
{
    sm_redis *r = ud;
    r->connect_timer = 0;
    if (r->state == RD_CONNECTING || r->state == RD_HANDSHAKE) rd_abort(r, "timed out");
}

static void rd_connect(sm_redis *r)
{
    if (r->closing) return;
    if (r->ac) {   /* an abandoned context is still being freed */
        r->retry_timer = loop_add_timer(r->loop, RD_RETRY_MS, rd_retry, r);
        return;
    }
    r->state = RD_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        rd_down(r, ac ? ac->c.errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return;
    }
    rd_attach(r, ac);
    redisAsyncSetConnectCallback(ac, rd_on_connect);   /* after attach: it asks for write */
    redisAsyncSetDisconnectCallback(ac, rd_on_disconnect);
    r->connect_timer = loop_add_timer(r->loop, RD_CONNECT_TIMEOUT_MS, rd_connect_timeout, r);
}

/* redis.password as a string (YAML may have typed it as a number). */
static char *rd_config_password(const config_t *cfg)
{
    json_t *v = config_get(cfg, "redis.password");
    char num[32];
    if (json_is_string(v)) return json_string_length(v) ? strdup(json_string_value(v)) : NULL;
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return strdup(num);
    }
    return NULL;
}

sm_redis *sm_redis_open(loop_t *l, const config_t *cfg, const char *node_id,
                        const sm_redis_cb *cb, void *ud)
{
    sm_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->loop = l;
    r->cb = cb;
    r->ud = ud;
    r->fd = -1;
    r->state = RD_DOWN;
    snprintf(r->node, sizeof r->node, "%s", node_id);
    r->host = strdup(config_str(cfg, "redis.host", "127.0.0.1"));
    r->port = (int)config_int(cfg, "redis.port", 6379);
    r->password = rd_config_password(cfg);
    r->db = config_int(cfg, "redis.db", 0);
    if (!r->host) {
        free(r);
        return NULL;
    }
    if (loop_add_hook(l, rd_flush, r) < 0) {
        free(r->host);
        free(r->password);
        free(r);
        return NULL;
    }
    r->alive_timer = loop_add_timer(l, RD_ALIVE_MS, rd_alive, r);
    rd_connect(r);
    return r;
}

void sm_redis_close(sm_redis **rp)
{
    if (!rp || !*rp) return;
    sm_redis *r = *rp;
    r->closing = 1;
    loop_del_hook(r->loop, rd_flush, r);
    loop_cancel_timer(r->loop, r->retry_timer);
    loop_cancel_timer(r->loop, r->connect_timer);
    loop_cancel_timer(r->loop, r->alive_timer);
    loop_cancel_timer(r->loop, r->abort_timer);
    r->state = RD_DOWN;
    if (r->ac) redisAsyncFree(r->ac);
    free(r->host);
    free(r->password);
    free(r);
    *rp = NULL;
}

int sm_redis_up(const sm_redis *r)
{
    return r && r->state == RD_UP;
}

/* ---- session keys ---- */

int sm_redis_sess_set(sm_redis *r, const char *bare, const char *resource, const char *value)
{
    if (!sm_redis_up(r)) return -1;
    return rd_cmd(r, rd_on_write, NULL, "HSET " RD_SESS_PREFIX "%s} %s %s", bare, resource, value);
}

int sm_redis_sess_del(sm_redis *r, const char *bare, const char *resource)
{
    if (!sm_redis_up(r)) return -1;
    return rd_cmd(r, rd_on_write, NULL, "HDEL " RD_SESS_PREFIX "%s} %s", bare, resource);
}

int sm_redis_sess_clear(sm_redis *r, const char *bare)
{
    if (!sm_redis_up(r)) return -1;
    return rd_cmd(r, rd_on_write, NULL, "DEL " RD_SESS_PREFIX "%s}", bare);
}

/* ---- plain keys ---- */

typedef struct rd_get {
    sm_redis_get_cb cb;
    void *ud;
} rd_get;

static void rd_on_get(redisAsyncContext *ac, void *reply, void *priv)
{
    sm_redis *r = ac->data;
    redisReply *rep = reply;
    rd_get *g = priv;
    r->pending--;
    int ok = rep && (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_NIL);
    g->cb(g->ud, ok && rep->type == REDIS_REPLY_STRING ? rep->str : NULL, ok);
    free(g);
}

int sm_redis_get(sm_redis *r, const char *key, sm_redis_get_cb cb, void *ud)
{
    rd_get *g = sm_redis_up(r) ? malloc(sizeof *g) : NULL;
    if (!g) return -1;
    g->cb = cb;
    g->ud = ud;
    if (rd_cmd(r, rd_on_get, g, "GET %s", key) == 0) return 0;
    free(g);
    return -1;
}

int sm_redis_set(sm_redis *r, const char *key, const char *value, int ttl)
{
    if (!sm_redis_up(r)) return -1;
    if (ttl > 0) return rd_cmd(r, rd_on_write, NULL, "SET %s %s EX %d", key, value, ttl);
    return rd_cmd(r, rd_on_write, NULL, "SET %s %s", key, value);
}
