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
#include "hmap.h"
#include "log.h"

#define DIRECT_RETRY_MS 1000
#define DIRECT_DRAIN_MAX 4096          /* messages per socket per drain */
#define DIRECT_BATCH_FLUSH (256u << 10)
#define DIRECT_BATCH_KEEP (512u << 10)
#define DIRECT_PEER_IDLE_MS 60000      /* listener peers unused this long are forgotten */

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

typedef struct direct_peer {     /* a destination reached through our listener */
    char id[ENV_NODE_MAX + 1];
    buf_t out;
    int dirty;
    uint64_t last_used;          /* loop_now() of the last batch for it */
} direct_peer;

struct bus_direct {
    loop_t *loop;
    char node[ENV_NODE_MAX + 1];
    bus_direct_rx rx;
    bus_direct_reroute reroute;
    void *ud;
    direct_link *links;
    int nlinks;
    direct_sock listener;        /* sock == NULL if we are not a direct node */
    hmap_t peers;                /* node id -> direct_peer */
    direct_peer **dirty;
    size_t ndirty, dirty_cap;
    uint64_t next_prune;         /* loop_now() of the next sweep of idle peers */
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
    size_t pos = 0;
    const char *k;
    void *v;
    while (hmap_next(&d->peers, &pos, &k, &v)) {
        buf_free(&((direct_peer *)v)->out);
        free(v);
    }
    hmap_free(&d->peers);
    free(d->links);
    free(d->dirty);
    free(d);
    *dp = NULL;
}

static void direct_flush_link(bus_direct *d, direct_link *k);
static int direct_send_peer(bus_direct *d, direct_peer *p);

static direct_link *direct_link_find(bus_direct *d, const char *id)
{
    for (int i = 0; i < d->nlinks; i++)
        if (strcmp(d->links[i].id, id) == 0) return &d->links[i];
    return NULL;
}

/* The listener's batch for id, created on first use and listed dirty. */
static direct_peer *direct_peer_for(bus_direct *d, const char *id)
{
    direct_peer *p = hmap_get(&d->peers, id);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return NULL;
        snprintf(p->id, sizeof p->id, "%s", id);
        if (hmap_put(&d->peers, p->id, p) < 0) {
            free(p);
            return NULL;
        }
    }
    p->last_used = loop_now(d->loop);
    if (!p->dirty) {
        if (d->ndirty == d->dirty_cap) {
            size_t n = d->dirty_cap ? d->dirty_cap * 2 : 16;
            direct_peer **v = realloc(d->dirty, n * sizeof *v);
            if (!v) return NULL;
            d->dirty = v;
            d->dirty_cap = n;
        }
        d->dirty[d->ndirty++] = p;
        p->dirty = 1;
    }
    return p;
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
    direct_peer *p = d->listener.sock ? direct_peer_for(d, dest) : NULL;
    if (!p || env_batch_add(&p->out, h, body, len) < 0) return -1;
    if (p->out.len >= DIRECT_BATCH_FLUSH) direct_send_peer(d, p);   /* else at the flush */
    return 0;
}

/* Give every record of a refused batch back to the caller. */
static void direct_reroute_all(bus_direct *d, buf_t *out)
{
    size_t len, off = 0;
    char *data = buf_steal(out, &len);
    env_rec rec;
    while (env_batch_next(data, len, &off, &rec) == 1) d->reroute(d->ud, &rec);
    free(data);
}

static void direct_sent(buf_t *out)
{
    buf_reset(out);
    if (out->cap > DIRECT_BATCH_KEEP) buf_free(out);
}

static void direct_flush_link(bus_direct *d, direct_link *k)
{
    if (k->out.len == 0) return;
    k->s.touched = 1;
    if (zmq_send(k->s.sock, k->out.data, k->out.len, ZMQ_DONTWAIT) == (int)k->out.len) {
        direct_sent(&k->out);
        return;
    }
    if (!k->retry_at || loop_now(d->loop) - k->retry_at > 10 * DIRECT_RETRY_MS)
        log_info("bus: direct link to %s not ready (%s); using the routers for %d ms", k->id,
                 zmq_strerror(errno), DIRECT_RETRY_MS);
    k->retry_at = loop_now(d->loop) + DIRECT_RETRY_MS;
    direct_reroute_all(d, &k->out);
}

