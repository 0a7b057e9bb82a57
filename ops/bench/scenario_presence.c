/*
 * scenario_presence.c - users with R mutual contacts log in and announce
 * themselves: presence stanzas delivered per second.
 *
 * The users form a ring by run position; the contacts of position p are
 * p±1 .. p±R/2 (mod N), so every pair is mutual and R must be even.
 *
 * Preparation (not measured), through the protocol only: every user logs
 * in (with initial presence, since servers deliver subscription requests
 * to available resources only); at barrier "prep" all are online; each fetches its
 * roster and sends <presence type='subscribe'/> to every ring neighbour
 * not yet at subscription 'both' (so a second run sends none); everyone
 * approves subscription requests from ring neighbours; roster pushes tell
 * when a pair reached 'both'. Then barrier "prep-done", everyone logs out,
 * barrier "start".
 *
 * Measured: every user logs in again and sends initial presence; the
 * server broadcasts it to the online contacts and answers its probes with
 * theirs. Each client notes the first available presence from each
 * contact. The phase ends when every client has heard from all R
 * contacts, or --drain seconds after the last login. Figures: presence
 * stanzas received per second (all of them, from the release of "start"
 * to the last one), contacts heard vs expected (N x R), duplicates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

#define CHECK_MS 20
#define PREP_BASE_S 60          /* preparation deadline: base ... */
#define PREP_PER_1000_PAIRS 2   /* ... plus seconds per 1000 contact pairs */

#define F_BOTH 1                /* flags: subscription 'both' seen */
#define F_HEARD 2               /* flags: available presence received */

/* This worker process's run. */
static struct {
    int measuring;              /* 0 preparation, 1 measured phase */
    uint8_t *loaded;            /* per client: roster fetched */
    uint64_t deadline;          /* end of the current wait (us) */
    uint64_t pairs_already, subscribe_sent;
    uint64_t rx_total, rx_available, heard, dup, self, other;
    uint64_t last_rx, last_heard;
    uint64_t expected;          /* clients online in the measured phase x R */
    int logins_done;
} P;

static unsigned half(const worker *w) { return w->o->roster / 2; }

/* Ring slot of the account in jid (bare or full) as seen from c: 0..R-1
 * for a contact, -2 for c itself, -1 for anyone else. */
static int slot_of(const worker *w, const client *c, const char *jid, size_t n)
{
    const bench_opts *o = w->o;
    size_t pl = strlen(o->user_prefix), i = pl;
    uint64_t k = 0;
    if (n <= pl || memcmp(jid, o->user_prefix, pl) != 0) return -1;
    for (; i < n && jid[i] >= '0' && jid[i] <= '9' && k < 1u << 31; i++) k = k * 10 + (uint64_t)(jid[i] - '0');
    if (i == pl || i >= n || jid[i] != '@' || k < o->first_index) return -1;
    uint64_t q = k - o->first_index, N = o->clients, p = w->first + c->idx;
    if (q >= N) return -1;
    uint64_t d = (q + N - p) % N, h = half(w);
    if (d == 0) return -2;
    if (d <= h) return (int)(d - 1);
    if (N - d <= h) return (int)(h + (N - d) - 1);
    return -1;
}

/* Account number of c's contact in slot s. */
static unsigned contact_user(const worker *w, const client *c, unsigned s)
{
    uint64_t N = w->o->clients, p = w->first + c->idx, h = half(w);
    uint64_t q = s < h ? (p + s + 1) % N : (p + N - (s - h + 1) % N) % N;
    return w->o->first_index + (unsigned)q;
}

static void set_flag(client *c, int slot, uint8_t f)
{
    if (slot < 0 || (c->flags[slot] & f)) return;
    c->flags[slot] |= f;
    c->nflags++;
}

/* ---- preparation ---- */

/* Roster result or push: note the items at 'both'. */
static void note_roster(worker *w, client *c, const xs_el *query)
{
    xs_el item;
    memset(&item, 0, sizeof item);
    while (xscan_child(query, &item)) {
        const char *j, *s;
        size_t jn, sn;
        if (!xscan_is(&item, "item") || !xscan_attr(&item, "jid", &j, &jn)) continue;
        if (xscan_attr(&item, "subscription", &s, &sn) && xscan_eq(s, sn, "both"))
            set_flag(c, slot_of(w, c, j, jn), F_BOTH);
    }
}

static void send_subscribes(worker *w, client *c)
{
    P.pairs_already += c->nflags;
    for (unsigned s = 0; s < w->o->roster; s++) {
        if (c->flags[s] & F_BOTH) continue;
        buf_printf(client_out(c), "<presence to='%s%u@%s' type='subscribe'/>", w->o->user_prefix,
                   contact_user(w, c, s), w->o->domain);
        P.subscribe_sent++;
    }
    client_mark(c);
}

