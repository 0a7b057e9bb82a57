/*
 * router.c - forwards envelopes between nodes by header only.
 *
 * One ZeroMQ ROUTER socket, bound at this router's endpoint. Every other
 * process connects a DEALER whose routing id is its node id. An incoming
 * message is [peer id][batch of envelope records] (envelope.h). For each
 * record the router checks that the header's source equals the peer's
 * routing id (a node cannot speak for another), resolves the destination
 * (a node id, or a user slot through the static slot map) and appends the
 * record, unchanged, to that destination's outgoing batch. Once the
 * socket is drained, every non-empty batch goes out as one message
 * [dest id][batch] with ZMQ_ROUTER_MANDATORY. Records of a batch that
 * cannot be delivered go back to their senders as UNROUTABLE (flags =
 * original type, dest = original destination, src = this router) so they
 * can answer or retry instead of waiting for a timeout. The router never
 * parses XML.
 */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "envelope.h"
#include "bus.h"
#include "log.h"
#include "slot.h"
#include "zbatch.h"

#define ROUTER_PEER_MAX 1024
#define ROUTER_DRAIN_MAX 8192          /* messages taken per drain */

typedef struct router_peer {
    char id[ENV_NODE_MAX + 1];   /* node id */
    uint64_t last_seen;          /* loop_now() of its last heartbeat */
} router_peer;

typedef struct router {
    const config_t *cfg;
    loop_t *loop;
    char id[ENV_NODE_MAX + 1];
    void *zctx;
    void *sock;
    int fd;
    const char *slot_owner[SLOT_COUNT];  /* static slot map */
    router_peer peers[ROUTER_PEER_MAX];
    int npeers;
    zbatch_set outs;             /* a batch per destination node */
    uint64_t forwarded, unroutable, malformed, spoofed, batches;
    uint64_t stats_timer;
} router_t;

static router_peer *router_peer_touch(router_t *r, const char *id)
{
    for (int i = 0; i < r->npeers; i++) {
        if (strcmp(r->peers[i].id, id) == 0) {
            r->peers[i].last_seen = loop_now(r->loop);
            return &r->peers[i];
        }
    }
    if (r->npeers == ROUTER_PEER_MAX) return NULL;
    router_peer *p = &r->peers[r->npeers++];
    snprintf(p->id, sizeof p->id, "%s", id);
    p->last_seen = loop_now(r->loop);
    log_info("node %s registered", id);
    return p;
}

/* Queue an envelope built here (ack, bounce) for node `to`. */
static void router_queue_new(router_t *r, const char *to, env_hdr *h, const char *body, size_t len)
{
    snprintf(h->src, sizeof h->src, "%s", r->id);
    zbatch_out *o = zbatch_set_get(&r->outs, to, loop_now(r->loop));
    if (!o || env_batch_add(&o->buf, h, body, len) < 0)
        log_warn("cannot queue %s for %s", env_type_name(h->type), to);
}

/* Answer a heartbeat or registration. */
static void router_ack(router_t *r, const env_hdr *in)
{
    env_hdr h = {0};
    h.type = ENV_HEARTBEAT_ACK;
    env_set_dest_node(&h, in->src);
    router_queue_new(r, in->src, &h, "", 0);
}

/* Return an undeliverable envelope to its sender. */
static void router_bounce(router_t *r, const env_hdr *in, const char *body, size_t len)
{
    r->unroutable++;
    log_warn("unroutable %s from %s to %s (slot %u)", env_type_name(in->type), in->src,
             in->dest_kind == ENV_DEST_NODE ? in->dest : "-", in->slot);
    if (in->type == ENV_UNROUTABLE || in->type == ENV_HEARTBEAT_ACK) return;
    env_hdr h = *in;
    h.type = ENV_UNROUTABLE;
    h.flags = in->type;
    /* dest keeps the original destination (the receiver learns who was
     * unreachable); the record goes to the sender by its routing id. */
    router_queue_new(r, in->src, &h, body, len);
}

/* Switch one record that arrived from peer. */
static void router_forward(router_t *r, const char *peer, size_t plen, const env_rec *rec)
{
    env_hdr h;
    if (env_decode(rec->hdr, ENV_HDR_LEN, &h) < 0) {
        r->malformed++;
        return;
    }
    if (plen != strlen(h.src) || memcmp(peer, h.src, plen) != 0) {
        r->spoofed++;
        log_warn("dropped %s claiming source %s from another peer", env_type_name(h.type), h.src);
        return;
    }
    if (h.type == ENV_REGISTER || h.type == ENV_HEARTBEAT) {
        router_peer_touch(r, h.src);
        router_ack(r, &h);
        return;
    }
    const char *to = h.dest_kind == ENV_DEST_SLOT ? r->slot_owner[h.slot] : h.dest;
    zbatch_out *o = to ? zbatch_set_get(&r->outs, to, loop_now(r->loop)) : NULL;
    if (!o || buf_append(&o->buf, rec->raw, rec->raw_len) < 0) {
        router_bounce(r, &h, rec->body, rec->len);
        return;
    }
    r->forwarded++;
}

/* zbatch_refused: every record of a batch that could not be sent goes
 * back to its sender. */