/* Send p's batch through the listener. 0/-1 (the batch is kept). */
static int direct_send_peer(bus_direct *d, direct_peer *p)
{
    if (p->out.len == 0) return 0;
    d->listener.touched = 1;
    if (zmq_send(d->listener.sock, p->id, strlen(p->id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(d->listener.sock, p->out.data, p->out.len, ZMQ_DONTWAIT) < 0)
        return -1;
    direct_sent(&p->out);
    return 0;
}

static void direct_flush_listener(bus_direct *d)
{
    /* Reroutes never add to the listener's batches: the list is stable. */
    for (size_t i = 0; i < d->ndirty; i++) {
        direct_peer *p = d->dirty[i];
        p->dirty = 0;
        if (direct_send_peer(d, p) == 0) continue;
        direct_reroute_all(d, &p->out);
        hmap_del(&d->peers, p->id);  /* not connected to us: ask again next time */
        free(p);
    }
    d->ndirty = 0;
}

/* Forget listener peers that got nothing for a while (every xmppctl run is
 * a new node id), so the map holds only the nodes in use. */
static void direct_prune(bus_direct *d)
{
    uint64_t now = loop_now(d->loop);
    if (now < d->next_prune) return;
    d->next_prune = now + DIRECT_PEER_IDLE_MS / 4;
    size_t pos = 0, n = 0;
    const char *k;
    void *v;
    direct_peer *idle[64];
    while (n < 64 && hmap_next(&d->peers, &pos, &k, &v)) {
        direct_peer *p = v;
        if (!p->dirty && now - p->last_used > DIRECT_PEER_IDLE_MS) idle[n++] = p;
    }
    for (size_t i = 0; i < n; i++) {
        hmap_del(&d->peers, idle[i]->id);
        buf_free(&idle[i]->out);
        free(idle[i]);
    }
    if (n == 64) d->next_prune = now;     /* more to do next time */
}

static int direct_readable(direct_sock *s)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(s->sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

int bus_direct_flush(bus_direct *d)
{
    for (int i = 0; i < d->nlinks; i++) direct_flush_link(d, &d->links[i]);
    if (d->listener.sock) {
        direct_flush_listener(d);
        direct_prune(d);
    }
    int busy = 0;
    for (int i = 0; i <= d->nlinks; i++) {
        direct_sock *s = i < d->nlinks ? &d->links[i].s : &d->listener;
        if (s->sock && s->touched) {
            s->touched = direct_readable(s);
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
    zmq_msg_init(&peer);
    zmq_msg_init(&batch);
    zmq_msg_t *first = link_id ? &batch : &peer;
    if (zmq_msg_recv(first, s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&peer);
        zmq_msg_close(&batch);
        return 0;
    }
    int ok = link_id ? !zmq_msg_more(&batch)
                     : zmq_msg_more(&peer) && zmq_msg_recv(&batch, s->sock, ZMQ_DONTWAIT) >= 0 &&
                           !zmq_msg_more(&batch);
    if (ok && link_id)
        direct_deliver(d, link_id, strlen(link_id), zmq_msg_data(&batch), zmq_msg_size(&batch));
    else if (ok)
        direct_deliver(d, zmq_msg_data(&peer), zmq_msg_size(&peer), zmq_msg_data(&batch), zmq_msg_size(&batch));
    else {
        d->dropped++;
        while (zmq_msg_more(&batch)) {          /* discard extra parts */
            zmq_msg_close(&batch);
            zmq_msg_init(&batch);
            if (zmq_msg_recv(&batch, s->sock, ZMQ_DONTWAIT) < 0) break;
        }
    }
    zmq_msg_close(&peer);
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
