/*
 * main.c - xmpp-sm: start-up only; the shard is in shard.c.
 */
#include "proc.h"
#include "shard.h"

int main(int argc, char **argv)
{
    proc_t p;
    if (proc_init(&p, "sm", argc, argv) < 0) return 2;
    int rc = sm_run(p.cfg, p.loop, p.node_id);
    proc_fini(&p);
    return rc == 0 ? 0 : 1;
}
