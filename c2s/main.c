/*
 * main.c - xmpp-c2s: start-up only; see c2s.h for the modules.
 */
#include "c2s.h"
#include "proc.h"

int main(int argc, char **argv)
{
    proc_t p;
    if (proc_init(&p, "c2s", argc, argv) < 0) return 2;
    int rc = c2s_run(p.cfg, p.loop, p.node_id);
    proc_fini(&p);
    return rc == 0 ? 0 : 1;
}
