/*
 * proc.c - common process start-up (see proc.h).
 */
#include "proc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void proc_on_signal(loop_t *l, int signo, void *ud)
{
    log_info("signal %d: shutting down", signo);
    loop_stop(l);
}

static void proc_usage(const char *role)
{
    fprintf(stderr, "usage: xmpp-%s -c <cluster.yaml> -n <node-id>\n", role);
}

int proc_init(proc_t *p, const char *role, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->role = role;
    const char *cfgpath = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "c:n:h")) != -1) {
        if (opt == 'c') cfgpath = optarg;
        else if (opt == 'n') p->node_id = optarg;
        else { proc_usage(role); return -1; }
    }
    if (!cfgpath || !p->node_id || optind != argc) {
        proc_usage(role);
        return -1;
    }
    char err[512];
    p->cfg = config_load(cfgpath, err, sizeof err);
    if (!p->cfg) {
        fprintf(stderr, "xmpp-%s: config error: %s\n", role, err);
        return -1;
    }
    int level = log_level_parse(config_str(p->cfg, "log_level", "info"));
    log_init(p->node_id, level < 0 ? LOG_INFO : (log_level)level);
    signal(SIGPIPE, SIG_IGN);
    p->loop = loop_new();
    if (!p->loop || loop_add_signal(p->loop, SIGTERM, proc_on_signal, NULL) < 0 ||
        loop_add_signal(p->loop, SIGINT, proc_on_signal, NULL) < 0) {
        fprintf(stderr, "xmpp-%s: cannot create event loop\n", role);
        proc_fini(p);
        return -1;
    }
    return 0;
}

void proc_fini(proc_t *p)
{
    loop_free(&p->loop);
    config_free(&p->cfg);
}
