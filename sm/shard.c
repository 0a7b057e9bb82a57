/*
 * shard.c - the sm process: start-up, the one envelope dispatch, and
 * shutdown (see shard.h).
 *
 * Envelopes arrive from the bus into shard_on_env, which looks the type up
 * in shard_handlers: a type that is not listed, or that comes from a kind
 * of node not allowed to send it, is logged by name and dropped. The
 * sender's kind comes from the config lists (routers, sm.shards,
 * c2s.nodes). UNROUTABLE envelopes (from a router, or from a c2s that no
 * longer has the connection a STANZA_DELIVER was for) are dispatched again
 * by the type of the envelope that bounced (h->flags).
 *
 * "ready" is logged once the bus is open and the first Redis connection
 * attempt has an outcome (a warning too if Redis is down; the shard works
 * without it and catches up when it comes back).
 */
#include "shard.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bind.h"
#include "deliver.h"
#include "log.h"
#include "caps.h"
#include "mod.h"
#include "route.h"
#include "session.h"
#include "sm.h"
#include "sm_redis.h"

#define SHARD_STATS_MS 10000
#define SHARD_MAX_SESSIONS_DEFAULT 10
#define SHARD_MAX_SESSIONS_LIMIT 10000

typedef void (*shard_env_fn)(sm_t *sm, const env_hdr *h, const char *body, size_t len);

static void shard_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len);

static const struct shard_handler {
    unsigned type;     /* env_type */
    unsigned from;     /* SM_PEER_* allowed to send it */
    shard_env_fn fn;
} shard_handlers[] = {
    {ENV_BIND_REQ, SM_PEER_C2S, sm_bind_on_req},
    {ENV_UNBIND, SM_PEER_C2S, sm_bind_on_unbind},
    {ENV_STANZA_OUT, SM_PEER_C2S, sm_route_on_out},
    {ENV_STANZA_IN, SM_PEER_SM, sm_route_on_in},
    {ENV_UNROUTABLE, SM_PEER_ROUTER | SM_PEER_C2S, shard_on_unroutable},
};

/* UNROUTABLE, by the type of what bounced. */
static const struct shard_bounce {
    unsigned type;     /* env_type of the envelope we sent */
    shard_env_fn fn;
} shard_bounces[] = {
    {ENV_STANZA_IN, sm_route_on_unroutable},
    {ENV_STANZA_DELIVER, sm_deliver_on_unroutable},
    {ENV_BIND_RESP, sm_bind_on_unroutable},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Non-zero if list (an array of strings, or of objects with "id") holds id. */
static int shard_listed(const json_t *list, const char *id)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *v = json_is_object(e) ? json_string_value(json_object_get(e, "id")) : json_string_value(e);
        if (v && strcmp(v, id) == 0) return 1;
    }
    return 0;
}

unsigned sm_shard_peer(const sm_t *sm, const char *src)
{
    if (shard_listed(config_get(sm->cfg, "routers"), src)) return SM_PEER_ROUTER;
    if (shard_listed(config_get(sm->cfg, "sm.shards"), src)) return SM_PEER_SM;
    json_t *c2s = config_get(sm->cfg, "c2s.nodes");
    if (!json_is_array(c2s) || shard_listed(c2s, src)) return SM_PEER_C2S;
    return 0;
}

static void shard_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    for (size_t i = 0; i < NELEM(shard_bounces); i++) {
        if (shard_bounces[i].type == h->flags) {
            shard_bounces[i].fn(sm, h, body, len);
            return;
        }
    }
    log_msg(LOG_WARN, h->trace, "%s envelope to conn=%llu was unroutable", env_type_name(h->flags),
            (unsigned long long)h->conn);
}

void sm_shard_dispatch(sm_t *sm, const env_hdr *h, const char *body, size_t len)
{
    const struct shard_handler *hd = NULL;
    for (size_t i = 0; i < NELEM(shard_handlers) && !hd; i++)
        if (shard_handlers[i].type == h->type) hd = &shard_handlers[i];
    if (!hd || !(sm_shard_peer(sm, h->src) & hd->from)) {
        sm->stats.dropped++;
        log_msg(LOG_WARN, h->trace, "dropped %s from %s: %s", env_type_name(h->type), h->src,
                hd ? "not accepted from that node" : "unexpected type");
        return;
    }
    sm->trace = h->trace;
    hd->fn(sm, h, body, len);
    sm->trace = 0;
}

/* The bus callback: every envelope that is not a reply to a request. */
static void shard_on_env(void *ud, const env_hdr *h, const char *body, size_t len)
{
    sm_shard_dispatch(ud, h, body, len);
}

static void shard_redis_state(void *ud, int up)
{
    sm_t *sm = ud;
    if (up) sm_session_resync(sm);
    if (sm->ready) return;
    sm->ready = 1;
    if (!up) log_warn("starting without Redis; sessions are written there once it is reachable");
    log_info("ready");
}

