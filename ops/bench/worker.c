/*
 * worker.c - a worker process (see worker.h).
 *
 * The worker owns an event loop (proto/loop.c), its clients, one shared
 * SSL_CTX and one read buffer. Client events come here first: the pool
 * counts logins and failures and keeps `concurrency` logins in flight,
 * then the scenario sees the event. The coordinator is a pipe: barrier
 * releases arrive as "go <name>" lines, an EOF means the coordinator is
 * gone and the worker stops at once.
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ctl.h"
#include "scenario.h"

#define RBUF_SIZE 65536

static void pool_fill(worker *w);

/* ---- deferred steps ---- */

typedef struct later {
    worker *w;
    worker_step step;
} later;

static void later_fire(loop_t *l, uint64_t id, void *ud)
{
    later *t = ud;
    worker *w = t->w;
    worker_step step = t->step;
    free(t);
    if (!w->failed) step(w);
}

void worker_later(worker *w, worker_step step)
{
    later *t = malloc(sizeof *t);
    if (!t || !loop_add_timer(w->loop, 0, later_fire, t)) {
        free(t);
        worker_fail(w, "out of memory");
        return;
    }
    t->w = w;
    t->step = step;
}

/* ---- results ---- */

void worker_count(worker *w, const char *name, uint64_t v)
{
    json_t *cur = json_object_get(w->counters, name);
    json_int_t base = cur ? json_integer_value(cur) : 0;
    json_object_set_new(w->counters, name, json_integer(base + (json_int_t)v));
}

void worker_time(worker *w, const char *key, uint64_t us)
{
    json_t *cur = json_object_get(w->times, key);
    if (cur) {
        json_int_t old = json_integer_value(cur);
        int is_min = strncmp(key, "min_", 4) == 0;
        if (is_min ? (json_int_t)us >= old : (json_int_t)us <= old) return;
    }
    json_object_set_new(w->times, key, json_integer((json_int_t)us));
}

void worker_count_pool(worker *w, const char *prefix)
{
    char name[96];
    uint64_t failed = 0;
    for (int f = 0; f < CF_COUNT; f++) {
        if (!w->pool.fails[f]) continue;
        snprintf(name, sizeof name, "%s_fail_%s", prefix, client_fail_name((client_fail)f));
        worker_count(w, name, w->pool.fails[f]);
        failed += w->pool.fails[f];
    }
    snprintf(name, sizeof name, "%s_ok", prefix);
    worker_count(w, name, w->pool.ok);
    if (w->pool.skipped) {
        snprintf(name, sizeof name, "%s_skipped", prefix);
        worker_count(w, name, w->pool.skipped);
    }
    snprintf(name, sizeof name, "%s_failed", prefix);
    worker_count(w, name, failed);
}

static uint64_t rusage_us(const struct rusage *r)
{
    return (uint64_t)r->ru_utime.tv_sec * 1000000u + (uint64_t)r->ru_utime.tv_usec +
           (uint64_t)r->ru_stime.tv_sec * 1000000u + (uint64_t)r->ru_stime.tv_usec;
}

void worker_finish(worker *w)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    worker_count(w, "gen_cpu_total_us", rusage_us(&ru));
    worker_count(w, "scram_cache_misses", w->env.scram_misses);
    worker_count(w, "bytes_in", w->env.bytes_in);
    worker_count(w, "bytes_out", w->env.bytes_out);
    size_t nl = w->lat_login.n, nm = w->lat_msg.n;
    size_t bytes = (nl + nm) * sizeof(uint32_t);
    uint32_t *blob = bytes ? malloc(bytes) : NULL;
    if (bytes && !blob) {
        worker_fail(w, "out of memory for %zu samples", nl + nm);
        return;
    }
    if (nl) memcpy(blob, w->lat_login.v, nl * sizeof *blob);
    if (nm) memcpy(blob + nl, w->lat_msg.v, nm * sizeof *blob);
    json_t *m = json_pack("{s:s, s:O, s:O, s:{s:I, s:I}}", "ev", "result", "counters", w->counters,
                          "times", w->times, "samples", "login", (json_int_t)nl, "msg",
                          (json_int_t)nm);
    if (!m || ctl_write(w->ctl_out, m, blob, bytes) < 0) w->failed = 1;
    json_decref(m);
    free(blob);
    loop_stop(w->loop);
}

void worker_fail(worker *w, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->failed) return;
    w->failed = 1;
    json_t *m = json_pack("{s:s, s:s, s:i}", "ev", "error", "msg", msg, "worker", (int)w->id);
    if (m) ctl_write(w->ctl_out, m, NULL, 0);
    json_decref(m);
    if (w->loop) loop_stop(w->loop);
}

