/*
 * bus_direct.c - direct links between nodes (see bus_direct.h).
 *
 * Two kinds of socket:
 *   links     one DEALER per other direct node (routing id = our node id),
 *             ZMQ_IMMEDIATE so a send fails at once while the peer is not
 *             connected; a link that refused a batch is left alone for
 *             DIRECT_RETRY_MS and its traffic goes through the routers.
 *   listener  our ROUTER (only if we are a direct node), with
 *             ZMQ_ROUTER_MANDATORY: it answers any node that connected a
 *             link to us. Outgoing batches are kept per destination; a
 *             destination that refuses one is forgotten (and its records
 *             rerouted) until it next gets traffic.
 * Every socket has a `touched` flag: set when its fd fires or we send on
 * it, cleared once ZMQ_EVENTS says there is no input, so each loop
 * iteration asks ZeroMQ only about sockets that may have changed.
 */
#include "bus_direct.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "log.h"
#include "zbatch.h"

#define DIRECT_RETRY_MS 1000
#define DIRECT_DRAIN_MAX 4096          /* messages per socket per drain */
#define DIRECT_BATCH_FLUSH (256u << 10)

typedef struct direct_sock {
    bus_direct *d;
    void *sock;
    int fd;
    int touched;
} direct_sock;

typedef struct direct_link {
    direct_sock s;
    char id[ENV_NODE_MAX + 1];   /* the direct node at the other end */
    buf_t out;
    uint64_t retry_at;           /* loop_now() before which it is not used */
} direct_link;

struct bus_direct {
    loop_t *loop;
    char node[ENV_NODE_MAX + 1];
    bus_direct_rx rx;
    bus_direct_reroute reroute;
    void *ud;
    direct_link *links;
    int nlinks;
    direct_sock listener;        /* sock == NULL if we are not a direct node */
    zbatch_set peers;            /* the listener's batches, by destination node */
    uint64_t dropped;
};

static void direct_on_fd(loop_t *l, int fd, unsigned events, void *ud)
{
    direct_sock *s = ud;
    s->touched = 1;
    bus_direct_drain(s->d);
}

static int direct_watch(bus_direct *d, direct_sock *s)
{
    size_t sz = sizeof s->fd;
    s->d = d;
    s->touched = 1;
    if (zmq_getsockopt(s->sock, ZMQ_FD, &s->fd, &sz) < 0) return -1;
    return loop_add_fd(d->loop, s->fd, LOOP_READ, direct_on_fd, s);
}

static void direct_sockopts(void *sock, const char *node)
{
    int hwm = 200000, linger = 200, ivl = 100, ivl_max = 1000;
    zmq_setsockopt(sock, ZMQ_ROUTING_ID, node, strlen(node));
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
}

