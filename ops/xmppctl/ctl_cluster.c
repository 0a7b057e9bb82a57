/*
 * ctl_cluster.c - xmppctl joins the cluster for one command (see
 * ctl_cluster.h).
 *
 * The node id is "ctl.<pid>", so two operators never collide and routers
 * forget the node when it stops heartbeating. Waiting is done by running
 * the loop until a callback stops it: a poll timer for the routers' first
 * heartbeat answers, the bus's own request timeout for replies.
 */
#include "ctl_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define CTL_POLL_MS 20

/* bus_msg_cb: a CLI expects nothing but replies to its own requests. */
static void ctl_cluster_on_msg(void *ud, const env_hdr *h, const char *body, size_t len)
{
    log_debug("ignored %s from %s", env_type_name(h->type), h->src);
}

static int ctl_cluster_routers(const ctl_cluster *c)
{
    return (int)json_array_size(config_get(c->cfg, "routers"));
}

/* loop_timer_cb: stop the loop when every router is live or time is up. */
static void ctl_cluster_poll(loop_t *l, uint64_t id, void *ud)
{
    ctl_cluster *c = ud;
    if (bus_live_routers(c->bus) >= ctl_cluster_routers(c) ||
        loop_now(l) - c->started >= CTL_ROUTER_WAIT_MS ||
        loop_add_timer(l, CTL_POLL_MS, ctl_cluster_poll, c) == 0) {
        loop_stop(l);
    }
}

int ctl_cluster_open(ctl_cluster *c, const config_t *cfg, char *err, size_t errsz)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    snprintf(c->node, sizeof c->node, "ctl.%ld", (long)getpid());
    c->loop = loop_new();
    if (c->loop) c->bus = bus_open(c->loop, cfg, c->node, ctl_cluster_on_msg, c);
    if (!c->bus) {
        snprintf(err, errsz, "cannot join the cluster (check the routers in the config)");
        ctl_cluster_close(c);
        return -1;
    }
    c->started = loop_now(c->loop);
    if (loop_add_timer(c->loop, CTL_POLL_MS, ctl_cluster_poll, c) == 0 || loop_run(c->loop) < 0 ||
        bus_live_routers(c->bus) < 1) {
        snprintf(err, errsz, "no router answered within %d s — is the cluster running?",
                 CTL_ROUTER_WAIT_MS / 1000);
        ctl_cluster_close(c);
        return -1;
    }
    log_debug("%d of %d routers live", bus_live_routers(c->bus), ctl_cluster_routers(c));
    return 0;
}

/* bus_reply_cb: keep the reply and stop the loop. h == NULL on timeout. */
static void ctl_cluster_on_reply(void *ud, const env_hdr *h, const char *body, size_t len)
{
    ctl_cluster *c = ud;
    c->done = 1;
    c->reply_type = h ? h->type : 0;
    if (h && h->type == ENV_STORAGE_RESP) c->reply = json_loadb(body, len, 0, NULL);
    loop_stop(c->loop);
}

/* Turn the finished exchange into *reply or an error. 0/-1. */
static int ctl_cluster_result(ctl_cluster *c, const char *dest, json_t **reply, char *err, size_t errsz)
{
    if (c->reply_type == 0) {
        snprintf(err, errsz, "no storage worker answered within %d s — is the cluster running?",
                 CTL_REQUEST_TIMEOUT_MS / 1000);
    } else if (c->reply_type == ENV_UNROUTABLE) {
        snprintf(err, errsz, "storage worker %s is not connected to the cluster — is it running?", dest);
    } else if (c->reply_type != ENV_STORAGE_RESP) {
        snprintf(err, errsz, "unexpected %s reply from the cluster", env_type_name(c->reply_type));
    } else if (!json_is_object(c->reply)) {
        snprintf(err, errsz, "storage worker %s sent a malformed reply", dest);
    } else {
        *reply = c->reply;
        c->reply = NULL;
        return 0;
    }
    json_decref(c->reply);
    c->reply = NULL;
    return -1;
}

int ctl_cluster_storage(ctl_cluster *c, const char *dest, const json_t *req, json_t **reply,
                        char *err, size_t errsz)
{
    env_hdr h;
    memset(&h, 0, sizeof h);
    h.type = ENV_STORAGE_REQ;
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body || !dest || env_set_dest_node(&h, dest) < 0) {
        snprintf(err, errsz, "%s", body ? "storage.workers in the config is empty or invalid" : "out of memory");
        free(body);
        return -1;
    }
    c->done = 0;
    c->reply_type = 0;
    int rc = bus_request(c->bus, &h, body, strlen(body), CTL_REQUEST_TIMEOUT_MS, ctl_cluster_on_reply, c);
    free(body);
    if (rc < 0) {
        snprintf(err, errsz, "cannot send to %s: no router is connected", dest);
        return -1;
    }
    while (!c->done) {
        if (loop_run(c->loop) < 0) {
            bus_cancel(c->bus, h.req);
            snprintf(err, errsz, "event loop failed");
            return -1;
        }
    }
    return ctl_cluster_result(c, dest, reply, err, errsz);
}

void ctl_cluster_close(ctl_cluster *c)
{
    bus_close(&c->bus);
    loop_free(&c->loop);
    json_decref(c->reply);
    c->reply = NULL;
}
