/*
 * scenario_login.c - N clients log in, at most --concurrency at a time.
 *
 * Workers: [register] -> [warm-up: every user logs in once and out again,
 * which fills the SCRAM key cache and the server's caches] -> barrier
 * "start" -> measured logins (latency from connect() to the bind result)
 * -> barrier "end" -> close. Figures: logins/s over the time from the
 * release of "start" to the last login, latency percentiles, failures by
 * reason, server CPU per login.
 */
#include <stdio.h>

#include "scenario.h"

static uint64_t misses_at_start;   /* this worker's SCRAM misses before "start" */

static void login_closed(worker *w)
{
    worker_count(w, "disconnects", w->disconnects);
    worker_finish(w);
}

static void login_end(worker *w)
{
    worker_close_all(w, login_closed);
}

static void login_done(worker *w)
{
    worker_count_pool(w, "login");
    worker_count(w, "login_scram_misses", w->env.scram_misses - misses_at_start);
    if (w->pool.ok) worker_time(w, "max_login_done_us", w->pool.t_last_us);
    worker_barrier(w, "end", login_end);
}

static void login_go(worker *w)
{
    misses_at_start = w->env.scram_misses;
    w->disconnects = 0;
    worker_pool(w, CLIENT_LOGIN, w->o->presence, 1, login_done);
}

static void warm_closed(worker *w)
{
    worker_barrier(w, "start", login_go);
}

static void warm_done(worker *w)
{
    worker_count_pool(w, "warmup");
    worker_close_all(w, warm_closed);
}

static void login_warmup(worker *w)
{
    if (w->o->warmup) worker_pool(w, CLIENT_LOGIN, 0, 0, warm_done);
    else worker_barrier(w, "start", login_go);
}

static void login_start(worker *w)
{
    scenario_prepare(w, login_warmup);
}

static void login_finish(coord *k, json_t *out)
{
    const coord_mark *start = coord_mark_get(k, "start");
    uint64_t ok = coord_count(k, "login_ok");
    uint64_t last = coord_time(k, "max_login_done_us");
    double secs = start ? coord_secs(start->t_go_us, last) : 0;
    json_object_set_new(out, "logins_ok", json_integer((json_int_t)ok));
    json_object_set_new(out, "logins_failed", json_integer((json_int_t)coord_count(k, "login_failed")));
    json_object_set_new(out, "logins_per_s", json_real(secs > 0 ? (double)ok / secs : 0));
    json_object_set_new(out, "login_phase_s", json_real(secs));
    coord_put_latency(out, "login_latency", &k->lat_login);
    coord_put_fails(out, "login_failures", k, "login");
    if (k->o->warmup) {
        json_object_set_new(out, "warmup_ok", json_integer((json_int_t)coord_count(k, "warmup_ok")));
        coord_put_fails(out, "warmup_failures", k, "warmup");
    }
    if (k->o->reg) {
        json_object_set_new(out, "register_ok", json_integer((json_int_t)coord_count(k, "register_ok")));
        coord_put_fails(out, "register_failures", k, "register");
    }
    json_object_set_new(out, "scram_cache_misses_measured",
                        json_integer((json_int_t)coord_count(k, "login_scram_misses")));
    json_object_set_new(out, "disconnects", json_integer((json_int_t)coord_count(k, "disconnects")));
    double cpu = coord_put_server_cpu(out, k, "start", "end");
    if (cpu >= 0 && ok) {
        json_object_set_new(out, "server_cpu_s_per_login", json_real(cpu / (double)ok));
        json_object_set_new(out, "server_cpu_ms_per_login", json_real(cpu * 1000 / (double)ok));
        json_object_set_new(out, "logins_per_server_cpu_s", json_real(cpu > 0 ? (double)ok / cpu : 0));
    }
}

const scenario scenario_login = {
    .name = "login",
    .start = login_start,
    .finish = login_finish,
};
