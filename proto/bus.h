/*
 * bus.h - a node's connection to the routers.
 *
 * A node (any process but a router) opens one ZeroMQ DEALER socket per
 * router listed in the config, with its node id as routing id, registers,
 * and heartbeats every second. An envelope goes to one live router picked
 * by a stable hash of its destination (slot, or node id plus connection
 * id), so the envelopes of one pair keep their order. Routers that miss
 * heartbeat answers for 3 seconds are skipped until they answer again.
 *
 * Requests (bus_request) get a fresh request id and are parked until the
 * reply with the same id arrives or the timeout passes; the callback runs
 * exactly once either way.
 */
#ifndef XMPP_BUS_H
#define XMPP_BUS_H

#include <stddef.h>
#include "envelope.h"
#include "loop.h"
#include "config.h"

typedef struct bus bus_t;

/* Called for each envelope that is not a reply to a parked request. body
 * is valid during the call only. */
typedef void (*bus_msg_cb)(void *ud, const env_hdr *h, const char *body, size_t len);
/* Reply callback: h == NULL means timeout (or bus shutdown). */
typedef void (*bus_reply_cb)(void *ud, const env_hdr *h, const char *body, size_t len);

/* Connect to every router in cfg ("routers" list). NULL on failure. */
bus_t *bus_open(loop_t *l, const config_t *cfg, const char *node_id, bus_msg_cb cb, void *ud);
/* Close sockets; pending requests get their callback with h == NULL. */
void bus_close(bus_t **b);
const char *bus_node_id(const bus_t *b);
/* Send an envelope. h->src is filled in. Returns 0, or -1 if no router is
 * connected or the message could not be queued (counted). */
int bus_send(bus_t *b, env_hdr *h, const void *body, size_t len);
/* Send a request and park cb until the reply or timeout_ms. h->req is
 * assigned. Returns 0/-1 (on -1 the callback is not called). */
int bus_request(bus_t *b, env_hdr *h, const void *body, size_t len,
                unsigned timeout_ms, bus_reply_cb cb, void *ud);
/* Forget a parked request without calling its callback (e.g. the waiting
 * connection closed). */
void bus_cancel(bus_t *b, uint32_t req);
/* Reply to a request envelope `req_hdr` with type `type`. 0/-1. */
int bus_reply(bus_t *b, const env_hdr *req_hdr, unsigned type, uint16_t flags,
              const void *body, size_t len);
/* Number of routers currently considered alive. */
int bus_live_routers(const bus_t *b);

/* sm shard owning a slot: sm.shards[slot * n / 1024]; NULL if none. */
const char *bus_sm_node(const config_t *cfg, unsigned slot);
/* Storage worker node id for a key: storage.workers[fnv(key) % n]. */
const char *bus_storage_node(const config_t *cfg, const char *key);

#endif