/* ---- barriers ---- */

void worker_barrier(worker *w, const char *name, worker_step next)
{
    snprintf(w->barrier, sizeof w->barrier, "%s", name);
    w->after_barrier = next;
    if (strcmp(name, "end") == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        worker_count(w, "gen_cpu_measure_us", rusage_us(&ru) - rusage_us(&w->ru_start));
    }
    json_t *m = json_pack("{s:s, s:s, s:I}", "ev", "barrier", "name", name, "online",
                          (json_int_t)w->online);
    if (!m || ctl_write(w->ctl_out, m, NULL, 0) < 0) {
        json_decref(m);
        w->failed = 1;
        loop_stop(w->loop);
        return;
    }
    json_decref(m);
}

static void on_go(worker *w, const char *name)
{
    if (!w->barrier[0] || strcmp(name, w->barrier) != 0) {
        worker_fail(w, "released from barrier '%s' while at '%s'", name, w->barrier);
        return;
    }
    w->barrier[0] = '\0';
    if (strcmp(name, "start") == 0) getrusage(RUSAGE_SELF, &w->ru_start);
    worker_step next = w->after_barrier;
    w->after_barrier = NULL;
    next(w);
}

static void on_ctl(loop_t *l, int fd, unsigned events, void *ud)
{
    worker *w = ud;
    char tmp[512];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {   /* the coordinator is gone: nobody to report to */
        w->failed = 1;
        loop_stop(l);
        return;
    }
    buf_append(&w->ctl_buf, tmp, (size_t)r);
    char *nl;
    while (!w->failed && (nl = memchr(buf_head(&w->ctl_buf), '\n', buf_pending(&w->ctl_buf)))) {
        *nl = '\0';
        char line[128];
        snprintf(line, sizeof line, "%s", buf_head(&w->ctl_buf));
        buf_consume(&w->ctl_buf, (size_t)(nl - buf_head(&w->ctl_buf)) + 1);
        if (strncmp(line, "go ", 3) == 0) on_go(w, line + 3);
        else worker_fail(w, "stopped by the coordinator (%s)", line);
    }
}

/* ---- client events ---- */

static void ev_ready(void *ud, client *c)
{
    worker *w = ud;
    worker_pool_state *p = &w->pool;
    if (!p->running) return;
    p->active--;
    p->finished++;
    p->ok++;
    p->t_last_us = bench_now_us();
    if (p->purpose == CLIENT_LOGIN) {
        c->online_flag = 1;
        w->online++;
        if (p->measure) stats_add(&w->lat_login, c->login_us);
        if (w->sc->ready) w->sc->ready(w, c);
    }
    pool_fill(w);
}

static void ev_failed(void *ud, client *c, client_fail why)
{
    worker *w = ud;
    worker_pool_state *p = &w->pool;
    if (!p->running) return;
    p->active--;
    p->finished++;
    p->fails[why]++;
    p->t_last_us = bench_now_us();
    if (w->o->verbose > 1)
        fprintf(stderr, "xmpp-bench: %s%u: %s\n", w->o->user_prefix, c->user, client_fail_name(why));
    pool_fill(w);
}

static void ev_closed(void *ud, client *c, int clean)
{
    worker *w = ud;
    if (c->online_flag) {
        c->online_flag = 0;
        w->online--;
    }
    if (!clean) {
        w->disconnects++;
        if (w->sc->lost) w->sc->lost(w, c);
    }
    if (w->pool.closing && w->pool.close_pending && --w->pool.close_pending == 0) {
        w->pool.closing = 0;
        worker_later(w, w->pool.done);
    }
}

static void ev_stanza(void *ud, client *c, const xs_el *el)
{
    worker *w = ud;
    if (w->sc->stanza) w->sc->stanza(w, c, el);
}

static const client_events worker_events = {ev_ready, ev_failed, ev_closed, ev_stanza};

/* ---- phases ---- */

/* Has this worker's share of --max-failures failed? Against a server that
 * stopped accepting, every further login would wait --timeout. */
static int pool_gave_up(const worker *w)
{
    const bench_opts *o = w->o;
    if (!o->max_failures) return 0;
    uint64_t failed = 0;
    for (int f = 0; f < CF_COUNT; f++) failed += w->pool.fails[f];
    return failed >= (o->max_failures + o->procs - 1) / o->procs;
}

