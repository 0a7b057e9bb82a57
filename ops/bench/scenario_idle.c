/*
 * scenario_idle.c - log N clients in and hold them: memory per connection.
 *
 * Workers: [register] -> barrier "start" (the coordinator samples the
 * server's memory before anyone connects) -> logins -> barrier "end",
 * which the coordinator holds for --hold seconds while it samples the
 * server's RSS and PSS every second -> close. Figures: bytes per
 * connection from the last sample during the hold (and from the peak),
 * connections that failed or were dropped while held.
 */
#include <string.h>

#include "scenario.h"

static void idle_closed(worker *w)
{
    worker_count(w, "disconnects", w->disconnects);
    worker_finish(w);
}

static void idle_release(worker *w)
{
    worker_count(w, "held_at_end", w->online);
    worker_close_all(w, idle_closed);
}

static void idle_logged_in(worker *w)
{
    worker_count_pool(w, "login");
    if (w->pool.ok) worker_time(w, "max_login_done_us", w->pool.t_last_us);
    worker_barrier(w, "end", idle_release);
}

static void idle_go(worker *w)
{
    w->disconnects = 0;
    worker_pool(w, CLIENT_LOGIN, w->o->presence, 1, idle_logged_in);
}

static void idle_prepared(worker *w)
{
    worker_barrier(w, "start", idle_go);
}

static void idle_start(worker *w)
{
    scenario_prepare(w, idle_prepared);
}

static unsigned idle_barrier(coord *k, const char *name)
{
    if (strcmp(name, "end") != 0) return 0;
    coord_sample_mem(k);
    return (unsigned)(k->o->hold * 1000);
}

static void idle_tick(coord *k)
{
    coord_sample_mem(k);
}

static void put_per_conn(json_t *out, const char *key, uint64_t before, uint64_t during, uint64_t n)
{
    double v = n && during > before ? (double)(during - before) / (double)n : 0;
    json_object_set_new(out, key, json_real(v));
}

static void idle_finish(coord *k, json_t *out)
{
    uint64_t ok = coord_count(k, "login_ok");
    const coord_mark *start = coord_mark_get(k, "start");
    json_object_set_new(out, "connected", json_integer((json_int_t)ok));
    json_object_set_new(out, "logins_failed", json_integer((json_int_t)coord_count(k, "login_failed")));
    coord_put_fails(out, "login_failures", k, "login");
    json_object_set_new(out, "logins_not_attempted", json_integer((json_int_t)coord_count(k, "login_skipped")));
    if (k->o->reg) {
        json_object_set_new(out, "register_ok", json_integer((json_int_t)coord_count(k, "register_ok")));
        coord_put_fails(out, "register_failures", k, "register");
    }
    json_object_set_new(out, "held_at_end", json_integer((json_int_t)coord_count(k, "held_at_end")));
    json_object_set_new(out, "disconnects", json_integer((json_int_t)coord_count(k, "disconnects")));
    uint64_t last = coord_time(k, "max_login_done_us");
    double secs = start ? coord_secs(start->t_go_us, last) : 0;
    json_object_set_new(out, "logins_per_s", json_real(secs > 0 ? (double)ok / secs : 0));
    coord_put_latency(out, "login_latency", &k->lat_login);
    json_object_set_new(out, "hold_s", json_real(k->o->hold));
    if (probe_active(&k->probe) && start && k->mem_samples) {
        json_object_set_new(out, "server_rss_before", json_integer((json_int_t)start->rss));
        json_object_set_new(out, "server_rss_hold", json_integer((json_int_t)k->rss_last));
        json_object_set_new(out, "server_rss_hold_max", json_integer((json_int_t)k->rss_max));
        put_per_conn(out, "rss_bytes_per_conn", start->rss, k->rss_last, ok);
        put_per_conn(out, "rss_bytes_per_conn_max", start->rss, k->rss_max, ok);
        if (start->pss_ok && k->pss_ok) {
            json_object_set_new(out, "server_pss_before", json_integer((json_int_t)start->pss));
            json_object_set_new(out, "server_pss_hold", json_integer((json_int_t)k->pss_last));
            put_per_conn(out, "pss_bytes_per_conn", start->pss, k->pss_last, ok);
        }
        json_object_set_new(out, "memory_samples", json_integer(k->mem_samples));
    }
    coord_put_server_cpu(out, k, "start", "end");
}

const scenario scenario_idle = {
    .name = "idle",
    .start = idle_start,
    .barrier = idle_barrier,
    .tick = idle_tick,
    .finish = idle_finish,
};