static void prep_stanza(worker *w, client *c, const xs_el *el)
{
    const char *v;
    size_t n;
    xs_el q;
    if (xscan_is(el, "iq")) {
        if (!xscan_find(el, "query", &q)) return;
        note_roster(w, c, &q);
        if (xscan_attr(el, "id", &v, &n) && xscan_eq(v, n, "r1") && !P.loaded[c->idx]) {
            P.loaded[c->idx] = 1;
            send_subscribes(w, c);
        }
        return;
    }
    if (!xscan_is(el, "presence") || !xscan_attr(el, "type", &v, &n) || !xscan_eq(v, n, "subscribe"))
        return;
    const char *from;
    size_t fn;
    if (!xscan_attr(el, "from", &from, &fn) || slot_of(w, c, from, fn) < 0) return;
    const char *slash = memchr(from, '/', fn);
    size_t bare = slash ? (size_t)(slash - from) : fn;
    buf_t *b = client_out(c);
    buf_puts(b, "<presence to='");
    buf_append(b, from, bare);
    buf_puts(b, "' type='subscribed'/>");
    client_mark(c);
}

static void measure_stanza(worker *w, client *c, const xs_el *el)
{
    const char *v, *from;
    size_t n, fn;
    if (!xscan_is(el, "presence")) return;
    uint64_t now = bench_now_us();
    P.rx_total++;
    P.last_rx = now;
    int available = !xscan_attr(el, "type", &v, &n);
    int slot = xscan_attr(el, "from", &from, &fn) ? slot_of(w, c, from, fn) : -1;
    if (slot == -2) { P.self++; return; }
    if (!available || slot < 0) { P.other++; return; }
    P.rx_available++;
    if (c->flags[slot] & F_HEARD) { P.dup++; return; }
    set_flag(c, slot, F_HEARD);
    P.heard++;
    P.last_heard = now;
}

static void presence_stanza(worker *w, client *c, const xs_el *el)
{
    if (!c->flags) return;
    if (P.measuring) measure_stanza(w, c, el);
    else prep_stanza(w, c, el);
}

/* ---- phases ---- */

static void free_flags(worker *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        free(w->clients[i].flags);
        w->clients[i].flags = NULL;
    }
    free(P.loaded);
    P.loaded = NULL;
}

static void pres_closed(worker *w)
{
    worker_count(w, "disconnects", w->disconnects);
    free_flags(w);
    worker_finish(w);
}

static void pres_end(worker *w)
{
    worker_close_all(w, pres_closed);
}

static void measure_done(worker *w)
{
    worker_count(w, "presence_rx_total", P.rx_total);
    worker_count(w, "presence_rx_available", P.rx_available);
    worker_count(w, "presence_heard", P.heard);
    worker_count(w, "presence_expected", P.expected);
    worker_count(w, "presence_duplicates", P.dup);
    worker_count(w, "presence_self", P.self);
    worker_count(w, "presence_other", P.other);
    if (P.last_rx) worker_time(w, "max_last_presence_us", P.last_rx);
    if (P.last_heard) worker_time(w, "max_last_heard_us", P.last_heard);
    worker_barrier(w, "end", pres_end);
}

static void measure_check(loop_t *l, uint64_t id, void *ud)
{
    worker *w = ud;
    if (P.logins_done && (P.heard >= P.expected || bench_now_us() >= P.deadline)) measure_done(w);
    else loop_add_timer(l, CHECK_MS, measure_check, w);
}

static void measure_logged_in(worker *w)
{
    worker_count_pool(w, "login");
    if (w->pool.ok) worker_time(w, "max_login_done_us", w->pool.t_last_us);
    P.expected = (uint64_t)w->online * w->o->roster;
    P.logins_done = 1;
    P.deadline = bench_now_us() + (uint64_t)(w->o->drain * 1e6);
}

static void measure_go(worker *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        client *c = &w->clients[i];
        if (c->flags) memset(c->flags, 0, w->o->roster);
        c->nflags = 0;
    }
    P.measuring = 1;
    w->disconnects = 0;
    worker_pool(w, CLIENT_LOGIN, 1, 1, measure_logged_in);
    loop_add_timer(w->loop, CHECK_MS, measure_check, w);
}

static void prep_closed(worker *w)
{
    worker_barrier(w, "start", measure_go);
}

static void prep_released(worker *w)
{
    worker_close_all(w, prep_closed);
}

static void prep_done(worker *w)
{
    uint64_t both = 0, online = 0;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->clients[i].state != CS_ONLINE || !w->clients[i].flags) continue;
        online++;
        both += w->clients[i].nflags;
    }
    worker_count(w, "prep_pairs_already", P.pairs_already);
    worker_count(w, "prep_subscribe_sent", P.subscribe_sent);
    worker_count(w, "prep_incomplete", online * w->o->roster - both);
    worker_barrier(w, "prep-done", prep_released);
}

