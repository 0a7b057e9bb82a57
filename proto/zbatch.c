/*
 * zbatch.c - ZeroMQ plumbing for envelope batches (see zbatch.h).
 */
#include "zbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int zbatch_readable(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

/* Drop the remaining parts of a message that had too many. */
static void zbatch_discard(void *sock, zmq_msg_t *m)
{
    while (zmq_msg_more(m)) {
        zmq_msg_close(m);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) break;
    }
}

int zbatch_recv(void *sock, zmq_msg_t *peer, zmq_msg_t *batch)
{
    zmq_msg_t *first = peer ? peer : batch;
    if (peer) zmq_msg_init(peer);
    zmq_msg_init(batch);
    if (zmq_msg_recv(first, sock, ZMQ_DONTWAIT) < 0) {
        if (peer) zmq_msg_close(peer);
        zmq_msg_close(batch);
        return 0;
    }
    int ok = peer ? zmq_msg_more(peer) && zmq_msg_recv(batch, sock, ZMQ_DONTWAIT) >= 0 && !zmq_msg_more(batch)
                  : !zmq_msg_more(batch);
    if (ok) return 1;
    zbatch_discard(sock, batch);
    if (peer) zmq_msg_close(peer);
    zmq_msg_close(batch);
    return -1;
}

void zbatch_sent(buf_t *b)
{
    buf_reset(b);
    if (b->cap > ZBATCH_KEEP) buf_free(b);
}

zbatch_out *zbatch_set_get(zbatch_set *s, const char *id, uint64_t now)
{
    zbatch_out *o = hmap_get(&s->outs, id);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o) return NULL;
        snprintf(o->id, sizeof o->id, "%s", id);
        if (hmap_put(&s->outs, o->id, o) < 0) {
            free(o);
            return NULL;
        }
    }
    o->last_used = now;
    if (!o->dirty) {
        if (s->ndirty == s->dirty_cap) {
            size_t n = s->dirty_cap ? s->dirty_cap * 2 : 64;
            zbatch_out **d = realloc(s->dirty, n * sizeof *d);
            if (!d) return NULL;
            s->dirty = d;
            s->dirty_cap = n;
        }
        s->dirty[s->ndirty++] = o;
        o->dirty = 1;
    }
    return o;
}

static void zbatch_out_free(zbatch_set *s, zbatch_out *o)
{
    hmap_del(&s->outs, o->id);
    buf_free(&o->buf);
    free(o);
}

int zbatch_set_send(void *sock, zbatch_out *o)
{
    if (o->buf.len == 0) return 0;
    if (zmq_send(sock, o->id, strlen(o->id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, o->buf.data, o->buf.len, ZMQ_DONTWAIT) < 0)
        return -1;
    zbatch_sent(&o->buf);
    return 0;
}

/* The list may grow while it is walked (refused batches can queue
 * bounces); a bounce of a bounce is dropped by the caller, so it ends. */
size_t zbatch_set_flush(zbatch_set *s, void *sock, zbatch_refused refused, void *ud)
{
    size_t sent = 0;
    for (size_t i = 0; i < s->ndirty; i++) {
        zbatch_out *o = s->dirty[i];
        o->dirty = 0;
        if (o->buf.len == 0) continue;
        if (zbatch_set_send(sock, o) == 0) {
            sent++;
            continue;
        }
        size_t len;
        char *data = buf_steal(&o->buf, &len);
        refused(ud, o, data, len);
        free(data);
        if (!o->dirty) zbatch_out_free(s, o);   /* unreachable: forget it */
    }
    s->ndirty = 0;
    return sent;
}

void zbatch_set_prune(zbatch_set *s, uint64_t now)
{
    if (now < s->next_prune) return;
    s->next_prune = now + ZBATCH_IDLE_MS / 4;
    size_t pos = 0, n = 0;
    const char *k;
    void *v;
    zbatch_out *idle[64];
    while (n < 64 && hmap_next(&s->outs, &pos, &k, &v)) {
        zbatch_out *o = v;
        if (!o->dirty && now - o->last_used > ZBATCH_IDLE_MS) idle[n++] = o;
    }
    for (size_t i = 0; i < n; i++) zbatch_out_free(s, idle[i]);
    if (n == 64) s->next_prune = now;     /* more to do next time */
}

void zbatch_set_free(zbatch_set *s)
{
    size_t pos = 0;
    const char *k;
    void *v;
    while (hmap_next(&s->outs, &pos, &k, &v)) {
        buf_free(&((zbatch_out *)v)->buf);
        free(v);
    }
    hmap_free(&s->outs);
    free(s->dirty);
    memset(s, 0, sizeof *s);
}
