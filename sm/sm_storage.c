/*
 * sm_storage.c - storage requests from the sm (see sm_storage.h).
 *
 * Writes nobody waits for are sent one-way: a reply would only be parsed
 * to log a failure the worker can log itself, and it would cost an
 * envelope through a router and a wakeup of this process (one per login:
 * the last presence is stored when the session ends).
 */
#include "sm_storage.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SM_STORAGE_TIMEOUT_MS 5000

typedef struct storage_wait {
    sm_t *sm;
    sm_storage_cb cb;
    void *ud;
    char op[32];                   /* for logs */
} storage_wait;

int sm_storage_ok(const json_t *reply)
{
    return reply && json_is_true(json_object_get(reply, "ok"));
}

static void storage_on_reply(void *ud, const env_hdr *h, const char *body, size_t len)
{
    storage_wait *w = ud;
    json_t *reply = h && h->type == ENV_STORAGE_RESP ? json_loadb(body, len, 0, NULL) : NULL;
    if (!reply)
        log_warn("storage %s: %s", w->op, !h ? "no answer" : h->type == ENV_UNROUTABLE ? "worker unreachable"
                                                                                          : "bad reply");
    w->cb(w->sm, w->ud, reply);
    json_decref(reply);
    free(w);
}

/* Send body one-way to the storage worker node. 0/-1. */
static int storage_send(sm_t *sm, const char *node, const char *body)
{
    env_hdr h = {0};
    h.type = ENV_STORAGE_REQ;
    h.trace = sm->trace;
    if (env_set_dest_node(&h, node) < 0) return -1;
    return bus_send(sm->bus, &h, body, strlen(body));
}

int sm_storage_call(sm_t *sm, const char *bare, json_t *req, sm_storage_cb cb, void *ud)
{
    const char *node = bus_storage_node(sm->cfg, bare);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    storage_wait *w = cb ? calloc(1, sizeof *w) : NULL;
    int rc = -1;
    if (node && body && !cb) {
        rc = storage_send(sm, node, body);
    } else if (node && body && w) {
        w->sm = sm;
        w->cb = cb;
        w->ud = ud;
        snprintf(w->op, sizeof w->op, "%s", json_string_value(json_object_get(req, "op")) ?: "?");
        env_hdr h = {0};
        h.type = ENV_STORAGE_REQ;
        h.trace = sm->trace;
        if (env_set_dest_node(&h, node) == 0 &&
            bus_request(sm->bus, &h, body, strlen(body), SM_STORAGE_TIMEOUT_MS, storage_on_reply, w) == 0)
            rc = 0;
    }
    if (rc < 0) {
        log_warn("storage request for %s could not be sent", bare);
        free(w);
    }
    free(body);
    json_decref(req);
    return rc;
}
