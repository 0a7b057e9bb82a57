/*
 * bus.c - a node's ZeroMQ links to every router (see bus.h).
 *
 * One DEALER socket per router, routing id = node id, and the direct links
 * of bus_direct.c: an envelope for a node that has a direct link goes
 * there, everything else (and whatever a direct link refuses) through the
 * router picked for its destination. Envelopes are not
 * sent one by one: bus_send appends a record to the chosen router's batch,
 * and a late before-sleep hook sends each non-empty batch as one ZeroMQ
 * message, so a loop iteration that produced a hundred envelopes costs one
 * message and one I/O-thread wake-up per router instead of a hundred
 * (envelope.h has the record layout). A batch past BUS_BATCH_FLUSH is sent
 * at once; one that ZeroMQ cannot take (its high-water mark) is kept and
 * retried, and bus_send refuses new envelopes for a router whose backlog
 * passed BUS_BACKLOG_MAX.
 *
 * ZeroMQ's socket fd is edge-triggered and only says "look at
 * ZMQ_EVENTS", so input is drained both when the fd fires and in a
 * before-sleep hook, and after the late flush (a send can consume the
 * edge) the loop is told not to block if input is waiting. Liveness:
 * REGISTER on connect, HEARTBEAT every second (every 100 ms until the
 * first answer); a router that has not answered for BUS_DEAD_MS is
 * skipped when choosing a path.
 *
 * Parked requests live in a slab indexed by the low 20 bits of the request
 * id; the high bits are a generation so a late reply never matches a
 * reused slot. Timeouts are swept every 100 ms.
 */
#include "bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "bus_direct.h"
#include "log.h"
#include "slot.h"
#include "zbatch.h"

#define BUS_HEARTBEAT_MS 1000
#define BUS_FAST_HEARTBEAT_MS 100
#define BUS_DEAD_MS 3000
#define BUS_SWEEP_MS 100
#define BUS_REQ_IDX_BITS 20
#define BUS_REQ_IDX_MASK ((1u << BUS_REQ_IDX_BITS) - 1)
#define BUS_BATCH_FLUSH (256u << 10)    /* send a batch at once past this */
#define BUS_DRAIN_MAX 4096              /* messages taken per router per drain */
#define BUS_BACKLOG_MAX (64u << 20)     /* refuse envelopes past this */

typedef struct bus_router {
    char id[ENV_NODE_MAX + 1];   /* router node id */
    void *sock;                  /* DEALER socket */
    int fd;                      /* ZMQ_FD */
    uint64_t last_ack;           /* loop_now() of the last HEARTBEAT_ACK, 0 = never */
    buf_t out;                   /* batch not yet handed to ZeroMQ */
    int touched;                 /* fd fired or we sent: ZMQ_EVENTS may have changed */
} bus_router;

typedef struct bus_pending {
    uint32_t req;                /* full request id, 0 when the slot is free */
    uint64_t deadline;           /* loop_now() milliseconds */
    bus_reply_cb cb;
    void *ud;
    uint32_t next_free;          /* free list link */
} bus_pending;

struct bus {
    loop_t *loop;
    void *zctx;
    char node[ENV_NODE_MAX + 1];
    bus_router *routers;
    int nrouters;
    bus_msg_cb cb;
    void *ud;
    uint64_t hb_timer;
    uint64_t sweep_timer;
    bus_pending *pending;
    uint32_t npending_cap;
    uint32_t free_head;          /* index + 1 of the first free slot, 0 = none */
    uint32_t gen;
    uint32_t inflight;
    uint64_t dropped;            /* malformed or unsendable envelopes */
    uint64_t batches, records;   /* sent to routers: ZeroMQ messages, envelopes */
    bus_direct *direct;
    const char *slot_node[SLOT_COUNT];   /* sm shard per slot (config strings) */
};

static void bus_drain(bus_t *b);

static int bus_router_live(const bus_t *b, const bus_router *r)
{
    return r->last_ack != 0 && loop_now(b->loop) - r->last_ack < BUS_DEAD_MS;
}

int bus_live_routers(const bus_t *b)
{
    int n = 0;
    for (int i = 0; i < b->nrouters; i++) n += bus_router_live(b, &b->routers[i]);
    return n;
}

const char *bus_node_id(const bus_t *b)
{
    return b->node;
}

/* Hand r's batch to ZeroMQ. 0 when it went (or there was none), -1 when
 * ZeroMQ would not take it now (kept for the next try). */
