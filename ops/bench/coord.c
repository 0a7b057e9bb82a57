/*
 * coord.c - the coordinator process (see coord.h).
 *
 * It forks --procs workers, each with a pipe pair, and then only listens:
 * when every worker has reached the same barrier it samples the server
 * (CPU always, memory too), lets the scenario hold the barrier if it
 * wants (idle's hold), and releases all workers at once with "go <name>".
 * Results are merged as they come: counters summed, min_/max_ times
 * folded, latency samples concatenated. The whole run is bounded by
 * --max-time; on an error or the deadline every worker gets SIGTERM, and
 * SIGKILL 10 s later. Whatever happens, one JSON line is printed.
 */
#include "coord.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "scenario.h"
#include "worker.h"

#define REAP_GRACE_MS 10000

enum { W_RUN = 0, W_BARRIER, W_DONE, W_GONE };

typedef struct cworker {
    pid_t pid;          /* 0 once reaped */
    int to;             /* pipe to the worker ("go" lines) */
    int from;           /* pipe from the worker (messages) */
    buf_t in;           /* bytes read, not yet parsed */
    int state;          /* W_* */
    char barrier[32];   /* barrier it waits at */
} cworker;

typedef struct run {
    coord k;
    const scenario *sc;
    cworker *ws;
    unsigned nw;
    unsigned ndone;
    char error[512];    /* first error, "" if none */
    int holding;        /* a barrier is reached and held */
    uint64_t release_at;/* when to release it (us) */
    uint64_t next_tick; /* next scenario tick while holding (us) */
} run;

double coord_secs(uint64_t from_us, uint64_t to_us)
{
    return to_us > from_us ? (double)(to_us - from_us) / 1e6 : 0;
}

/* ---- accessors for scenarios ---- */

const coord_mark *coord_mark_get(const coord *k, const char *name)
{
    for (size_t i = 0; i < k->nmarks; i++)
        if (strcmp(k->marks[i].name, name) == 0) return &k->marks[i];
    return NULL;
}

uint64_t coord_count(const coord *k, const char *name)
{
    json_int_t v = json_integer_value(json_object_get(k->counters, name));
    return v > 0 ? (uint64_t)v : 0;
}

uint64_t coord_time(const coord *k, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(k->times, key));
    return v > 0 ? (uint64_t)v : 0;
}

void coord_sample_mem(coord *k)
{
    uint64_t rss, pss;
    int ok;
    if (!probe_active(&k->probe) || probe_mem(&k->probe, &rss, &pss, &ok) < 0) return;
    k->rss_last = rss;
    k->pss_last = pss;
    if (rss > k->rss_max) k->rss_max = rss;
    if (pss > k->pss_max) k->pss_max = pss;
    k->pss_ok = k->mem_samples ? (k->pss_ok && ok) : ok;
    k->mem_samples++;
}

void coord_put_latency(json_t *out, const char *key, stats_samples *s)
{
    stats_summary sum;
    if (stats_summarize(s, &sum) < 0) return;
    json_object_set_new(out, key,
                        json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)sum.n,
                                  "mean_ms", sum.mean_ms, "p50_ms", sum.p50_ms, "p90_ms",
                                  sum.p90_ms, "p99_ms", sum.p99_ms, "p999_ms", sum.p999_ms,
                                  "max_ms", sum.max_ms));
}

void coord_put_fails(json_t *out, const char *key, const coord *k, const char *prefix)
{
    json_t *o = json_object();
    char want[64];
    snprintf(want, sizeof want, "%s_fail_", prefix);
    size_t wl = strlen(want);
    const char *name;
    json_t *v;
    uint64_t total = 0;
    json_object_foreach(k->counters, name, v) {
        if (strncmp(name, want, wl) == 0) {
            json_object_set(o, name + wl, v);
            total += (uint64_t)json_integer_value(v);
        }
    }
    json_object_set_new(o, "total", json_integer((json_int_t)total));
    json_object_set_new(out, key, o);
}

