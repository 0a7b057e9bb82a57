/*
 * worker.h - one worker process: its clients, its event loop and the
 * phases a scenario strings together.
 *
 * A scenario drives a worker through steps (worker_step callbacks):
 * worker_pool() logs in (or registers) every client with at most
 * `concurrency` logins in flight, worker_barrier() waits for the
 * coordinator to release a named barrier (so all workers start a
 * measurement together), worker_close_all() ends every connection
 * cleanly, and worker_finish() sends the results and stops the loop.
 * Each of them calls its step exactly once, from the event loop, never
 * from inside the call that started it.
 */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <stdint.h>
#include <sys/resource.h>

#include <jansson.h>

#include "bench.h"
#include "client.h"
#include "loop.h"
#include "stats.h"

typedef struct worker worker;
typedef struct scenario scenario;
typedef void (*worker_step)(worker *w);

/* State of the current login / registration / close phase. */
typedef struct worker_pool_state {
    worker_step done;          /* called when every client finished */
    unsigned next;             /* next client to start */
    unsigned active;           /* logins in progress */
    unsigned finished;         /* clients done, either way */
    unsigned ok;               /* clients that made it */
    unsigned skipped;          /* clients not started: --max-failures reached */
    unsigned conc;             /* concurrency limit of this worker */
    uint8_t running;           /* a login/registration phase is on */
    uint8_t closing;           /* a close phase is on */
    uint8_t measure;           /* record login latencies */
    uint8_t presence;          /* send initial presence */
    client_purpose purpose;    /* login or register */
    unsigned close_pending;    /* clients still closing */
    uint64_t fails[CF_COUNT];  /* failures by reason */
    uint64_t t_last_us;        /* when the last client finished */
} worker_pool_state;

struct worker {
    const bench_opts *o;
    const scenario *sc;
    unsigned id;               /* worker number, 0.. */
    unsigned first;            /* run position of the first client */
    unsigned n;                /* clients of this worker */
    client *clients;           /* n slots */
    client_env env;            /* shared by the clients */
    loop_t *loop;
    int ctl_in, ctl_out;       /* pipes from and to the coordinator */
    buf_t ctl_buf;             /* partial line from the coordinator */
    worker_pool_state pool;
    char barrier[32];          /* barrier waited for, "" if none */
    worker_step after_barrier; /* step once it is released */
    json_t *counters;          /* integer results, summed over workers */
    json_t *times;             /* "min_*" / "max_*" times (monotonic us) */
    stats_samples lat_login;   /* measured login latencies */
    stats_samples lat_msg;     /* message latencies */
    unsigned online;           /* clients online now */
    uint64_t disconnects;      /* online clients dropped by the server */
    struct rusage ru_start;    /* at the release of barrier "start" */
    worker_step prepared;      /* step after scenario_prepare() */
    int failed;                /* the run failed (error already sent) */
};

/* The body of a worker process: runs scenario sc for clients
 * [first, first + n) of the run and returns the exit status. */
int worker_run(const bench_opts *o, const scenario *sc, unsigned id, unsigned first, unsigned n,
               int ctl_in, int ctl_out);

/* Log in (purpose CLIENT_LOGIN) or register every idle client; then done.
 * measure: record login latencies in lat_login. */
void worker_pool(worker *w, client_purpose purpose, int presence, int measure, worker_step done);
/* Close every connection cleanly (bounded by the timeout); then done. */
void worker_close_all(worker *w, worker_step done);
/* Tell the coordinator this worker reached barrier name; next runs when
 * it releases it. "start" and "end" bracket the measured phase: the
 * worker's own CPU between them is reported. */
void worker_barrier(worker *w, const char *name, worker_step next);
/* Run step from the loop, soon. */
void worker_later(worker *w, worker_step step);
/* Add v to the summed counter name. */
void worker_count(worker *w, const char *name, uint64_t v);
/* Record a time: key "min_..." keeps the minimum over workers, "max_..."
 * the maximum. */
void worker_time(worker *w, const char *key, uint64_t us);
/* Add the current pool's failures as counters "<prefix>_fail_<reason>"
 * plus "<prefix>_ok" and "<prefix>_failed". */
void worker_count_pool(worker *w, const char *prefix);
/* Send the results and stop. */
void worker_finish(worker *w);
/* Send an error and stop; the run fails. */
void worker_fail(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