static int bus_flush_one(bus_t *b, bus_router *r)
{
    if (r->out.len == 0) return 0;
    r->touched = 1;
    if (zmq_send(r->sock, r->out.data, r->out.len, ZMQ_DONTWAIT) < 0) return -1;
    b->batches++;
    zbatch_sent(&r->out);
    return 0;
}

/* Queue header and body on router r. 0/-1. */
static int bus_send_on(bus_t *b, bus_router *r, env_hdr *h, const void *body, size_t len)
{
    memcpy(h->src, b->node, sizeof h->src);
    h->body_hint = len > 65535 ? 65535 : (uint16_t)len;
    if (r->out.len > BUS_BACKLOG_MAX) return -1;
    if (env_batch_add(&r->out, h, body, len) < 0) {
        log_error("bus: cannot encode %s envelope to %s", env_type_name(h->type), h->dest);
        return -1;
    }
    b->records++;
    if (r->out.len >= BUS_BATCH_FLUSH) bus_flush_one(b, r);
    return 0;
}

/* The router for a destination: a stable hash picks a start, then the
 * first live router from there. NULL if none is live. */
static bus_router *bus_pick(bus_t *b, const env_hdr *h)
{
    uint32_t key;
    if (h->dest_kind == ENV_DEST_SLOT) {
        key = h->slot;
    } else {
        key = slot_fnv1a(h->dest, strlen(h->dest));
        key ^= (uint32_t)(h->conn * 2654435761u);
    }
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[(key + (uint32_t)i) % (uint32_t)b->nrouters];
        if (bus_router_live(b, r)) return r;
    }
    return NULL;
}

int bus_send(bus_t *b, env_hdr *h, const void *body, size_t len)
{
    memcpy(h->src, b->node, sizeof h->src);
    h->body_hint = len > 65535 ? 65535 : (uint16_t)len;
    const char *node = h->dest_kind == ENV_DEST_SLOT ? b->slot_node[h->slot] : h->dest;
    if (node && bus_direct_add(b->direct, node, h, body, len) == 0) return 0;
    bus_router *r = bus_pick(b, h);
    if (!r || bus_send_on(b, r, h, body, len) < 0) {
        b->dropped++;
        log_warn("bus: no router took %s envelope to %s%s (slot %u)", env_type_name(h->type),
                 h->dest_kind == ENV_DEST_NODE ? h->dest : "", h->dest_kind == ENV_DEST_NODE ? "" : "slot",
                 h->slot);
        return -1;
    }
    return 0;
}

int bus_reply(bus_t *b, const env_hdr *req_hdr, unsigned type, uint16_t flags,
              const void *body, size_t len)
{
    env_hdr h = {0};
    h.type = (uint8_t)type;
    h.flags = flags;
    h.conn = req_hdr->conn;
    h.trace = req_hdr->trace;
    h.req = req_hdr->req;
    if (env_set_dest_node(&h, req_hdr->src) < 0) return -1;
    /* Answer through the router the request came from: it is known to
     * reach the requester even before that node's other links are up. */
    if (req_hdr->via >= 0 && req_hdr->via < b->nrouters &&
        bus_send_on(b, &b->routers[req_hdr->via], &h, body, len) == 0)
        return 0;
    return bus_send(b, &h, body, len);
}

static bus_pending *bus_pending_alloc(bus_t *b)
{
    if (b->free_head == 0) {
        uint32_t n = b->npending_cap ? b->npending_cap * 2 : 64;
        if (n > BUS_REQ_IDX_MASK) return NULL;
        bus_pending *p = realloc(b->pending, n * sizeof *p);
        if (!p) return NULL;
        for (uint32_t i = b->npending_cap; i < n; i++)
            p[i] = (bus_pending){0, 0, NULL, NULL, i + 1 < n ? i + 2 : 0};
        b->free_head = b->npending_cap + 1;
        b->pending = p;
        b->npending_cap = n;
    }
    uint32_t idx = b->free_head - 1;
    bus_pending *p = &b->pending[idx];
    b->free_head = p->next_free;
    b->gen = (b->gen + 1) & 0xfff;
    if (b->gen == 0) b->gen = 1;
    p->req = (b->gen << BUS_REQ_IDX_BITS) | idx;
    b->inflight++;
    return p;
}

static void bus_pending_release(bus_t *b, bus_pending *p)
{
    uint32_t idx = (uint32_t)(p - b->pending);
    p->req = 0;
    p->cb = NULL;
    p->next_free = b->free_head;
    b->free_head = idx + 1;
    b->inflight--;
}

static bus_pending *bus_pending_find(bus_t *b, uint32_t req)
{
    uint32_t idx = req & BUS_REQ_IDX_MASK;
    if (req == 0 || idx >= b->npending_cap || b->pending[idx].req != req) return NULL;
    return &b->pending[idx];
}