double coord_put_server_cpu(json_t *out, const coord *k, const char *from, const char *to)
{
    const coord_mark *a = coord_mark_get(k, from), *b = coord_mark_get(k, to);
    if (!probe_active(&k->probe) || !a || !b) return -1;
    double cpu = b->cpu_s - a->cpu_s;
    if (cpu < 0) cpu = 0;
    json_object_set_new(out, "server_cpu_s", json_real(cpu));
    json_object_set_new(out, "server_procs", json_integer(b->procs));
    return cpu;
}

/* ---- workers ---- */

static void fail_run(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record the first error of the run; later ones are dropped. */
static void fail_run(run *r, const char *fmt, ...)
{
    va_list ap;
    if (r->error[0]) return;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

/* Fork the workers. 0/-1. */
static int spawn(run *r)
{
    const bench_opts *o = r->k.o;
    fflush(stdout);
    fflush(stderr);
    for (unsigned i = 0; i < r->nw; i++) {
        int to[2], from[2];
        if (pipe2(to, O_CLOEXEC) < 0) return -1;
        if (pipe2(from, O_CLOEXEC) < 0) {
            close(to[0]);
            close(to[1]);
            return -1;
        }
        unsigned first = (unsigned)((uint64_t)o->clients * i / r->nw);
        unsigned last = (unsigned)((uint64_t)o->clients * (i + 1) / r->nw);
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            for (unsigned j = 0; j < i; j++) {
                close(r->ws[j].to);
                close(r->ws[j].from);
            }
            close(to[1]);
            close(from[0]);
            int rc = worker_run(o, r->sc, i, first, last - first, to[0], from[1]);
            exit(rc);
        }
        close(to[0]);
        close(from[1]);
        fcntl(from[0], F_SETFL, O_NONBLOCK);
        r->ws[i].pid = pid;
        r->ws[i].to = to[1];
        r->ws[i].from = from[0];
    }
    return 0;
}

/* Fold a result message into the run. 0/-1. */
static int merge_result(run *r, json_t *m, const char *blob, size_t bloblen)
{
    coord *k = &r->k;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(m, "counters"), key, v) {
        json_int_t base = json_integer_value(json_object_get(k->counters, key));
        json_object_set_new(k->counters, key, json_integer(base + json_integer_value(v)));
    }
    json_object_foreach(json_object_get(m, "times"), key, v) {
        json_t *cur = json_object_get(k->times, key);
        json_int_t nv = json_integer_value(v);
        int is_min = strncmp(key, "min_", 4) == 0;
        if (!cur || (is_min ? nv < json_integer_value(cur) : nv > json_integer_value(cur)))
            json_object_set_new(k->times, key, json_integer(nv));
    }
    json_t *s = json_object_get(m, "samples");
    json_int_t nl = json_integer_value(json_object_get(s, "login"));
    json_int_t nm = json_integer_value(json_object_get(s, "msg"));
    if (nl < 0 || nm < 0 || (size_t)(nl + nm) * sizeof(uint32_t) != bloblen) return -1;
    const uint32_t *p = (const uint32_t *)(const void *)blob;
    uint32_t *tmp = NULL;
    if (bloblen && ((uintptr_t)blob % sizeof(uint32_t))) {  /* unaligned in the buffer */
        tmp = malloc(bloblen);
        if (!tmp) return -1;
        memcpy(tmp, blob, bloblen);
        p = tmp;
    }
    int rc = stats_append(&k->lat_login, p, (size_t)nl) == 0 &&
                     stats_append(&k->lat_msg, p + nl, (size_t)nm) == 0 ? 0 : -1;
    free(tmp);
    return rc;
}

static void on_message(run *r, unsigned i, json_t *m, const char *blob, size_t bloblen)
{
    cworker *w = &r->ws[i];
    const char *ev = json_string_value(json_object_get(m, "ev"));
    if (!ev) ev = "";
    if (strcmp(ev, "barrier") == 0 && w->state == W_RUN) {
        const char *name = json_string_value(json_object_get(m, "name"));
        snprintf(w->barrier, sizeof w->barrier, "%s", name ? name : "");
        w->state = W_BARRIER;
        if (r->k.o->verbose)
            fprintf(stderr, "xmpp-bench: worker %u at barrier %s (%lld online)\n", i, w->barrier,
                    (long long)json_integer_value(json_object_get(m, "online")));
    } else if (strcmp(ev, "result") == 0 && w->state == W_RUN) {
        if (merge_result(r, m, blob, bloblen) < 0) fail_run(r, "bad result from worker %u", i);
        w->state = W_DONE;
        r->ndone++;
    } else if (strcmp(ev, "error") == 0) {
        const char *msg = json_string_value(json_object_get(m, "msg"));
        fail_run(r, "%s (worker %u)", msg ? msg : "error", i);
    } else {
        fail_run(r, "unexpected message '%s' from worker %u", ev, i);
    }
}