static void pool_fill(worker *w)
{
    worker_pool_state *p = &w->pool;
    if (p->running && p->next < w->n && pool_gave_up(w)) {
        p->skipped += w->n - p->next;
        p->finished += w->n - p->next;
        p->next = w->n;
    }
    while (p->active < p->conc && p->next < w->n) {
        client *c = &w->clients[p->next++];
        if (c->state != CS_IDLE) {          /* already online: nothing to do */
            p->finished++;
            continue;
        }
        if (client_start(c, p->purpose, p->presence) < 0) {
            p->fails[CF_CONNECT]++;
            p->finished++;
            continue;
        }
        p->active++;
    }
    if (p->running && p->finished == w->n) {
        p->running = 0;
        worker_later(w, p->done);
    }
}

void worker_pool(worker *w, client_purpose purpose, int presence, int measure, worker_step done)
{
    worker_pool_state *p = &w->pool;
    unsigned conc = p->conc;
    memset(p, 0, sizeof *p);
    p->conc = conc;
    p->done = done;
    p->purpose = purpose;
    p->presence = (uint8_t)presence;
    p->measure = (uint8_t)measure;
    p->running = 1;
    pool_fill(w);
}

void worker_close_all(worker *w, worker_step done)
{
    worker_pool_state *p = &w->pool;
    p->done = done;
    p->closing = 1;
    p->close_pending = 0;
    for (unsigned i = 0; i < w->n; i++) {
        client *c = &w->clients[i];
        if (c->state == CS_ONLINE || c->state == CS_CLOSING) {
            p->close_pending++;
            client_close(c);
        } else if (c->state != CS_IDLE) {
            client_abort(c);
        }
    }
    if (p->close_pending == 0) {
        p->closing = 0;
        worker_later(w, done);
    }
}

/* ---- process ---- */

static void on_deadline(loop_t *l, uint64_t id, void *ud)
{
    worker_fail(ud, "worker did not finish within --max-time");
}

static void first_step(worker *w)
{
    w->sc->start(w);
}

/* Everything a worker needs before its loop runs. 0/-1. */
static int worker_setup(worker *w)
{
    const bench_opts *o = w->o;
    w->loop = loop_new();
    w->env.rbuf = malloc(RBUF_SIZE);
    w->clients = calloc(w->n ? w->n : 1, sizeof *w->clients);
    w->counters = json_object();
    w->times = json_object();
    if (!w->loop || !w->env.rbuf || !w->clients || !w->counters || !w->times) return -1;
    if (o->starttls && !(w->env.ssl_ctx = client_tls_ctx())) return -1;
    w->env.loop = w->loop;
    w->env.o = o;
    w->env.rbuf_size = RBUF_SIZE;
    w->env.ev = &worker_events;
    w->env.ud = w;
    unsigned srcs = o->src_addrs ? o->src_addrs : 1;
    for (unsigned i = 0; i < w->n; i++)
        client_init(&w->clients[i], &w->env, i, o->first_index + w->first + i, (w->first + i) % srcs);
    w->pool.conc = (o->concurrency + o->procs - 1) / o->procs;
    if (w->pool.conc == 0) w->pool.conc = 1;
    if (loop_add_hook(w->loop, client_flush_dirty, &w->env) < 0 ||
        loop_add_fd(w->loop, w->ctl_in, LOOP_READ, on_ctl, w) < 0 ||
        !loop_add_timer(w->loop, (uint64_t)((o->max_time + 30) * 1000), on_deadline, w))
        return -1;
    worker_later(w, first_step);
    return 0;
}

static void worker_cleanup(worker *w)
{
    for (unsigned i = 0; w->clients && i < w->n; i++) client_free(&w->clients[i]);
    free(w->clients);
    free(w->env.rbuf);
    if (w->env.ssl_ctx) SSL_CTX_free(w->env.ssl_ctx);
    json_decref(w->counters);
    json_decref(w->times);
    stats_free(&w->lat_login);
    stats_free(&w->lat_msg);
    buf_free(&w->ctl_buf);
    loop_free(&w->loop);
}

int worker_run(const bench_opts *o, const scenario *sc, unsigned id, unsigned first, unsigned n,
               int ctl_in, int ctl_out)
{
    worker w;
    memset(&w, 0, sizeof w);
    w.o = o;
    w.sc = sc;
    w.id = id;
    w.first = first;
    w.n = n;
    w.ctl_in = ctl_in;
    w.ctl_out = ctl_out;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (worker_setup(&w) < 0) worker_fail(&w, "worker setup failed (out of memory or fds)");
    else if (loop_run(w.loop) < 0) worker_fail(&w, "event loop failed: %s", strerror(errno));
    int failed = w.failed;
    worker_cleanup(&w);
    return failed ? 1 : 0;
}