int bus_request(bus_t *b, env_hdr *h, const void *body, size_t len,
                unsigned timeout_ms, bus_reply_cb cb, void *ud)
{
    bus_pending *p = bus_pending_alloc(b);
    if (!p) return -1;
    p->cb = cb;
    p->ud = ud;
    p->deadline = loop_now(b->loop) + timeout_ms;
    h->req = p->req;
    if (bus_send(b, h, body, len) < 0) {
        bus_pending_release(b, p);
        return -1;
    }
    return 0;
}

void bus_cancel(bus_t *b, uint32_t req)
{
    bus_pending *p = bus_pending_find(b, req);
    if (p) bus_pending_release(b, p);
}

static void bus_sweep(loop_t *l, uint64_t id, void *ud)
{
    bus_t *b = ud;
    uint64_t now = loop_now(l);
    for (uint32_t i = 0; i < b->npending_cap && b->inflight; i++) {
        bus_pending *p = &b->pending[i];
        if (p->req && p->deadline <= now) {
            bus_reply_cb cb = p->cb;
            void *cud = p->ud;
            bus_pending_release(b, p);
            cb(cud, NULL, NULL, 0);
        }
    }
    b->sweep_timer = loop_add_timer(l, BUS_SWEEP_MS, bus_sweep, b);
}

static void bus_heartbeat(loop_t *l, uint64_t id, void *ud)
{
    bus_t *b = ud;
    int all_live = 1;
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[i];
        env_hdr h = {0};
        h.type = r->last_ack ? ENV_HEARTBEAT : ENV_REGISTER;
        env_set_dest_node(&h, r->id);
        bus_send_on(b, r, &h, "", 0);
        if (!bus_router_live(b, r)) all_live = 0;
    }
    b->hb_timer = loop_add_timer(l, all_live ? BUS_HEARTBEAT_MS : BUS_FAST_HEARTBEAT_MS, bus_heartbeat, b);
}

static int is_reply_type(unsigned t)
{
    return t == ENV_BIND_RESP || t == ENV_STORAGE_RESP || t == ENV_UNROUTABLE;
}

/* bus_direct_reroute: a record a direct link refused goes by router. */
static void bus_reroute(void *ud, const env_rec *rec)
{
    bus_t *b = ud;
    env_hdr h;
    if (env_decode(rec->hdr, ENV_HDR_LEN, &h) < 0) {
        b->dropped++;
        return;
    }
    bus_router *r = bus_pick(b, &h);
    if (!r || r->out.len > BUS_BACKLOG_MAX || buf_append(&r->out, rec->raw, rec->raw_len) < 0) {
        b->dropped++;
        log_warn("bus: no live router took %s envelope to %s (slot %u) after its path failed",
                 env_type_name(h.type), h.dest, h.slot);
    }
}

static void bus_handle(bus_t *b, env_hdr *h, const env_rec *rec);

/* bus_direct_rx: an envelope that came over a direct link. */
static void bus_direct_in(void *ud, const env_rec *rec, env_hdr *h)
{
    h->via = -1;
    bus_handle(ud, h, rec);
}

/* Handle one received envelope from router index ri. */
static void bus_dispatch(bus_t *b, int ri, const env_rec *rec)
{
    env_hdr h;
    if (env_decode(rec->hdr, ENV_HDR_LEN, &h) < 0) {
        b->dropped++;
        log_warn("bus: dropped malformed envelope from %s", b->routers[ri].id);
        return;
    }
    h.via = ri;
    bus_handle(b, &h, rec);
}

/* Replies to parked requests, heartbeat answers, then the node's callback. */
static void bus_handle(bus_t *b, env_hdr *hp, const env_rec *rec)
{
    env_hdr h = *hp;
    int ri = h.via;
    if (h.type == ENV_HEARTBEAT_ACK) {
        if (ri < 0) return;
        if (!b->routers[ri].last_ack) log_info("router %s is up", b->routers[ri].id);
        b->routers[ri].last_ack = loop_now(b->loop);
        return;
    }
    if (h.req && is_reply_type(h.type)) {
        bus_pending *p = bus_pending_find(b, h.req);
        if (p) {
            bus_reply_cb cb = p->cb;
            void *cud = p->ud;
            bus_pending_release(b, p);
            cb(cud, &h, rec->body, rec->len);
            return;
        }
        if (h.type != ENV_UNROUTABLE) {
            log_debug("bus: late reply %s req=%u dropped", env_type_name(h.type), h.req);
            return;
        }
    }
    b->cb(b->ud, &h, rec->body, rec->len);
}

