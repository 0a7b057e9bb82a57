/*
 * scenario.c - steps shared by the scenarios.
 */
#include "scenario.h"

static void registered(worker *w)
{
    worker_count_pool(w, "register");
    worker_step next = w->prepared;
    w->prepared = NULL;
    next(w);
}

void scenario_prepare(worker *w, worker_step next)
{
    if (!w->o->reg) {
        worker_later(w, next);
        return;
    }
    w->prepared = next;
    worker_pool(w, CLIENT_REGISTER, 0, 0, registered);
}
