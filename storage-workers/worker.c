/*
 * worker.c - the storage worker process: bus in, database out.
 *
 * The worker is one node on the bus. Each STORAGE_REQ envelope carries a
 * JSON request (ops.h); the worker runs it synchronously against its
 * database handle (this process exists so that the blocking database call
 * happens here, not on another process's loop) and answers with a
 * STORAGE_RESP that carries the same request id. A request without an id
 * is one-way: it runs the same, but nobody waits for it, so it gets no
 * reply and any failure is logged here at warn. Requests for one user are
 * sent to one worker (bus_storage_node), so they are served in order.
 *
 * Envelopes of any other type are logged by name and dropped; a body that
 * is not valid JSON gets a bad-request reply. Nothing a peer sends can stop
 * the process.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "driver.h"
#include "log.h"
#include "ops.h"

struct worker {
    bus_t *bus;             /* owned; our link to the routers */
    const driver_t *drv;    /* driver vtable */
    void *db;               /* owned; the database handle */
    ops_ctx ops;            /* drv + db for ops_handle */
    unsigned long served;   /* requests answered */
    unsigned long dropped;  /* envelopes dropped */
};

/* Sent when even the reply cannot be built. */
static const char worker_oom_reply[] = "{\"ok\":false,\"code\":\"internal\",\"error\":\"out of memory\"}";

static double worker_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One log line per request: failures the client caused at warn, storage
 * failures at error (ops.c logged the detail), the rest at debug; any
 * failure of a one-way request at warn at least, as this line is the only
 * trace of it. */
static void worker_log(const env_hdr *h, const char *op, const json_t *reply, double ms)
{
    const char *code = ops_reply_code(reply);
    const char *text = json_string_value(json_object_get(reply, "error"));
    log_level level = LOG_DEBUG;
    if (code && (strcmp(code, "bad-request") == 0 || h->req == 0)) level = LOG_WARN;
    if (!reply || (code && strcmp(code, "internal") == 0)) level = LOG_ERROR;
    if (!log_enabled(level)) return;
    log_msg(level, h->trace, "%s from %s req %u: %s%s%s (%.2f ms)", op, h->src, (unsigned)h->req,
            reply ? (code ? code : "ok") : "out of memory", text ? ": " : "", text ? text : "", ms);
}

/* Send the reply to the request h. */
static void worker_reply(struct worker *w, const env_hdr *h, const char *op, const json_t *reply)
{
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    const char *out = text ? text : worker_oom_reply;
    if (bus_reply(w->bus, h, ENV_STORAGE_RESP, 0, out, strlen(out)) < 0) {
        log_msg(LOG_WARN, h->trace, "%s from %s req %u: reply could not be sent", op, h->src, (unsigned)h->req);
    }
    free(text);
}

/* Run one request and send its reply, unless it is one-way (req 0). */
static void worker_serve(struct worker *w, const env_hdr *h, const char *body, size_t len)
{
    struct timespec t0;
    char op[48];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_t *reply = ops_handle(&w->ops, body, len, op, sizeof op);
    if (h->req != 0) worker_reply(w, h, op, reply);
    worker_log(h, op, reply, worker_ms_since(&t0));
    w->served++;
    json_decref(reply);
}

/* bus_msg_cb: the one dispatch function for envelopes from the bus. */
static void worker_on_msg(void *ud, const env_hdr *h, const char *body, size_t len)
{
    struct worker *w = ud;
    if (h->type == ENV_STORAGE_REQ) {
        worker_serve(w, h, body, len);
        return;
    }
    w->dropped++;
    if (h->type == ENV_UNROUTABLE) {
        log_msg(LOG_INFO, h->trace, "a reply could not be delivered (the requester is gone)");
    } else {
        log_msg(LOG_WARN, h->trace, "unexpected %s from %s: dropped", env_type_name(h->type), h->src);
    }
}

/* Non-zero if node_id is listed in storage.workers. */
static int worker_listed(const config_t *cfg, const char *node_id)
{
    json_t *list = config_get(cfg, "storage.workers");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), node_id) == 0) return 1;
    }
    return 0;
}

/* Open and migrate the database. 0, or -1 with err set. */
static int worker_open_db(struct worker *w, const config_t *cfg, char *err, size_t errsz)
{
    const char *name = config_str(cfg, "storage.driver", "sqlite");
    int version = 0;
    w->drv = driver_find(name);
    if (!w->drv) {
        snprintf(err, errsz, "storage.driver: unknown driver \"%s\"", name);
        return -1;
    }
    w->db = w->drv->open(cfg, err, errsz);
    if (!w->db) return -1;
    if (w->drv->migrate(w->db, &version) != DRIVER_OK) {
        snprintf(err, errsz, "migrations: %s", w->drv->last_error(w->db));
        return -1;
    }
    log_info("%s database at schema version %d", w->drv->name, version);
    w->ops.drv = w->drv;
    w->ops.db = w->db;
    return 0;
}

worker_t *worker_new(loop_t *l, const config_t *cfg, const char *node_id, char *err, size_t errsz)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    if (!worker_listed(cfg, node_id)) {
        log_warn("%s is not listed in storage.workers: no requests will be routed to it", node_id);
    }
    if (worker_open_db(w, cfg, err, errsz) < 0) {
        worker_free(&w);
        return NULL;
    }
    w->bus = bus_open(l, cfg, node_id, worker_on_msg, w);
    if (!w->bus) {
        snprintf(err, errsz, "cannot open the bus as %s", node_id);
        worker_free(&w);
        return NULL;
    }
    log_info("ready");
    return w;
}

void worker_free(worker_t **wp)
{
    struct worker *w = wp ? *wp : NULL;
    if (!w) return;
    if (w->bus) {
        bus_close(&w->bus);
        log_info("stopped after %lu requests (%lu envelopes dropped)", w->served, w->dropped);
    }
    if (w->db) w->drv->close(&w->db);
    free(w);
    *wp = NULL;
}