static int direct_bind(bus_direct *d, void *zctx, const char *endpoint)
{
    int one = 1;
    d->listener.sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!d->listener.sock) return -1;
    direct_sockopts(d->listener.sock, d->node);
    zmq_setsockopt(d->listener.sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(d->listener.sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (zmq_bind(d->listener.sock, endpoint) < 0) {
        log_error("bus: cannot bind the direct endpoint %s: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return direct_watch(d, &d->listener);
}

static int direct_connect(bus_direct *d, void *zctx, direct_link *k, const char *id, const char *endpoint)
{
    int one = 1;
    snprintf(k->id, sizeof k->id, "%s", id);
    k->s.sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!k->s.sock) return -1;
    direct_sockopts(k->s.sock, d->node);
    zmq_setsockopt(k->s.sock, ZMQ_IMMEDIATE, &one, sizeof one);
    if (zmq_connect(k->s.sock, endpoint) < 0) {
        log_error("bus: cannot connect to %s at %s: %s", id, endpoint, zmq_strerror(errno));
        return -1;
    }
    return direct_watch(d, &k->s);
}

bus_direct *bus_direct_open(loop_t *l, void *zctx, const config_t *cfg, const char *node,
                            bus_direct_rx rx, bus_direct_reroute reroute, void *ud)
{
    bus_direct *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->loop = l;
    d->rx = rx;
    d->reroute = reroute;
    d->ud = ud;
    d->listener.fd = -1;
    snprintf(d->node, sizeof d->node, "%s", node);
    json_t *map = config_get(cfg, "direct");
    if (!map) return d;
    if (!json_is_object(map)) {
        log_error("config: 'direct' must map node ids to ZeroMQ endpoints");
        bus_direct_close(&d);
        return NULL;
    }
    d->links = calloc(json_object_size(map) + 1, sizeof *d->links);
    const char *id;
    json_t *ep;
    json_object_foreach(map, id, ep) {
        int rc;
        if (!json_is_string(ep) || strlen(id) == 0 || strlen(id) > ENV_NODE_MAX) {
            log_error("config: direct.%s must be an endpoint string (node ids: 1..%d bytes)", id, ENV_NODE_MAX);
            rc = -1;
        } else if (strcmp(id, node) == 0) {
            rc = direct_bind(d, zctx, json_string_value(ep));
        } else {
            direct_link *k = &d->links[d->nlinks++];
            k->s.fd = -1;
            rc = direct_connect(d, zctx, k, id, json_string_value(ep));
        }
        if (rc < 0) {
            bus_direct_close(&d);
            return NULL;
        }
    }
    return d;
}

static void direct_sock_close(bus_direct *d, direct_sock *s)
{
    if (s->fd >= 0) loop_del_fd(d->loop, s->fd);
    if (s->sock) zmq_close(s->sock);
    s->sock = NULL;
    s->fd = -1;
}

void bus_direct_close(bus_direct **dp)
{
    if (!dp || !*dp) return;
    bus_direct *d = *dp;
    bus_direct_flush(d);         /* what was produced last (the sockets linger) */
    for (int i = 0; i < d->nlinks; i++) {
        direct_sock_close(d, &d->links[i].s);
        buf_free(&d->links[i].out);
    }
    direct_sock_close(d, &d->listener);
    zbatch_set_free(&d->peers);
    free(d->links);
    free(d);
    *dp = NULL;
}

static void direct_flush_link(bus_direct *d, direct_link *k);

static direct_link *direct_link_find(bus_direct *d, const char *id)
{
    for (int i = 0; i < d->nlinks; i++)
        if (strcmp(d->links[i].id, id) == 0) return &d->links[i];
    return NULL;
}

int bus_direct_add(bus_direct *d, const char *dest, const env_hdr *h, const void *body, size_t len)
{
    if (strcmp(dest, d->node) == 0) return -1;
    direct_link *k = direct_link_find(d, dest);
    if (k) {
        if (loop_now(d->loop) < k->retry_at || env_batch_add(&k->out, h, body, len) < 0) return -1;
        if (k->out.len >= DIRECT_BATCH_FLUSH) direct_flush_link(d, k);
        return 0;
    }
    zbatch_out *p = d->listener.sock ? zbatch_set_get(&d->peers, dest, loop_now(d->loop)) : NULL;
    if (!p || env_batch_add(&p->buf, h, body, len) < 0) return -1;
    if (p->buf.len >= DIRECT_BATCH_FLUSH) {           /* else at the flush */
        d->listener.touched = 1;
        zbatch_set_send(d->listener.sock, p);
    }
    return 0;
}

/* Give every record of a refused batch back to the caller. */
static void direct_reroute(bus_direct *d, const char *data, size_t len)
{
    size_t off = 0;
    env_rec rec;
    while (env_batch_next(data, len, &off, &rec) == 1) d->reroute(d->ud, &rec);
}

/* zbatch_refused for the listener: the peer is not connected to us (it
 * is asked again next time). Reroutes never add to the listener's
 * batches. */
static void direct_refused(void *ud, zbatch_out *o, const char *data, size_t len)
{
    direct_reroute(ud, data, len);
}

static void direct_flush_link(bus_direct *d, direct_link *k)
{
    if (k->out.len == 0) return;
    k->s.touched = 1;
    if (zmq_send(k->s.sock, k->out.data, k->out.len, ZMQ_DONTWAIT) == (int)k->out.len) {
        zbatch_sent(&k->out);
        return;
    }
    if (!k->retry_at || loop_now(d->loop) - k->retry_at > 10 * DIRECT_RETRY_MS)
        log_info("bus: direct link to %s not ready (%s); using the routers for %d ms", k->id,
                 zmq_strerror(errno), DIRECT_RETRY_MS);
    k->retry_at = loop_now(d->loop) + DIRECT_RETRY_MS;
    size_t len;
    char *data = buf_steal(&k->out, &len);
    direct_reroute(d, data, len);
    free(data);
}

int bus_direct_flush(bus_direct *d)
{
    for (int i = 0; i < d->nlinks; i++) direct_flush_link(d, &d->links[i]);
    if (d->listener.sock && d->peers.ndirty) {
        d->listener.touched = 1;
        zbatch_set_flush(&d->peers, d->listener.sock, direct_refused, d);
    }
    if (d->listener.sock) zbatch_set_prune(&d->peers, loop_now(d->loop));
    int busy = 0;
    for (int i = 0; i <= d->nlinks; i++) {
        direct_sock *s = i < d->nlinks ? &d->links[i].s : &d->listener;
        if (s->sock && s->touched) {
            s->touched = zbatch_readable(s->sock);
            busy |= s->touched;
        }
    }
    return busy;
}

/* Hand the records of one batch from peer (len plen) to the caller. */
static void direct_deliver(bus_direct *d, const char *peer, size_t plen, const void *data, size_t size)
{
    size_t off = 0;
    env_rec rec;
    int rc;
    while ((rc = env_batch_next(data, size, &off, &rec)) == 1) {
        env_hdr h;
        if (env_decode(rec.hdr, ENV_HDR_LEN, &h) < 0 || strlen(h.src) != plen ||
            memcmp(h.src, peer, plen) != 0) {
            d->dropped++;
            log_warn("bus: dropped a malformed or misattributed envelope from %.*s", (int)plen, peer);
            continue;
        }
        d->rx(d->ud, &rec, &h);
    }
    if (rc < 0) {
        d->dropped++;
        log_warn("bus: dropped the truncated rest of a batch from %.*s", (int)plen, peer);
    }
}

/* Receive one message from a link ([batch]) or the listener ([peer][batch]).
 * 0 when there was nothing. */
static int direct_take(bus_direct *d, direct_sock *s, const char *link_id)
{
    zmq_msg_t peer, batch;
    int rc = zbatch_recv(s->sock, link_id ? NULL : &peer, &batch);
    if (rc < 0) d->dropped++;
    if (rc <= 0) return rc < 0;
    if (link_id) {
        direct_deliver(d, link_id, strlen(link_id), zmq_msg_data(&batch), zmq_msg_size(&batch));
    } else {
        direct_deliver(d, zmq_msg_data(&peer), zmq_msg_size(&peer), zmq_msg_data(&batch), zmq_msg_size(&batch));
        zmq_msg_close(&peer);
    }
    zmq_msg_close(&batch);
    return 1;
}

static void direct_drain_sock(bus_direct *d, direct_sock *s, const char *link_id)
{
    if (!s->sock || !s->touched) return;
    int n = 0;
    while (n < DIRECT_DRAIN_MAX && direct_take(d, s, link_id)) n++;
    if (n == DIRECT_DRAIN_MAX) loop_wake(d->loop);   /* more next iteration */
    else s->touched = 0;
}

void bus_direct_drain(bus_direct *d)
{
    for (int i = 0; i < d->nlinks; i++) direct_drain_sock(d, &d->links[i].s, d->links[i].id);
    direct_drain_sock(d, &d->listener, NULL);
}