static void prep_check(loop_t *l, uint64_t id, void *ud)
{
    worker *w = ud;
    int complete = 1;
    for (unsigned i = 0; i < w->n && complete; i++) {
        const client *c = &w->clients[i];
        if (c->state == CS_ONLINE && c->flags && (!P.loaded[i] || c->nflags < w->o->roster)) complete = 0;
    }
    if (complete || bench_now_us() >= P.deadline) prep_done(w);
    else loop_add_timer(l, CHECK_MS * 5, prep_check, w);
}

static void prep_go(worker *w)
{
    const bench_opts *o = w->o;
    for (unsigned i = 0; i < w->n; i++) {
        client *c = &w->clients[i];
        if (c->state != CS_ONLINE) continue;
        c->nflags = 0;
        client_send(c, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
                    sizeof "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>" - 1);
    }
    uint64_t pairs = (uint64_t)o->clients * o->roster;
    P.deadline = bench_now_us() + (PREP_BASE_S + pairs / 1000 * PREP_PER_1000_PAIRS) * 1000000ull;
    loop_add_timer(w->loop, CHECK_MS * 5, prep_check, w);
}

static void prep_logged_in(worker *w)
{
    worker_count_pool(w, "prep_login");
    worker_barrier(w, "prep", prep_go);
}

static void pres_prepared(worker *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        w->clients[i].flags = calloc(w->o->roster ? w->o->roster : 1, 1);
        if (!w->clients[i].flags) {
            worker_fail(w, "out of memory");
            return;
        }
    }
    /* with presence: servers deliver subscription requests to available
     * resources only (RFC 6121 3.1.3) */
    worker_pool(w, CLIENT_LOGIN, 1, 0, prep_logged_in);
}

static void pres_start(worker *w)
{
    memset(&P, 0, sizeof P);
    P.loaded = calloc(w->n ? w->n : 1, 1);
    if (!P.loaded) {
        worker_fail(w, "out of memory");
        return;
    }
    scenario_prepare(w, pres_prepared);
}

/* ---- coordinator ---- */

static void put_count(json_t *out, const coord *k, const char *key, const char *counter)
{
    json_object_set_new(out, key, json_integer((json_int_t)coord_count(k, counter)));
}

static void pres_finish(coord *k, json_t *out)
{
    const coord_mark *start = coord_mark_get(k, "start");
    uint64_t total = coord_count(k, "presence_rx_total");
    uint64_t last = coord_time(k, "max_last_presence_us");
    double secs = start ? coord_secs(start->t_go_us, last) : 0;
    uint64_t expected = (uint64_t)k->o->clients * k->o->roster;
    put_count(out, k, "prep_logins_ok", "prep_login_ok");
    put_count(out, k, "prep_pairs_already", "prep_pairs_already");
    put_count(out, k, "prep_subscribe_sent", "prep_subscribe_sent");
    put_count(out, k, "prep_incomplete", "prep_incomplete");
    put_count(out, k, "logins_ok", "login_ok");
    coord_put_fails(out, "login_failures", k, "login");
    coord_put_latency(out, "login_latency", &k->lat_login);
    put_count(out, k, "presence_received", "presence_rx_total");
    json_object_set_new(out, "presence_per_s", json_real(secs > 0 ? (double)total / secs : 0));
    json_object_set_new(out, "presence_phase_s", json_real(secs));
    json_object_set_new(out, "contacts_expected", json_integer((json_int_t)expected));
    put_count(out, k, "contacts_heard", "presence_heard");
    uint64_t heard = coord_count(k, "presence_heard");
    json_object_set_new(out, "contacts_missing",
                        json_integer((json_int_t)(expected > heard ? expected - heard : 0)));
    put_count(out, k, "contact_presence_received", "presence_rx_available");
    put_count(out, k, "contact_presence_duplicates", "presence_duplicates");
    put_count(out, k, "self_presence", "presence_self");
    put_count(out, k, "other_presence", "presence_other");
    put_count(out, k, "disconnects", "disconnects");
    if (k->o->reg) {
        put_count(out, k, "register_ok", "register_ok");
        coord_put_fails(out, "register_failures", k, "register");
    }
    double cpu = coord_put_server_cpu(out, k, "start", "end");
    if (cpu >= 0 && total)
        json_object_set_new(out, "server_cpu_s_per_1000_presences", json_real(cpu * 1000 / (double)total));
}

const scenario scenario_presence = {
    .name = "presence",
    .start = pres_start,
    .stanza = presence_stanza,
    .finish = pres_finish,
};
