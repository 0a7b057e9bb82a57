/*
 * scenario_msg.c - one-to-one chat messages between online clients.
 *
 * Workers: [register] -> logins -> barrier "start" -> send for --duration
 * seconds -> drain (until every message arrived, at most --drain
 * seconds) -> barrier "end" -> close.
 *
 * Each message goes from a client to a random other online client of the
 * same worker, addressed to its bound full JID, with id
 * "b<n>-<send time in us>" (also in the body). n indexes a per-worker
 * table of {sender, recipient}, so every received message is checked:
 * sent to this client by that sender (else misrouted), not seen before
 * (else duplicated); what never arrives is lost; an id that is not from
 * this run (unknown number, or a send time outside the run) is foreign,
 * e.g. an offline message kept from an earlier run. The table grows by
 * doubling, nothing is allocated per message.
 *
 * --rate R: R messages/s over the whole run, spread over the workers by
 * their share of the clients, sent from a 1 ms timer round-robin over
 * the clients. --rate 0: flat out; every client keeps --window messages in
 * flight and sends another each time one of its messages is received.
 */
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

#define TICK_MS 1
#define DRAIN_CHECK_MS 20

typedef struct msg_rec {
    uint32_t sender;   /* client index in this worker */
    uint32_t dest;     /* client index it was sent to */
} msg_rec;

/* This worker process's run (one worker per process). */
static struct {
    msg_rec *recs;          /* by message number */
    uint8_t *got;           /* receipts per message number */
    size_t nrecs, cap;
    uint32_t *peers;        /* indexes of the clients online at "start" */
    uint32_t npeers;
    uint32_t rr;            /* round-robin position (rate mode) */
    uint64_t rng;           /* xorshift state */
    uint64_t t_start, t_end;/* sending window (monotonic us) */
    uint64_t t_drain_end;
    uint64_t due_sent;      /* messages sent by the rate timer */
    double rate;            /* this worker's messages/s, 0 = flat out */
    int sending;
    client *refill;         /* flat out: clients with room in the window */
    char *pad;              /* body padding */
    uint64_t sent, delivered, in_window, dup, misrouted, errors, foreign, last_rx;
} M;

static void msg_drain_check(loop_t *l, uint64_t id, void *ud);

static uint32_t rnd(uint32_t n)
{
    M.rng ^= M.rng << 13;
    M.rng ^= M.rng >> 7;
    M.rng ^= M.rng << 17;
    return (uint32_t)((M.rng >> 11) % n);
}

/* Decimal digits of v into p; returns the count. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

static int grow_recs(void)
{
    size_t cap = M.cap ? M.cap * 2 : 65536;
    msg_rec *r = realloc(M.recs, cap * sizeof *r);
    if (!r) return -1;
    M.recs = r;
    uint8_t *g = realloc(M.got, cap);
    if (!g) return -1;
    M.got = g;
    M.cap = cap;
    return 0;
}

/* Send one message from c to peer. 0/-1 (out of memory). */
static int send_msg(worker *w, client *c, client *peer)
{
    if (M.nrecs == M.cap && grow_recs() < 0) return -1;
    size_t id = M.nrecs++;
    M.recs[id] = (msg_rec){c->idx, peer->idx};
    M.got[id] = 0;
    char tok[64];
    size_t tl = 0;
    tok[tl++] = 'b';
    tl += put_u64(tok + tl, id);
    tok[tl++] = '-';
    tl += put_u64(tok + tl, bench_now_us());
    buf_t *b = client_out(c);
    if (buf_reserve(b, 96 + peer->jid_len + 2 * tl + w->o->body_size) < 0) return -1;
    buf_append(b, "<message to='", 13);
    buf_append_xml_escaped(b, peer->jid, peer->jid_len, 1);
    buf_append(b, "' type='chat' id='", 18);
    buf_append(b, tok, tl);
    buf_append(b, "'><body>", 8);
    buf_append(b, tok, tl);
    if (w->o->body_size) {
        buf_append(b, " ", 1);
        buf_append(b, M.pad, w->o->body_size);
    }
    buf_append(b, "</body></message>", 17);
    client_mark(c);
    c->in_flight++;
    M.sent++;
    return 0;
}

/* A random online peer of c, or NULL. */
static client *pick_peer(worker *w, client *c)
{
    for (int tries = 0; tries < 8; tries++) {
        client *p = &w->clients[M.peers[rnd(M.npeers)]];
        if (p != c && p->state == CS_ONLINE) return p;
    }
    return NULL;
}

static void fill_window(worker *w, client *c)
{
    while (M.sending && c->state == CS_ONLINE && c->in_flight < w->o->window) {
        client *p = pick_peer(w, c);
        if (!p) return;
        if (send_msg(w, c, p) < 0) {
            worker_fail(w, "out of memory for the message table");
            return;
        }
    }
}

