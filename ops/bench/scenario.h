/*
 * scenario.h - what a scenario provides: worker-side steps and stanza
 * handling, coordinator-side sampling and the final figures.
 *
 * Every scenario follows the same shape. Workers: optional registration,
 * logins, barrier "start", the measured phase, barrier "end", closing,
 * results. Coordinator: at each barrier the server's CPU and memory are
 * sampled (coord.c), the scenario may hold the barrier (idle holds "end"
 * for --hold seconds and samples memory every second), and at the end it
 * turns the summed counters into the figures of the JSON line.
 */
#ifndef BENCH_SCENARIO_H
#define BENCH_SCENARIO_H

#include <jansson.h>

#include "client.h"
#include "coord.h"
#include "worker.h"

struct scenario {
    const char *name;
    /* worker side */
    void (*start)(worker *w);                             /* first step */
    void (*ready)(worker *w, client *c);                  /* a login completed (or NULL) */
    void (*stanza)(worker *w, client *c, const xs_el *el);/* stanza for an online client (or NULL) */
    void (*lost)(worker *w, client *c);                   /* server dropped an online client (or NULL) */
    /* coordinator side */
    unsigned (*barrier)(coord *k, const char *name);      /* ms to hold the barrier (or NULL) */
    void (*tick)(coord *k);                               /* every second while holding (or NULL) */
    void (*finish)(coord *k, json_t *out);                /* figures into out */
};

extern const scenario scenario_login;
extern const scenario scenario_idle;
extern const scenario scenario_msg;
extern const scenario scenario_presence;

/* Register the accounts if --register, then step next (worker side). */
void scenario_prepare(worker *w, worker_step next);

#endif