/* Read what worker i has sent and handle complete messages. */
static void drain_worker(run *r, unsigned i)
{
    cworker *w = &r->ws[i];
    char tmp[65536];
    int eof = 0;
    for (int round = 0; round < 64; round++) {
        ssize_t n = read(w->from, tmp, sizeof tmp);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) {
            eof = 1;
            break;
        }
        if (buf_append(&w->in, tmp, (size_t)n) < 0) {
            fail_run(r, "out of memory reading worker %u", i);
            return;
        }
    }
    for (;;) {
        json_t *m = NULL;
        const char *blob;
        size_t bloblen, total;
        int rc = ctl_parse(&w->in, &m, &blob, &bloblen, &total);
        if (rc == 0) break;
        if (rc < 0) {
            fail_run(r, "garbled message from worker %u", i);
            break;
        }
        on_message(r, i, m, blob, bloblen);
        json_decref(m);
        buf_consume(&w->in, total);
    }
    if (eof) {     /* after the messages that came before it */
        if (w->state != W_DONE) {
            fail_run(r, "worker %u exited without a result", i);
            w->state = W_GONE;
        }
        close(w->from);
        w->from = -1;
    }
}

/* Every live worker waits at the same barrier: sample and hold it. */
static void check_barrier(run *r)
{
    const char *name = NULL;
    for (unsigned i = 0; i < r->nw; i++) {
        cworker *w = &r->ws[i];
        if (w->state == W_DONE) continue;
        if (w->state != W_BARRIER) return;
        if (name && strcmp(name, w->barrier) != 0) {
            fail_run(r, "workers disagree on the barrier (%s, worker %u)", w->barrier, i);
            return;
        }
        name = w->barrier;
    }
    if (!name) return;
    coord *k = &r->k;
    if (k->nmarks == COORD_MAX_MARKS) {
        fail_run(r, "too many barriers (%d)", COORD_MAX_MARKS);
        return;
    }
    coord_mark *mk = &k->marks[k->nmarks++];
    memset(mk, 0, sizeof *mk);
    snprintf(mk->name, sizeof mk->name, "%s", name);
    mk->t_arrive_us = bench_now_us();
    if (probe_active(&k->probe)) {
        probe_cpu(&k->probe, &mk->cpu_s, &mk->procs);
        probe_mem(&k->probe, &mk->rss, &mk->pss, &mk->pss_ok);
    }
    unsigned hold = r->sc->barrier ? r->sc->barrier(k, name) : 0;
    r->holding = 1;
    r->release_at = bench_now_us() + (uint64_t)hold * 1000u;
    r->next_tick = bench_now_us() + 1000000u;
}

static void release(run *r)
{
    coord_mark *mk = &r->k.marks[r->k.nmarks - 1];
    char line[64];
    int n = snprintf(line, sizeof line, "go %s\n", mk->name);
    mk->t_go_us = bench_now_us();
    r->holding = 0;
    for (unsigned i = 0; i < r->nw; i++) {
        cworker *w = &r->ws[i];
        if (w->state != W_BARRIER) continue;
        w->state = W_RUN;
        if (write(w->to, line, (size_t)n) != n) fail_run(r, "cannot release worker %u", i);
    }
}

