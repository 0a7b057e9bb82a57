/*
 * bus_direct.h - direct links between nodes, beside the routers.
 *
 * Nodes named in the config's `direct` map (node id -> ZeroMQ endpoint:
 * the sm shards and storage workers) bind a ROUTER socket there; every
 * node connects one DEALER to each of them. An envelope for a direct node
 * then goes over the sender's DEALER, and an envelope from a direct node
 * to a node connected to it (a c2s, xmppctl) goes back over its ROUTER:
 * one ZeroMQ transfer instead of two through a router, with no router
 * process woken. What cannot go direct (no link, link not connected,
 * ZeroMQ's high-water mark) is handed back to the caller for the routers,
 * which stay the path of last resort. Batches work as on router links
 * (see bus.c).
 *
 * Used by bus.c only.
 */
#ifndef XMPP_BUS_DIRECT_H
#define XMPP_BUS_DIRECT_H

#include <stddef.h>
#include "config.h"
#include "envelope.h"
#include "loop.h"

typedef struct bus_direct bus_direct;

/* A record received on a direct link, its source already checked against
 * the peer it came from. */
typedef void (*bus_direct_rx)(void *ud, const env_rec *rec, env_hdr *h);
/* A record that could not go direct: the caller sends it another way. */
typedef void (*bus_direct_reroute)(void *ud, const env_rec *rec);

/* Bind (if node is in `direct`) and connect to every other direct node.
 * Without a `direct` map, an object that never takes anything. NULL on
 * failure (logged). */
bus_direct *bus_direct_open(loop_t *l, void *zctx, const config_t *cfg, const char *node,
                            bus_direct_rx rx, bus_direct_reroute reroute, void *ud);
void bus_direct_close(bus_direct **d);
/* Queue an envelope (src already set) for node dest. 0 when queued on a
 * direct path, -1 when there is none now: use a router. */
int bus_direct_add(bus_direct *d, const char *dest, const env_hdr *h, const void *body, size_t len);
/* Receive everything waiting on sockets that may have input. */
void bus_direct_drain(bus_direct *d);
/* Send every batch (failures are rerouted). Returns 1 if the loop must
 * not block: input may be waiting that no fd will announce. */
int bus_direct_flush(bus_direct *d);

#endif
