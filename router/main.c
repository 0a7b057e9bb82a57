/*
 * main.c - xmpp-router: start-up only; the switch is in router.c.
 */
#include "proc.h"
#include "router.h"

int main(int argc, char **argv)
{
    proc_t p;
    if (proc_init(&p, "router", argc, argv) < 0) return 2;
    int rc = router_run(p.cfg, p.loop, p.node_id);
    proc_fini(&p);
    return rc == 0 ? 0 : 1;
}