/* Wait for the workers' results, releasing barriers on the way. */
static void supervise(run *r)
{
    const bench_opts *o = r->k.o;
    uint64_t deadline = bench_now_us() + (uint64_t)(o->max_time * 1e6);
    struct pollfd *pfd = calloc(r->nw, sizeof *pfd);
    unsigned *idx = calloc(r->nw, sizeof *idx);
    if (!pfd || !idx) fail_run(r, "out of memory");
    while (!r->error[0] && r->ndone < r->nw) {
        uint64_t now = bench_now_us();
        if (now >= deadline) {
            fail_run(r, "the run did not finish within --max-time (%.0f s)", o->max_time);
            break;
        }
        uint64_t wake = deadline;
        if (r->holding) {
            if (r->release_at < wake) wake = r->release_at;
            if (r->next_tick < wake) wake = r->next_tick;
        }
        int timeout = (int)((wake - now) / 1000u);
        if (timeout > 1000) timeout = 1000;
        nfds_t n = 0;
        for (unsigned i = 0; i < r->nw; i++) {
            if (r->ws[i].from < 0) continue;
            pfd[n] = (struct pollfd){.fd = r->ws[i].from, .events = POLLIN};
            idx[n++] = i;
        }
        if (n == 0) {
            fail_run(r, "every worker is gone");
            break;
        }
        int k = poll(pfd, n, timeout);
        if (k < 0 && errno != EINTR) {
            fail_run(r, "poll: %s", strerror(errno));
            break;
        }
        for (nfds_t j = 0; k > 0 && j < n; j++)
            if (pfd[j].revents) drain_worker(r, idx[j]);
        now = bench_now_us();
        if (r->holding) {
            if (now >= r->release_at) release(r);
            else if (now >= r->next_tick) {
                if (r->sc->tick) r->sc->tick(&r->k);
                r->next_tick = now + 1000000u;
            }
        }
        if (!r->holding) check_barrier(r);
    }
    free(pfd);
    free(idx);
}

