/*
 * shard.h - the session manager process: one shard of the user slots.
 */
#ifndef XMPP_SM_SHARD_H
#define XMPP_SM_SHARD_H

#include "config.h"
#include "loop.h"
#include "sm.h"

/* Open the bus and Redis as node_id, serve this shard's users until the
 * loop stops, then release everything. 0 on a clean stop, -1 if start-up
 * failed (bad config, bus). */
int sm_run(const config_t *cfg, loop_t *loop, const char *node_id);

/* Set up *sm (zeroed by the caller) from cfg for node_id: domain,
 * sm.max_sessions_per_user, the slots it holds. No bus or Redis yet.
 * 0, or -1 (logged) on a bad config. */
int sm_shard_init(sm_t *sm, const config_t *cfg, loop_t *loop, const char *node_id);
/* Kinds of node, from the config lists (routers, sm.shards, c2s.nodes). */
#define SM_PEER_C2S 0x1
#define SM_PEER_SM 0x2
#define SM_PEER_ROUTER 0x4

/* The kind of node `node` is (SM_PEER_*), or 0. Without a c2s.nodes
 * list, any node that is neither a router nor an sm counts as a c2s. */
unsigned sm_shard_peer(const sm_t *sm, const char *node);
/* Handle one envelope from the bus: checks that its type is expected
 * from the sending node's kind, then runs the handler. */
void sm_shard_dispatch(sm_t *sm, const env_hdr *h, const char *body, size_t len);

#endif
