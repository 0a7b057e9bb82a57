/*
 * router.h - the stateless envelope switch.
 */
#ifndef XMPP_ROUTER_H
#define XMPP_ROUTER_H

#include "config.h"
#include "loop.h"

/* Bind the router socket named by node_id in cfg.routers and switch
 * envelopes until the loop stops. 0 on clean shutdown, -1 on error. */
int router_run(const config_t *cfg, loop_t *loop, const char *node_id);

#endif