/* Receive everything queued on router ri. Returns the messages taken. */
static int bus_drain_one(bus_t *b, int ri)
{
    void *sock = b->routers[ri].sock;
    int n = 0, rc;
    zmq_msg_t m;
    for (; n < BUS_DRAIN_MAX && (rc = zbatch_recv(sock, NULL, &m)) != 0; n++) {
        if (rc < 0) {                   /* not a batch: dropped */
            b->dropped++;
            continue;
        }
        size_t off = 0;
        env_rec rec;
        while ((rc = env_batch_next(zmq_msg_data(&m), zmq_msg_size(&m), &off, &rec)) == 1)
            bus_dispatch(b, ri, &rec);
        if (rc < 0) {
            b->dropped++;
            log_warn("bus: dropped the truncated rest of a batch from %s", b->routers[ri].id);
        }
        zmq_msg_close(&m);
    }
    return n;
}

/* Drain the router links that may have input (a receive that comes back
 * empty leaves the fd armed again), then the direct links. */
static void bus_drain(bus_t *b)
{
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[i];
        if (!r->touched) continue;
        if (bus_drain_one(b, i) < BUS_DRAIN_MAX) r->touched = 0;
        else loop_wake(b->loop);              /* more next iteration */
    }
    bus_direct_drain(b->direct);
}

/* A registration or heartbeat addressed to router r itself: it stays on
 * r's link whatever r's state (it is how r comes back). */
static int bus_for_router(const bus_router *r, const env_rec *rec)
{
    env_hdr h;
    return env_decode(rec->hdr, ENV_HDR_LEN, &h) == 0 && h.dest_kind == ENV_DEST_NODE &&
           strcmp(h.dest, r->id) == 0;
}

/* Send every batch. The batch of a router that stopped answering goes to
 * the live ones record by record (bus_pick skips the dead), but for its
 * own registrations and heartbeats; a live router
 * that refuses (its high-water mark, or a connection that just broke)
 * keeps its batch for the next pass, which comes with the next event or
 * heartbeat rather than at once, so a dead path never spins the loop. */
static void bus_flush(bus_t *b)
{
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[i];
        if (r->out.len == 0 || bus_router_live(b, r)) continue;
        size_t len, off = 0;
        char *data = buf_steal(&r->out, &len);
        env_rec rec, last = {0};
        while (env_batch_next(data, len, &off, &rec) == 1) {
            if (bus_for_router(r, &rec)) last = rec;   /* only the newest is worth keeping */
            else bus_reroute(b, &rec);
        }
        if (last.raw) buf_append(&r->out, last.raw, last.raw_len);
        free(data);
    }
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[i];
        if (bus_flush_one(b, r) < 0 && errno != EAGAIN)
            log_warn("bus: cannot send to %s: %s", r->id, zmq_strerror(errno));
    }
}

/* Late hook: flush what this iteration produced. A send may have taken
 * the fd's edge for input that is already waiting: then the loop must not
 * block. */
static void bus_late_hook(loop_t *l, void *ud)
{
    bus_t *b = ud;
    int busy = bus_direct_flush(b->direct);    /* first: it may reroute to routers */
    bus_flush(b);
    if (busy) {
        loop_wake(l);
        return;
    }
    for (int i = 0; i < b->nrouters; i++) {
        bus_router *r = &b->routers[i];
        if (r->touched) r->touched = zbatch_readable(r->sock);
        if (r->touched) {
            loop_wake(l);
            return;
        }
    }
}

static void bus_on_fd(loop_t *l, int fd, unsigned events, void *ud)
{
    bus_t *b = ud;
    for (int i = 0; i < b->nrouters; i++)
        if (b->routers[i].fd == fd) b->routers[i].touched = 1;
    bus_drain(ud);
}

static void bus_hook(loop_t *l, void *ud)
{
    bus_drain(ud);
}

