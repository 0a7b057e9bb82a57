/*
 * router.c - forwards envelopes between nodes by header only.
 *
 * One ZeroMQ ROUTER socket, bound at this router's endpoint. Every other
 * process connects a DEALER whose routing id is its node id. An incoming
 * message is [peer id][header][body]. The router checks that the header's
 * source equals the peer's routing id (a node cannot speak for another),
 * resolves the destination (a node id, or a user slot through the static
 * slot map), and sends [dest id][header][body] with ZMQ_ROUTER_MANDATORY,
 * reusing the received frames. What cannot be delivered goes back to the
 * sender as UNROUTABLE (flags = original type, dest = original
 * destination, src = this router) so it can answer or retry
 * instead of waiting for a timeout. The router never parses XML.
 */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "envelope.h"
#include "bus.h"
#include "log.h"
#include "slot.h"

#define ROUTER_PEER_MAX 1024

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
    uint64_t forwarded, unroutable, malformed, spoofed;
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

/* Send [to][hdr frame][body]; the message objects are consumed on success. */
static int router_send(router_t *r, const char *to, zmq_msg_t *hdr, zmq_msg_t *body)
{
    if (zmq_send(r->sock, to, strlen(to), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    if (zmq_msg_send(hdr, r->sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    if (zmq_msg_send(body, r->sock, ZMQ_DONTWAIT) < 0) return -1;
    return 0;
}

/* Answer a heartbeat or registration. */
static void router_ack(router_t *r, const env_hdr *in)
{
    env_hdr h = {0};
    unsigned char frame[ENV_HDR_LEN];
    h.type = ENV_HEARTBEAT_ACK;
    env_set_dest_node(&h, in->src);
    snprintf(h.src, sizeof h.src, "%s", r->id);
    if (env_encode(&h, frame) < 0) return;
    zmq_send(r->sock, in->src, strlen(in->src), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->sock, frame, ENV_HDR_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->sock, "", 0, ZMQ_DONTWAIT);
}

/* Return an undeliverable envelope to its sender. */
static void router_bounce(router_t *r, const env_hdr *in, zmq_msg_t *body)
{
    env_hdr h = *in;
    unsigned char frame[ENV_HDR_LEN];
    r->unroutable++;
    log_warn("unroutable %s from %s to %s (slot %u)", env_type_name(in->type), in->src,
             in->dest_kind == ENV_DEST_NODE ? in->dest : "-", in->slot);
    if (in->type == ENV_UNROUTABLE || in->type == ENV_HEARTBEAT_ACK) return;
    h.type = ENV_UNROUTABLE;
    h.flags = in->type;
    /* dest keeps the original destination (the receiver learns who was
     * unreachable); the frame goes to the sender by its routing id. */
    snprintf(h.src, sizeof h.src, "%s", r->id);
    if (env_encode(&h, frame) < 0) return;
    zmq_msg_t hm;
    zmq_msg_init_size(&hm, ENV_HDR_LEN);
    memcpy(zmq_msg_data(&hm), frame, ENV_HDR_LEN);
    if (router_send(r, in->src, &hm, body) < 0) zmq_msg_close(&hm);
}

static void router_forward(router_t *r, zmq_msg_t *peer, zmq_msg_t *hdr, zmq_msg_t *body)
{
    env_hdr h;
    if (env_decode(zmq_msg_data(hdr), zmq_msg_size(hdr), &h) < 0) {
        r->malformed++;
        return;
    }
    size_t plen = zmq_msg_size(peer);
    if (plen != strlen(h.src) || memcmp(zmq_msg_data(peer), h.src, plen) != 0) {
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
    if (!to || router_send(r, to, hdr, body) < 0) {
        router_bounce(r, &h, body);
        return;
    }
    r->forwarded++;
}

/* Receive and switch everything queued on the socket. */
static void router_drain(router_t *r)
{
    for (int budget = 0; budget < 8192; budget++) {
        int ev = 0;
        size_t sz = sizeof ev;
        if (zmq_getsockopt(r->sock, ZMQ_EVENTS, &ev, &sz) < 0 || !(ev & ZMQ_POLLIN)) return;
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, r->sock, ZMQ_DONTWAIT) < 0) { zmq_msg_close(&m); break; }
            more = zmq_msg_more(&m);
            if (n < 3) parts[n++] = m;
            else { zmq_msg_close(&m); n = 4; }
        }
        if (n == 3) router_forward(r, &parts[0], &parts[1], &parts[2]);
        else r->malformed++;
        for (int i = 0; i < n && i < 3; i++) zmq_msg_close(&parts[i]);
    }
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
    log_debug("stats forwarded=%llu unroutable=%llu malformed=%llu spoofed=%llu peers=%d",
              (unsigned long long)r->forwarded, (unsigned long long)r->unroutable,
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
    free(r);
    return rc;
}