/* Stop (if need be) and reap every worker, bounded. */
static void reap(run *r)
{
    if (r->error[0])
        for (unsigned i = 0; i < r->nw; i++)
            if (r->ws[i].pid > 0) kill(r->ws[i].pid, SIGTERM);
    uint64_t deadline = bench_now_us() + REAP_GRACE_MS * 1000u;
    for (;;) {
        unsigned left = 0;
        for (unsigned i = 0; i < r->nw; i++) {
            cworker *w = &r->ws[i];
            if (w->pid <= 0) continue;
            int st = 0;
            pid_t pid = w->pid, p = waitpid(pid, &st, WNOHANG);
            if (p == pid || (p < 0 && errno == ECHILD)) {
                w->pid = 0;
                if (p == pid && (!WIFEXITED(st) || WEXITSTATUS(st) != 0) && r->k.o->verbose)
                    fprintf(stderr, "xmpp-bench: worker %u: %s %d\n", i,
                            WIFEXITED(st) ? "exit status" : "killed by signal",
                            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                if (p == pid && !r->error[0] && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
                    fail_run(r, "worker %u exited with status %d", i, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            } else {
                left++;
            }
        }
        if (!left) break;
        if (bench_now_us() > deadline) {
            for (unsigned i = 0; i < r->nw; i++) {
                if (r->ws[i].pid <= 0) continue;
                kill(r->ws[i].pid, SIGKILL);
                waitpid(r->ws[i].pid, NULL, 0);
                r->ws[i].pid = 0;
            }
            break;
        }
        usleep(20000);
    }
    for (unsigned i = 0; i < r->nw; i++) {
        if (r->ws[i].to >= 0) close(r->ws[i].to);
        if (r->ws[i].from >= 0) close(r->ws[i].from);
        buf_free(&r->ws[i].in);
    }
}

/* ---- output ---- */

static json_t *params_json(const bench_opts *o)
{
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b}",
                          "scenario", o->scenario_name, "host", o->host, "port", (int)o->port,
                          "domain", o->domain, "tls", o->starttls ? "starttls" : "none", "mech",
                          sasl_mech_name(o->mech), "user_prefix", o->user_prefix, "resource",
                          o->resource, "clients", (int)o->clients, "procs", (int)o->procs,
                          "concurrency", (int)o->concurrency, "first_index", (int)o->first_index,
                          "src_addrs", (int)o->src_addrs, "register", o->reg);
    if (!p) return NULL;
    json_object_set_new(p, "presence", json_boolean(o->presence));
    json_object_set_new(p, "timeout_s", json_real(o->timeout));
    if (o->max_failures) json_object_set_new(p, "max_failures", json_integer(o->max_failures));
    json_object_set_new(p, "max_time_s", json_real(o->max_time));
    switch (o->scenario) {
    case BENCH_LOGIN: json_object_set_new(p, "warmup", json_boolean(o->warmup)); break;
    case BENCH_IDLE: json_object_set_new(p, "hold_s", json_real(o->hold)); break;
    case BENCH_MSG:
        json_object_set_new(p, "rate", json_real(o->rate));
        json_object_set_new(p, "window", json_integer(o->window));
        json_object_set_new(p, "duration_s", json_real(o->duration));
        json_object_set_new(p, "drain_s", json_real(o->drain));
        json_object_set_new(p, "body_size", json_integer(o->body_size));
        break;
    case BENCH_PRESENCE: json_object_set_new(p, "roster", json_integer(o->roster)); break;
    default: break;
    }
    if (o->server_pids) json_object_set_new(p, "server_pids", json_string(o->server_pids));
    if (o->npidfiles) {
        json_t *a = json_array();
        for (size_t i = 0; i < o->npidfiles; i++) json_array_append_new(a, json_string(o->pidfiles[i]));
        json_object_set_new(p, "server_pidfiles", a);
    }
    if (o->server_pids || o->npidfiles) json_object_set_new(p, "server_tree", json_boolean(o->server_tree));
    return p;
}

static double rusage_s(const struct rusage *u)
{
    return (double)u->ru_utime.tv_sec + u->ru_utime.tv_usec / 1e6 + (double)u->ru_stime.tv_sec +
           u->ru_stime.tv_usec / 1e6;
}

static void print_line(json_t *out)
{
    char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (s) printf("%s\n", s);
    else printf("{\"error\":\"cannot format the results\"}\n");
    fflush(stdout);
    free(s);
}

static const scenario *scenario_of(bench_scenario s)
{
    switch (s) {
    case BENCH_LOGIN: return &scenario_login;
    case BENCH_IDLE: return &scenario_idle;
    case BENCH_MSG: return &scenario_msg;
    case BENCH_PRESENCE: return &scenario_presence;
    default: return NULL;
    }
}

int coord_run(const bench_opts *o)
{
    if (o->scenario == BENCH_MUC) {
        printf("{\"scenario\":\"muc\",\"error\":\"not implemented\"}\n");
        return 1;
    }
    run r;
    memset(&r, 0, sizeof r);
    uint64_t t0 = bench_now_us();
    r.k.o = o;
    r.sc = scenario_of(o->scenario);
    r.nw = o->procs;
    r.k.counters = json_object();
    r.k.times = json_object();
    r.ws = calloc(r.nw, sizeof *r.ws);
    for (unsigned i = 0; r.ws && i < r.nw; i++) r.ws[i].to = r.ws[i].from = -1;
    char err[256] = "";
    signal(SIGPIPE, SIG_IGN);
    if (!r.ws || !r.k.counters || !r.k.times) snprintf(r.error, sizeof r.error, "out of memory");
    else if (probe_init(&r.k.probe, o->server_pids, o->pidfiles, o->npidfiles, o->server_tree, err,
                        sizeof err) < 0)
        snprintf(r.error, sizeof r.error, "%s", err);
    else if (spawn(&r) < 0)
        snprintf(r.error, sizeof r.error, "cannot start the workers: %s", strerror(errno));
    else
        supervise(&r);
    if (r.ws) reap(&r);

    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(o->scenario_name));
    if (!r.error[0]) r.sc->finish(&r.k, out);
    else json_object_set_new(out, "error", json_string(r.error));
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    json_object_set_new(out, "gen_cpu_s", json_real(rusage_s(&self) + rusage_s(&kids)));
    json_object_set_new(out, "gen_cpu_measure_s",
                        json_real((double)coord_count(&r.k, "gen_cpu_measure_us") / 1e6));
    json_object_set_new(out, "elapsed_s", json_real(coord_secs(t0, bench_now_us())));
    json_object_set_new(out, "params", params_json(o));
    print_line(out);
    json_decref(out);

    json_decref(r.k.counters);
    json_decref(r.k.times);
    stats_free(&r.k.lat_login);
    stats_free(&r.k.lat_msg);
    probe_free(&r.k.probe);
    free(r.ws);
    return r.error[0] ? 1 : 0;
}