/* Before-sleep hook (flat out): top up the windows that have room. */
static void msg_refill(loop_t *l, void *ud)
{
    worker *w = ud;
    while (M.refill) {
        client *c = M.refill;
        M.refill = c->next_queued;
        c->queued = 0;
        fill_window(w, c);
        if (w->failed) return;
    }
    client_flush_dirty(l, &w->env);
}

/* ---- receiving ---- */

/* Parse "b<n>-<t>" into n and t. 0/-1. */
static int parse_token(const char *v, size_t n, uint64_t *id, uint64_t *t)
{
    size_t i = 1;
    uint64_t a = 0, b = 0;
    if (n < 4 || v[0] != 'b') return -1;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) a = a * 10 + (uint64_t)(v[i] - '0');
    if (i == 1 || i >= n || v[i] != '-') return -1;
    size_t j = ++i;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) b = b * 10 + (uint64_t)(v[i] - '0');
    if (i == j || i != n) return -1;
    *id = a;
    *t = b;
    return 0;
}

static void msg_stanza(worker *w, client *c, const xs_el *el)
{
    const char *v;
    size_t n;
    if (!xscan_is(el, "message")) return;
    if (xscan_attr(el, "type", &v, &n) && xscan_eq(v, n, "error")) {
        M.errors++;
        return;
    }
    uint64_t id, t, now = bench_now_us();
    /* the send time also tells this run's messages from a stale one (an
     * offline message kept from an earlier run) */
    if (!xscan_attr(el, "id", &v, &n) || parse_token(v, n, &id, &t) < 0 || id >= M.nrecs ||
        t < M.t_start || t > now) {
        M.foreign++;
        return;
    }
    const msg_rec *r = &M.recs[id];
    const client *sender = &w->clients[r->sender];
    if (r->dest != c->idx || !xscan_attr(el, "from", &v, &n) || !sender->jid ||
        n != sender->jid_len || memcmp(v, sender->jid, n) != 0)
        M.misrouted++;
    if (M.got[id]) {
        M.dup++;
        return;
    }
    M.got[id] = 1;
    M.delivered++;
    M.last_rx = now;
    if (now <= M.t_end) M.in_window++;
    stats_add(&w->lat_msg, (uint32_t)(now > t ? now - t : 0));
    client *s = &w->clients[r->sender];
    if (s->in_flight) s->in_flight--;
    if (M.sending && M.rate == 0 && !s->queued) {
        s->queued = 1;
        s->next_queued = M.refill;
        M.refill = s;
    }
}

/* ---- phases ---- */

static void msg_closed(worker *w)
{
    worker_count(w, "disconnects", w->disconnects);
    free(M.recs);
    free(M.got);
    free(M.peers);
    free(M.pad);
    memset(&M, 0, sizeof M);
    worker_finish(w);
}

static void msg_end(worker *w)
{
    worker_close_all(w, msg_closed);
}

static void msg_drained(worker *w)
{
    loop_del_hook(w->loop, msg_refill, w);
    worker_count(w, "msg_sent", M.sent);
    worker_count(w, "msg_delivered", M.delivered);
    worker_count(w, "msg_delivered_in_window", M.in_window);
    worker_count(w, "msg_lost", M.sent - M.delivered);
    worker_count(w, "msg_duplicated", M.dup);
    worker_count(w, "msg_misrouted", M.misrouted);
    worker_count(w, "msg_errors", M.errors);
    worker_count(w, "msg_foreign", M.foreign);
    worker_count(w, "senders", M.npeers);
    if (M.last_rx) worker_time(w, "max_last_rx_us", M.last_rx);
    worker_time(w, "min_msg_start_us", M.t_start);
    worker_time(w, "max_msg_end_us", M.t_end);
    worker_barrier(w, "end", msg_end);
}

static void msg_drain_check(loop_t *l, uint64_t id, void *ud)
{
    worker *w = ud;
    if (M.delivered >= M.sent || bench_now_us() >= M.t_drain_end) msg_drained(w);
    else loop_add_timer(l, DRAIN_CHECK_MS, msg_drain_check, w);
}

static void stop_sending(worker *w)
{
    M.sending = 0;
    M.t_drain_end = bench_now_us() + (uint64_t)(w->o->drain * 1e6);
    loop_add_timer(w->loop, 0, msg_drain_check, w);
}