static void router_bounce_batch(void *ud, zbatch_out *o, const char *data, size_t len)
{
    router_t *r = ud;
    size_t off = 0;
    env_rec rec;
    while (env_batch_next(data, len, &off, &rec) == 1) {
        env_hdr h;
        if (env_decode(rec.hdr, ENV_HDR_LEN, &h) == 0) router_bounce(r, &h, rec.body, rec.len);
    }
}

/* Receive one [peer][batch] message and switch its records. 0 when there
 * was nothing to read. */
static int router_take(router_t *r)
{
    zmq_msg_t peer, batch;
    int rc = zbatch_recv(r->sock, &peer, &batch);
    if (rc <= 0) {
        if (rc < 0) r->malformed++;
        return rc < 0;
    }
    size_t off = 0;
    env_rec rec;
    while ((rc = env_batch_next(zmq_msg_data(&batch), zmq_msg_size(&batch), &off, &rec)) == 1)
        router_forward(r, zmq_msg_data(&peer), zmq_msg_size(&peer), &rec);
    if (rc < 0) r->malformed++;
    zmq_msg_close(&peer);
    zmq_msg_close(&batch);
    return 1;
}

/* Receive and switch everything queued, then send the batches. Sending
 * may consume the fd's edge for input that arrived meanwhile, so the
 * socket is checked again; if input is still waiting after the budget,
 * the loop must not block. */
static void router_drain(router_t *r)
{
    int budget = ROUTER_DRAIN_MAX;
    while (budget > 0 && zbatch_readable(r->sock)) {
        while (budget > 0 && router_take(r)) budget--;
        r->batches += zbatch_set_flush(&r->outs, r->sock, router_bounce_batch, r);
    }
    zbatch_set_prune(&r->outs, loop_now(r->loop));
    if (budget == 0) loop_wake(r->loop);
}

static void router_on_fd(loop_t *l, int fd, unsigned events, void *ud)
{
    router_drain(ud);
}

static void router_hook(loop_t *l, void *ud)
{
    router_drain(ud);
}

static void router_stats(loop_t *l, uint64_t id, void *ud)
{
    router_t *r = ud;
    log_debug("stats forwarded=%llu batches=%llu unroutable=%llu malformed=%llu spoofed=%llu peers=%d",
              (unsigned long long)r->forwarded, (unsigned long long)r->batches,
              (unsigned long long)r->unroutable,
              (unsigned long long)r->malformed, (unsigned long long)r->spoofed, r->npeers);
    r->stats_timer = loop_add_timer(l, 10000, router_stats, r);
}

static const char *router_endpoint(const config_t *cfg, const char *id)
{
    json_t *routers = config_get(cfg, "routers");
    for (size_t i = 0; i < json_array_size(routers); i++) {
        json_t *e = json_array_get(routers, i);
        if (json_is_string(json_object_get(e, "id")) &&
            strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            return json_string_value(json_object_get(e, "endpoint"));
    }
    return NULL;
}

static int router_open(router_t *r, const char *endpoint)
{
    int one = 1, hwm = 500000, linger = 0;
    r->zctx = zmq_ctx_new();
    r->sock = zmq_socket(r->zctx, ZMQ_ROUTER);
    if (!r->sock) return -1;
    zmq_setsockopt(r->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r->sock, ZMQ_ROUTING_ID, r->id, strlen(r->id));
    zmq_setsockopt(r->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(r->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (zmq_bind(r->sock, endpoint) < 0) {
        log_error("cannot bind %s: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    size_t sz = sizeof r->fd;
    if (zmq_getsockopt(r->sock, ZMQ_FD, &r->fd, &sz) < 0) return -1;
    if (loop_add_fd(r->loop, r->fd, LOOP_READ, router_on_fd, r) < 0) return -1;
    return loop_add_hook(r->loop, router_hook, r);
}

int router_run(const config_t *cfg, loop_t *loop, const char *node_id)
{
    const char *endpoint = router_endpoint(cfg, node_id);
    if (!endpoint) {
        log_error("no router '%s' in config 'routers'", node_id);
        return -1;
    }
    router_t *r = calloc(1, sizeof *r);
    r->cfg = cfg;
    r->loop = loop;
    r->fd = -1;
    snprintf(r->id, sizeof r->id, "%s", node_id);
    for (unsigned s = 0; s < SLOT_COUNT; s++) r->slot_owner[s] = bus_sm_node(cfg, s);
    int rc = -1;
    if (r->slot_owner[0] && router_open(r, endpoint) == 0) {
        log_info("ready");
        r->stats_timer = loop_add_timer(loop, 10000, router_stats, r);
        rc = loop_run(loop);
        loop_cancel_timer(loop, r->stats_timer);
    } else if (!r->slot_owner[0]) {
        log_error("config: sm.shards must list at least one shard");
    }
    if (r->fd >= 0) loop_del_fd(loop, r->fd);
    loop_del_hook(loop, router_hook, r);
    if (r->sock) zmq_close(r->sock);
    if (r->zctx) zmq_ctx_term(r->zctx);
    zbatch_set_free(&r->outs);
    free(r);
    return rc;
}
