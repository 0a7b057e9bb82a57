/*
 * proc.h - what every server process does before its loop runs: parse
 * `-c <config> -n <node-id>`, load the cluster config, start logging with
 * the node id, make the event loop, stop it on SIGTERM/SIGINT, ignore
 * SIGPIPE.
 */
#ifndef XMPP_PROC_H
#define XMPP_PROC_H

#include "config.h"
#include "loop.h"

typedef struct proc {
    const char *role;      /* "c2s", "sm", ... (for usage text) */
    const char *node_id;   /* from -n */
    config_t *cfg;         /* loaded config, owned */
    loop_t *loop;          /* owned */
} proc_t;

/* Returns 0, or -1 after printing a usage or config error to stderr. */
int proc_init(proc_t *p, const char *role, int argc, char **argv);
void proc_fini(proc_t *p);

#endif
