/*
 * main.c - xmpp-storage-worker: start-up only. proc_init parses
 * `-c <config> -n <node-id>`, loads the config, starts logging and makes
 * the loop that SIGTERM/SIGINT stop; worker.c does the work. Everything is
 * freed before a clean exit with status 0.
 */
#include "log.h"
#include "proc.h"
#include "worker.h"

int main(int argc, char **argv)
{
    proc_t p;
    char err[512];
    int rc = 1;
    if (proc_init(&p, "storage-worker", argc, argv) < 0) return 1;
    worker_t *w = worker_new(p.loop, p.cfg, p.node_id, err, sizeof err);
    if (!w) {
        log_error("%s", err);
    } else {
        rc = loop_run(p.loop) == 0 ? 0 : 1;
    }
    worker_free(&w);
    proc_fini(&p);
    return rc;
}