static int bus_connect(bus_t *b, bus_router *r, const char *endpoint)
{
    int hwm = 200000, linger = 200, ivl = 100, ivl_max = 1000, one = 1;
    r->sock = zmq_socket(b->zctx, ZMQ_DEALER);
    if (!r->sock) return -1;
    zmq_setsockopt(r->sock, ZMQ_ROUTING_ID, b->node, strlen(b->node));
    zmq_setsockopt(r->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(r->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(r->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(r->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    if (zmq_connect(r->sock, endpoint) < 0) {
        log_error("bus: cannot connect to %s at %s: %s", r->id, endpoint, zmq_strerror(errno));
        return -1;
    }
    size_t sz = sizeof r->fd;
    r->touched = 1;
    if (zmq_getsockopt(r->sock, ZMQ_FD, &r->fd, &sz) < 0) return -1;
    return loop_add_fd(b->loop, r->fd, LOOP_READ, bus_on_fd, b);
}

bus_t *bus_open(loop_t *l, const config_t *cfg, const char *node_id, bus_msg_cb cb, void *ud)
{
    json_t *routers = config_get(cfg, "routers");
    if (!json_is_array(routers) || json_array_size(routers) == 0) {
        log_error("config: 'routers' must be a non-empty list");
        return NULL;
    }
    if (strlen(node_id) == 0 || strlen(node_id) > ENV_NODE_MAX) {
        log_error("node id '%s' must be 1..%d bytes", node_id, ENV_NODE_MAX);
        return NULL;
    }
    bus_t *b = calloc(1, sizeof *b);
    b->loop = l;
    b->cb = cb;
    b->ud = ud;
    snprintf(b->node, sizeof b->node, "%s", node_id);
    b->zctx = zmq_ctx_new();
    b->nrouters = (int)json_array_size(routers);
    b->routers = calloc((size_t)b->nrouters, sizeof *b->routers);
    for (int i = 0; i < b->nrouters; i++) b->routers[i].fd = -1;
    for (int i = 0; i < b->nrouters; i++) {
        json_t *r = json_array_get(routers, (size_t)i);
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *ep = json_string_value(json_object_get(r, "endpoint"));
        if (!id || !ep || strlen(id) > ENV_NODE_MAX) {
            log_error("config: routers[%d] needs 'id' (max %d bytes) and 'endpoint'", i, ENV_NODE_MAX);
            bus_close(&b);
            return NULL;
        }
        snprintf(b->routers[i].id, sizeof b->routers[i].id, "%s", id);
        if (bus_connect(b, &b->routers[i], ep) < 0) {
            bus_close(&b);
            return NULL;
        }
    }
    for (unsigned s = 0; s < SLOT_COUNT; s++) b->slot_node[s] = bus_sm_node(cfg, s);
    b->direct = bus_direct_open(l, b->zctx, cfg, node_id, bus_direct_in, bus_reroute, b);
    if (!b->direct) {
        bus_close(&b);
        return NULL;
    }
    loop_add_hook(l, bus_hook, b);
    loop_add_late_hook(l, bus_late_hook, b);
    b->hb_timer = loop_add_timer(l, 0, bus_heartbeat, b);
    b->sweep_timer = loop_add_timer(l, BUS_SWEEP_MS, bus_sweep, b);
    return b;
}

void bus_close(bus_t **bp)
{
    if (!bp || !*bp) return;
    bus_t *b = *bp;
    loop_cancel_timer(b->loop, b->hb_timer);
    loop_cancel_timer(b->loop, b->sweep_timer);
    loop_del_hook(b->loop, bus_hook, b);
    loop_del_hook(b->loop, bus_late_hook, b);
    for (uint32_t i = 0; i < b->npending_cap; i++) {
        bus_pending *p = &b->pending[i];
        if (p->req) {
            bus_reply_cb cb = p->cb;
            void *cud = p->ud;
            bus_pending_release(b, p);
            cb(cud, NULL, NULL, 0);
        }
    }
    bus_direct_close(&b->direct);   /* flushes; reroutes land in the router batches */
    bus_flush(b);    /* what was produced last (the sockets linger) */
    for (int i = 0; i < b->nrouters; i++) {
        if (b->routers[i].fd >= 0) loop_del_fd(b->loop, b->routers[i].fd);
        if (b->routers[i].sock) zmq_close(b->routers[i].sock);
        buf_free(&b->routers[i].out);
    }
    zmq_ctx_term(b->zctx);
    free(b->routers);
    free(b->pending);
    free(b);
    *bp = NULL;
}

const char *bus_storage_node(const config_t *cfg, const char *key)
{
    json_t *w = config_get(cfg, "storage.workers");
    size_t n = json_array_size(w);
    if (n == 0) return NULL;
    return json_string_value(json_array_get(w, slot_fnv1a(key, strlen(key)) % n));
}

const char *bus_sm_node(const config_t *cfg, unsigned slot)
{
    json_t *s = config_get(cfg, "sm.shards");
    size_t n = json_array_size(s);
    if (n == 0 || slot >= SLOT_COUNT) return NULL;
    return json_string_value(json_array_get(s, (size_t)slot * n / SLOT_COUNT));
}