static int shard_redis_stale(void *ud, const char *bare)
{
    return sm_session_is_stale(ud, bare);
}

static const sm_redis_cb shard_redis_cb = {shard_redis_state, shard_redis_stale};

static void shard_stats(loop_t *l, uint64_t id, void *ud)
{
    sm_t *sm = ud;
    log_debug("stats users=%zu sessions=%u out=%llu in=%llu forwarded=%llu delivered=%llu bounced=%llu dropped=%llu",
              sm->users.count, sm->nsessions, (unsigned long long)sm->stats.out,
              (unsigned long long)sm->stats.in, (unsigned long long)sm->stats.forwarded,
              (unsigned long long)sm->stats.delivered, (unsigned long long)sm->stats.bounced,
              (unsigned long long)sm->stats.dropped);
    sm->stats_timer = loop_add_timer(l, SHARD_STATS_MS, shard_stats, sm);
}

int sm_shard_init(sm_t *sm, const config_t *cfg, loop_t *loop, const char *node_id)
{
    sm->cfg = cfg;
    sm->started = (long long)time(NULL);
    sm->loop = loop;
    if (strlen(node_id) == 0 || strlen(node_id) > ENV_NODE_MAX) {
        log_error("node id '%s' must be 1..%d bytes", node_id, ENV_NODE_MAX);
        return -1;
    }
    strcpy(sm->node, node_id);
    const char *domain = config_str(cfg, "domain", NULL);
    if (!domain || jid_nameprep(domain, sm->domain) < 0) {
        log_error("config: 'domain' is missing or not a valid domain");
        return -1;
    }
    long long max = config_int(cfg, "sm.max_sessions_per_user", SHARD_MAX_SESSIONS_DEFAULT);
    if (max < 1 || max > SHARD_MAX_SESSIONS_LIMIT) {
        log_error("config: sm.max_sessions_per_user must be 1..%d", SHARD_MAX_SESSIONS_LIMIT);
        return -1;
    }
    sm->max_sessions = (unsigned)max;
    long long pl = config_int(cfg, "sm.max_privacy_lists", 50), pi = config_int(cfg, "sm.max_privacy_items", 1000);
    if (pl < 1 || pl > 10000 || pi < 1 || pi > 100000) {
        log_error("config: sm.max_privacy_lists must be 1..10000 and sm.max_privacy_items 1..100000");
        return -1;
    }
    sm->max_privacy_lists = (unsigned)pl;
    sm->max_privacy_items = (unsigned)pi;
    unsigned n = 0;
    for (unsigned s = 0; s < SLOT_COUNT; s++) {
        const char *owner = bus_sm_node(cfg, s);
        sm->owned[s] = owner && strcmp(owner, sm->node) == 0;
        n += sm->owned[s];
    }
    if (n == 0) log_warn("%s is not in sm.shards: it holds no user slots", sm->node);
    else log_info("serving %s, holding %u of %d slots", sm->domain, n, SLOT_COUNT);
    return 0;
}

/* Open modules, bus and Redis. 0/-1; what was opened stays for
 * shard_close. */
static int shard_open(sm_t *sm, int *mods)
{
    if (sm_mod_init(sm) < 0) {
        log_error("a module failed to start");
        return -1;
    }
    *mods = 1;
    xml_node *info = sm_disco_server_info();
    if (!info || sm_caps_ver(info, "sha-1", sm->caps_ver) < 0) sm->caps_ver[0] = '\0';
    xml_node_free(&info);
    sm->bus = bus_open(sm->loop, sm->cfg, sm->node, shard_on_env, sm);
    if (!sm->bus) return -1;
    sm->redis = sm_redis_open(sm->loop, sm->cfg, sm->node, &shard_redis_cb, sm);
    if (!sm->redis) return -1;
    sm->stats_timer = loop_add_timer(sm->loop, SHARD_STATS_MS, shard_stats, sm);
    return 0;
}

static void shard_close(sm_t *sm, int mods)
{
    loop_cancel_timer(sm->loop, sm->stats_timer);
    sm_redis_close(&sm->redis);
    bus_close(&sm->bus);
    if (mods) sm_mod_fini(sm);
    sm_session_free_all(sm);
}

int sm_run(const config_t *cfg, loop_t *loop, const char *node_id)
{
    sm_t *sm = calloc(1, sizeof *sm);
    if (!sm) return -1;
    int mods = 0, rc = sm_shard_init(sm, cfg, loop, node_id);
    if (rc == 0) rc = shard_open(sm, &mods);
    if (rc == 0) {
        rc = loop_run(loop);
        log_info("stopping with %u sessions of %zu users", sm->nsessions, sm->users.count);
    }
    shard_close(sm, mods);
    free(sm);
    return rc;
}
