/*
 * zbatch.h - ZeroMQ plumbing for envelope batches, shared by the routers
 * and the nodes' direct links (bus.c, bus_direct.c, router/router.c).
 *
 * - zbatch_readable: ZMQ_EVENTS says input is waiting (the socket fd is
 *   edge-triggered and only means "look").
 * - zbatch_recv: one batch message, [batch] or (from a ROUTER socket)
 *   [peer id][batch].
 * - zbatch_sent: reset a batch buffer that went out, and free it after a
 *   burst so an idle peer keeps no large buffer.
 * - zbatch_set: the outgoing batches of a ROUTER socket, one per
 *   destination node id, with the list of those that have something to
 *   send, a flush that hands refused batches to a callback, and a sweep
 *   that forgets destinations idle for a while (every xmppctl run is a new
 *   node id).
 */
#ifndef XMPP_ZBATCH_H
#define XMPP_ZBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "buf.h"
#include "envelope.h"
#include "hmap.h"

#define ZBATCH_KEEP (512u << 10)      /* larger buffers are freed once sent */
#define ZBATCH_IDLE_MS 60000          /* destinations unused this long are forgotten */

int zbatch_readable(void *sock);
/* Receive one message without waiting. peer is NULL for a DEALER socket
 * ([batch]); for a ROUTER socket it receives the routing id. Returns 1
 * with the message(s) to close by the caller, 0 when nothing is waiting,
 * -1 for a message of the wrong shape (already discarded and closed). */
int zbatch_recv(void *sock, zmq_msg_t *peer, zmq_msg_t *batch);
void zbatch_sent(buf_t *b);

typedef struct zbatch_out {
    char id[ENV_NODE_MAX + 1];
    buf_t buf;
    int dirty;                   /* listed in zbatch_set.dirty */
    uint64_t last_used;          /* time of the last zbatch_set_get */
} zbatch_out;

typedef struct zbatch_set {
    hmap_t outs;                 /* node id -> zbatch_out */
    zbatch_out **dirty;
    size_t ndirty, dirty_cap;
    uint64_t next_prune;
} zbatch_set;

/* The batch for node id, created on first use and listed dirty, because
 * the caller is about to append to it. NULL when out of memory. */
zbatch_out *zbatch_set_get(zbatch_set *s, const char *id, uint64_t now);
/* A batch ZeroMQ refused: the callback gets its bytes (the batch itself
 * is empty then) and may queue more on the set, which the same flush
 * sends. */
typedef void (*zbatch_refused)(void *ud, zbatch_out *o, const char *data, size_t len);
/* Send [id][batch] for every dirty batch on the ROUTER socket; returns
 * the batches sent. Destinations that refused and got nothing new are
 * forgotten. */
size_t zbatch_set_flush(zbatch_set *s, void *sock, zbatch_refused refused, void *ud);
/* Send one batch now (e.g. it grew large). 0/-1; on -1 it stays queued. */
int zbatch_set_send(void *sock, zbatch_out *o);
/* Forget destinations idle for ZBATCH_IDLE_MS (a few per call). */
void zbatch_set_prune(zbatch_set *s, uint64_t now);
void zbatch_set_free(zbatch_set *s);

#endif