/* Rate mode: send what is due by now, round-robin over the senders. */
static void msg_tick(loop_t *l, uint64_t id, void *ud)
{
    worker *w = ud;
    uint64_t now = bench_now_us();
    if (now >= M.t_end) {
        stop_sending(w);
        return;
    }
    uint64_t due = (uint64_t)(M.rate * (double)(now - M.t_start) / 1e6);
    while (M.due_sent < due) {
        client *c = &w->clients[M.peers[M.rr++ % M.npeers]];
        M.due_sent++;
        if (c->state != CS_ONLINE) continue;
        client *p = pick_peer(w, c);
        if (p && send_msg(w, c, p) < 0) {
            worker_fail(w, "out of memory for the message table");
            return;
        }
    }
    loop_add_timer(l, TICK_MS, msg_tick, w);
}

static void msg_window_end(loop_t *l, uint64_t id, void *ud)
{
    stop_sending(ud);
}

static void msg_go(worker *w)
{
    const bench_opts *o = w->o;
    M.npeers = 0;
    for (unsigned i = 0; i < w->n; i++)
        if (w->clients[i].state == CS_ONLINE) M.peers[M.npeers++] = i;
    w->disconnects = 0;
    M.t_start = bench_now_us();
    M.t_end = M.t_start + (uint64_t)(o->duration * 1e6);
    M.rate = o->rate * (double)w->n / (double)o->clients;
    if (M.npeers < 2) {   /* nobody to talk to: an empty window */
        M.t_drain_end = M.t_end;
        loop_add_timer(w->loop, (uint64_t)(o->duration * 1000), msg_drain_check, w);
        return;
    }
    M.sending = 1;
    if (M.rate > 0) {
        loop_add_timer(w->loop, TICK_MS, msg_tick, w);
        return;
    }
    if (loop_add_hook(w->loop, msg_refill, w) < 0) {
        worker_fail(w, "cannot add the refill hook");
        return;
    }
    loop_add_timer(w->loop, (uint64_t)(o->duration * 1000), msg_window_end, w);
    for (uint32_t i = 0; i < M.npeers && !w->failed; i++) fill_window(w, &w->clients[M.peers[i]]);
}

static void msg_logged_in(worker *w)
{
    worker_count_pool(w, "login");
    worker_barrier(w, "start", msg_go);
}

static void msg_prepared(worker *w)
{
    worker_pool(w, CLIENT_LOGIN, w->o->presence, 1, msg_logged_in);
}

static void msg_start(worker *w)
{
    memset(&M, 0, sizeof M);
    M.rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)w->id << 32) ^ bench_now_us();
    M.peers = calloc(w->n ? w->n : 1, sizeof *M.peers);
    M.pad = malloc(w->o->body_size + 1);
    if (!M.peers || !M.pad) {
        worker_fail(w, "out of memory");
        return;
    }
    memset(M.pad, 'x', w->o->body_size);
    scenario_prepare(w, msg_prepared);
}

/* ---- coordinator ---- */

static void put_count(json_t *out, const coord *k, const char *key, const char *counter)
{
    json_object_set_new(out, key, json_integer((json_int_t)coord_count(k, counter)));
}

static void msg_finish(coord *k, json_t *out)
{
    const bench_opts *o = k->o;
    uint64_t delivered = coord_count(k, "msg_delivered");
    uint64_t window = coord_count(k, "msg_delivered_in_window");
    put_count(out, k, "logins_ok", "login_ok");
    coord_put_fails(out, "login_failures", k, "login");
    put_count(out, k, "senders", "senders");
    put_count(out, k, "sent", "msg_sent");
    put_count(out, k, "delivered", "msg_delivered");
    put_count(out, k, "delivered_in_window", "msg_delivered_in_window");
    json_object_set_new(out, "sent_per_s", json_real((double)coord_count(k, "msg_sent") / o->duration));
    json_object_set_new(out, "delivered_per_s", json_real((double)window / o->duration));
    coord_put_latency(out, "latency", &k->lat_msg);
    put_count(out, k, "lost", "msg_lost");
    put_count(out, k, "duplicated", "msg_duplicated");
    put_count(out, k, "misrouted", "msg_misrouted");
    put_count(out, k, "errors", "msg_errors");
    put_count(out, k, "foreign", "msg_foreign");
    put_count(out, k, "disconnects", "disconnects");
    if (o->reg) {
        put_count(out, k, "register_ok", "register_ok");
        coord_put_fails(out, "register_failures", k, "register");
    }
    double cpu = coord_put_server_cpu(out, k, "start", "end");
    if (cpu >= 0 && delivered) {
        json_object_set_new(out, "server_cpu_s_per_1000_msgs", json_real(cpu * 1000 / (double)delivered));
        json_object_set_new(out, "msgs_per_server_cpu_s", json_real(cpu > 0 ? (double)delivered / cpu : 0));
    }
}

const scenario scenario_msg = {
    .name = "msg",
    .start = msg_start,
    .stanza = msg_stanza,
    .finish = msg_finish,
};
