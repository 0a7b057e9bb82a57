/*
 * sm_redis.h - the sm's connection to Redis: hiredis' asynchronous API
 * driven by the project event loop, never blocking it.
 *
 * The connection is made at open and remade after a failure (every
 * second, with a connect timeout); AUTH and SELECT are sent first when
 * redis.password / redis.db are set. While it is down, writes are skipped
 * (they return -1); the owner rewrites its state from on_state(up = 1).
 * After each (re)connection the module also SCANs the sess:* keys and
 * deletes those the owner calls stale, and it keeps `node:{<node id>}`
 * alive with a 5 second TTL, refreshed every second.
 *
 * Keys (DESIGN.md "Redis"): sess:{<bare JID>} is a hash of
 * resource -> session JSON; node:{<node id>} the liveness key.
 */
#ifndef XMPP_SM_REDIS_H
#define XMPP_SM_REDIS_H

#include "config.h"
#include "loop.h"

typedef struct sm_redis sm_redis;

typedef struct sm_redis_cb {
    /* The connection became usable (up = 1), or a connection attempt
     * failed or a live connection dropped (up = 0). The first call tells
     * the outcome of the first attempt. On up = 1 the owner rewrites what
     * it holds; the stale-key scan starts after the call returns. */
    void (*on_state)(void *ud, int up);
    /* Non-zero if the sess:{bare} key found in Redis is stale (a user of
     * this shard's slots who has no session here) and must be deleted. */
    int (*is_stale)(void *ud, const char *bare);
} sm_redis_cb;

/* Start connecting to redis.host:redis.port from cfg. cb is borrowed and
 * must outlive the handle. NULL only on allocation failure; a Redis that
 * is down is not an error (the module keeps trying). */
sm_redis *sm_redis_open(loop_t *l, const config_t *cfg, const char *node_id,
                        const sm_redis_cb *cb, void *ud);
/* Drop the connection and free everything; pending replies are discarded
 * and on_state is not called. Sets *r to NULL; accepts NULL. */
void sm_redis_close(sm_redis **r);
/* Non-zero while the connection is usable. */
int sm_redis_up(const sm_redis *r);

/* HSET sess:{bare} resource value. 0 if queued, -1 if Redis is down. */
int sm_redis_sess_set(sm_redis *r, const char *bare, const char *resource, const char *value);
/* HDEL sess:{bare} resource. 0/-1 as above. */
int sm_redis_sess_del(sm_redis *r, const char *bare, const char *resource);
/* DEL sess:{bare}. 0/-1 as above. */
int sm_redis_sess_clear(sm_redis *r, const char *bare);

/* GET key: cb(ud, value, 1) with the value, or NULL when the key is
 * absent; cb(ud, NULL, 0) when the command failed or the connection
 * dropped or closed before the reply (then touch nothing but ud). 0 if
 * sent (cb will be called once), -1 if Redis is down (cb is not called). */
typedef void (*sm_redis_get_cb)(void *ud, const char *value, int ok);
int sm_redis_get(sm_redis *r, const char *key, sm_redis_get_cb cb, void *ud);
/* SET key value (ttl > 0: EX ttl seconds). 0/-1 as for the writes above. */
int sm_redis_set(sm_redis *r, const char *key, const char *value, int ttl);

#endif
