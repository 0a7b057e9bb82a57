/*
 * ctl_cluster.h - xmppctl's short visit to the cluster: join the bus as a
 * transient node, wait for the routers, send requests and wait for their
 * replies by running the loop (a CLI may block; a server never does).
 */
#ifndef XMPP_CTL_CLUSTER_H
#define XMPP_CTL_CLUSTER_H

#include <stddef.h>
#include <jansson.h>

#include "bus.h"
#include "config.h"
#include "loop.h"

#define CTL_ROUTER_WAIT_MS 3000    /* how long to wait for the routers */
#define CTL_REQUEST_TIMEOUT_MS 5000 /* how long to wait for a reply */

typedef struct ctl_cluster {
    const config_t *cfg;           /* borrowed */
    loop_t *loop;                  /* owned */
    bus_t *bus;                    /* owned */
    char node[ENV_NODE_MAX + 1];   /* our node id, "ctl.<pid>" */
    uint64_t started;              /* loop_now() when the wait began */
    /* the request in flight */
    int done;                      /* the reply callback ran */
    unsigned reply_type;           /* envelope type of the reply, 0 = timeout */
    json_t *reply;                 /* parsed reply body, owned until handed out */
} ctl_cluster;

/* Join the cluster described by cfg and wait until every router listed
 * answers (or, after CTL_ROUTER_WAIT_MS, at least one). Returns 0, or -1
 * with a message in err (c is then closed). */
int ctl_cluster_open(ctl_cluster *c, const config_t *cfg, char *err, size_t errsz);

/* Send req (a JSON object, borrowed) as a STORAGE_REQ to node dest and
 * wait up to CTL_REQUEST_TIMEOUT_MS. Returns 0 with *reply set to the
 * reply object (caller releases it with json_decref), or -1 with a message
 * in err when no usable reply came. */
int ctl_cluster_storage(ctl_cluster *c, const char *dest, const json_t *req, json_t **reply,
                        char *err, size_t errsz);

/* Leave the cluster and free everything. Safe on a closed or zeroed c. */
void ctl_cluster_close(ctl_cluster *c);

#endif
