/*
 * test_sm_shard.c - the sm shard's envelope handling, in one process.
 *
 * The shard's sources are linked with stand-ins for the bus and for Redis
 * (defined below; the proto library's bus.o is then never pulled in), so
 * each test feeds envelopes to sm_shard_dispatch() and checks what the
 * shard sent and wrote. The shard is sm.0 of two; alice and carol live in
 * its slots, bob in sm.1's.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "bus.h"
#include "config.h"
#include "log.h"
#include "mod.h"
#include "session.h"
#include "shard.h"
#include "sm.h"
#include "sm_redis.h"

/* ---- stand-ins: what the shard sends ---- */

#define MAX_SENT 64

typedef struct sent_env {
    env_hdr h;      /* header as the shard built it */
    char *body;     /* NUL-terminated copy */
} sent_env;

static sent_env sent[MAX_SENT];
static int nsent;
static char redis_log[8192];   /* "CMD key field;" for each write */
static int redis_is_up = 1;

static void record(const env_hdr *h, const void *body, size_t len)
{
    if (nsent == MAX_SENT) return;
    sent[nsent].h = *h;
    sent[nsent].body = strndup(body, len);
    nsent++;
}

static void reset_sent(void)
{
    for (int i = 0; i < nsent; i++) free(sent[i].body);
    nsent = 0;
    redis_log[0] = '\0';
}

bus_t *bus_open(loop_t *l, const config_t *cfg, const char *node_id, bus_msg_cb cb, void *ud) { return NULL; }
void bus_close(bus_t **b) {}

int bus_send(bus_t *b, env_hdr *h, const void *body, size_t len)
{
    snprintf(h->src, sizeof h->src, "sm.0");
    record(h, body, len);
    return 0;
}

int bus_reply(bus_t *b, const env_hdr *req, unsigned type, uint16_t flags, const void *body, size_t len)
{
    env_hdr h = {0};
    h.type = (uint8_t)type;
    h.flags = flags;
    h.conn = req->conn;
    h.req = req->req;
    env_set_dest_node(&h, req->src);
    record(&h, body, len);
    return 0;
}

const char *bus_sm_node(const config_t *cfg, unsigned slot)
{
    json_t *s = config_get(cfg, "sm.shards");
    size_t n = json_array_size(s);
    if (n == 0 || slot >= SLOT_COUNT) return NULL;
    return json_string_value(json_array_get(s, (size_t)slot * n / SLOT_COUNT));
}

sm_redis *sm_redis_open(loop_t *l, const config_t *cfg, const char *node_id, const sm_redis_cb *cb, void *ud)
{
    return NULL;
}
void sm_redis_close(sm_redis **r) {}
int sm_redis_up(const sm_redis *r) { return redis_is_up; }

static int redis_note(const char *cmd, const char *bare, const char *field)
{
    if (!redis_is_up) return -1;
    size_t n = strlen(redis_log);
    snprintf(redis_log + n, sizeof redis_log - n, "%s %s %s;", cmd, bare, field ? field : "-");
    return 0;
}

int sm_redis_sess_set(sm_redis *r, const char *bare, const char *res, const char *v) { return redis_note("HSET", bare, res); }
int sm_redis_sess_del(sm_redis *r, const char *bare, const char *res) { return redis_note("HDEL", bare, res); }
int sm_redis_sess_clear(sm_redis *r, const char *bare) { return redis_note("DEL", bare, NULL); }

/* ---- helpers ---- */

static const char *CFG =
    "domain: localhost\n"
    "routers:\n"
    "  - {id: router.0, endpoint: 'tcp://127.0.0.1:1'}\n"
    "sm:\n"
    "  shards: [sm.0, sm.1]\n"
    "  max_sessions_per_user: 3\n"
    "c2s:\n"
    "  nodes: [c2s.0, c2s.1]\n";

static sm_t sm;
static config_t *cfg;

static void setup(void)
{
    char err[256];
    memset(&sm, 0, sizeof sm);
    cfg = config_load_string(CFG, err, sizeof err);
    XASSERT(cfg);
    XASSERT(sm_shard_init(&sm, cfg, NULL, "sm.0") == 0);
    XASSERT(sm_mod_init(&sm) == 0);
    redis_is_up = 1;
    reset_sent();
}

static void teardown(void)
{
    sm_mod_fini(&sm);
    sm_session_free_all(&sm);
    config_free(&cfg);
    reset_sent();
}

static void dispatch(unsigned type, const char *src, uint64_t conn, const char *body)
{
    env_hdr h = {0};
    h.type = (uint8_t)type;
    h.conn = conn;
    h.req = 7;
    h.via = -1;
    snprintf(h.src, sizeof h.src, "%s", src);
    env_set_dest_node(&h, "sm.0");
    sm_shard_dispatch(&sm, &h, body, strlen(body));
}

/* An UNROUTABLE bounce, by `src`, of an envelope of type `orig` we sent. */
/* An UNROUTABLE as a router sends it: dest keeps the original
 * destination (a c2s node for deliveries, a slot for stanzas to another
 * shard), src is the router. A c2s bouncing names itself as src. */
static void bounce_from(const char *src, unsigned orig, uint64_t conn, const char *body)
{
    env_hdr h = {0};
    h.type = ENV_UNROUTABLE;
    h.flags = (uint16_t)orig;
    h.conn = conn;
    snprintf(h.src, sizeof h.src, "%s", src);
    if (strncmp(src, "router.", 7) != 0) env_set_dest_node(&h, "sm.0");
    else if (orig == ENV_STANZA_DELIVER || orig == ENV_BIND_RESP || orig == ENV_KICK) env_set_dest_node(&h, "c2s.0");
    else env_set_dest_slot(&h, 7);
    sm_shard_dispatch(&sm, &h, body, strlen(body));
}

static void bounce(unsigned orig, uint64_t conn, const char *body)
{
    bounce_from("router.0", orig, conn, body);
}

static void bind_as(const char *c2s, uint64_t conn, const char *jid, const char *res)
{
    char body[256];
    snprintf(body, sizeof body, "{\"jid\":\"%s\",\"resource\":\"%s\"}", jid, res);
    dispatch(ENV_BIND_REQ, c2s, conn, body);
}

static void out(uint64_t conn, const char *xml)
{
    dispatch(ENV_STANZA_OUT, "c2s.0", conn, xml);
}

/* The i-th sent envelope of a type (NULL if fewer). */
static sent_env *nth(unsigned type, int i)
{
    for (int k = 0; k < nsent; k++)
        if (sent[k].h.type == type && i-- == 0) return &sent[k];
    return NULL;
}

static int count(unsigned type)
{
    int n = 0;
    for (int k = 0; k < nsent; k++) n += sent[k].h.type == type;
    return n;
}

/* The STANZA_DELIVER to conn, the i-th one. */
static sent_env *delivered_to(uint64_t conn, int i)
{
    for (int k = 0; k < nsent; k++)
        if (sent[k].h.type == ENV_STANZA_DELIVER && sent[k].h.conn == conn && i-- == 0) return &sent[k];
    return NULL;
}

#define CHECK_HAS(env, needle) do { sent_env *e_ = (env); CHECK(e_ != NULL); \
    if (e_) { test_checks++; if (!strstr(e_->body, needle)) { test_failures++; \
    fprintf(stderr, "%s:%d: body lacks %s\n  body: %s\n", __FILE__, __LINE__, needle, e_->body); } } } while (0)

static const char *avail(const char *from, int prio)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "<presence xmlns='jabber:client' from='%s'><priority>%d</priority></presence>", from, prio);
    return buf;
}

/* ---- tests ---- */

static void test_bind(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "phone");
    CHECK_INT(count(ENV_BIND_RESP), 1);
    CHECK_HAS(nth(ENV_BIND_RESP, 0), "\"jid\":\"alice@localhost/phone\"");
    CHECK_INT(nth(ENV_BIND_RESP, 0)->h.flags, 0);
    CHECK_INT(nth(ENV_BIND_RESP, 0)->h.req, 7);
    CHECK_STR(nth(ENV_BIND_RESP, 0)->h.dest, "c2s.0");
    CHECK_STR(redis_log, "DEL alice@localhost -;HSET alice@localhost phone;");
    reset_sent();
    bind_as("c2s.0", 2, "Alice@LOCALHOST", "");
    sent_env *r = nth(ENV_BIND_RESP, 0);
    CHECK(r && strlen(strstr(r->body, "alice@localhost/") + 16) == 18);   /* 16 hex + "\"}" */
    CHECK_INT(sm.nsessions, 2);
    teardown();
}

static void test_bind_refused(void)
{
    setup();
    bind_as("c2s.0", 1, "bob@localhost", "x");           /* sm.1's user */
    CHECK_HAS(nth(ENV_BIND_RESP, 0), "internal-server-error");
    CHECK_INT(nth(ENV_BIND_RESP, 0)->h.flags, ENV_F_ERROR);
    dispatch(ENV_BIND_REQ, "c2s.0", 2, "not json");
    CHECK_HAS(nth(ENV_BIND_RESP, 1), "bad-request");
    bind_as("c2s.0", 3, "alice@localhost/res", "x");
    CHECK_HAS(nth(ENV_BIND_RESP, 2), "bad-request");
    bind_as("c2s.0", 4, "alice@example.org", "x");
    CHECK_HAS(nth(ENV_BIND_RESP, 3), "bad-request");
    CHECK_INT(sm.nsessions, 0);
    CHECK_INT(sm.users.count, 0);
    teardown();
}

static void test_bind_limit(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 2, "alice@localhost", "b");
    bind_as("c2s.0", 3, "alice@localhost", "c");
    bind_as("c2s.0", 4, "alice@localhost", "d");
    CHECK_HAS(nth(ENV_BIND_RESP, 3), "\"condition\":\"resource-constraint\"");
    CHECK_INT(nth(ENV_BIND_RESP, 3)->h.flags, ENV_F_ERROR);
    bind_as("c2s.1", 5, "alice@localhost", "c");         /* replacing stays possible */
    CHECK_HAS(nth(ENV_BIND_RESP, 4), "\"ok\":true");
    CHECK_INT(sm.nsessions, 3);
    teardown();
}

static void test_conflict(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "phone");
    reset_sent();
    bind_as("c2s.1", 9, "alice@localhost", "phone");
    sent_env *k = nth(ENV_KICK, 0);
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->h.dest, "c2s.0");
        CHECK_INT(k->h.conn, 1);
        CHECK_HAS(k, "\"condition\":\"conflict\"");
    }
    CHECK_HAS(nth(ENV_BIND_RESP, 0), "\"ok\":true");
    CHECK_INT(sm.nsessions, 1);
    /* the old connection's late UNBIND must not end the new session */
    dispatch(ENV_UNBIND, "c2s.0", 1, "{\"jid\":\"alice@localhost/phone\"}");
    CHECK_INT(sm.nsessions, 1);
    reset_sent();
    dispatch(ENV_UNBIND, "c2s.1", 9, "{\"jid\":\"alice@localhost/phone\"}");
    CHECK_INT(sm.nsessions, 0);
    CHECK_INT(sm.users.count, 0);
    CHECK_STR(redis_log, "HDEL alice@localhost phone;");
    teardown();
}

static void test_message_bare_priorities(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "r1");
    bind_as("c2s.0", 2, "alice@localhost", "r2");
    bind_as("c2s.0", 3, "alice@localhost", "r3");
    bind_as("c2s.0", 4, "carol@localhost", "c");
    out(1, avail("alice@localhost/r1", 1));
    out(2, avail("alice@localhost/r2", 5));
    out(3, avail("alice@localhost/r3", 5));
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='chat'><body>hi</body></message>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 2);
    CHECK_HAS(delivered_to(2, 0), "<body>hi</body>");
    CHECK_HAS(delivered_to(3, 0), "xmlns='jabber:client'");
    CHECK(delivered_to(1, 0) == NULL);
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='headline'><body>h</body></message>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 3);
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='groupchat' id='g'><body>g</body></message>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 1);
    CHECK_HAS(delivered_to(4, 0), "<service-unavailable");
    teardown();
}

static void test_message_unavailable(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 4, "carol@localhost", "c");
    out(1, avail("alice@localhost/a", -1));          /* available, negative priority */
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' id='m1'><body>x</body></message>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 1);
    CHECK_HAS(delivered_to(4, 0), "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>");
    CHECK_HAS(delivered_to(4, 0), "from='alice@localhost'");
    CHECK_HAS(delivered_to(4, 0), "id='m1'");
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='headline'><body>x</body></message>");
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='error'><body>x</body></message>");
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='eve@localhost' type='error'/>");
    CHECK_INT(nsent, 0);
    /* full JID of a session that is not there, chat: treated as bare JID */
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/gone' type='chat'><body>x</body></message>");
    CHECK_HAS(delivered_to(4, 0), "service-unavailable");
    /* the full JID of a bound (even unavailable) session gets it */
    reset_sent();
    out(4, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/a' type='chat'><body>x</body></message>");
    CHECK(delivered_to(1, 0) != NULL);
    teardown();
}

static void test_message_remote_shard(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    reset_sent();
    out(1, "<message xmlns='jabber:client' from='alice@localhost/a' to='bob@localhost/x' type='chat'><body>b</body></message>");
    sent_env *e = nth(ENV_STANZA_IN, 0);
    CHECK(e != NULL);
    if (e) {
        CHECK_INT(e->h.dest_kind, ENV_DEST_SLOT);
        CHECK_INT(e->h.slot, slot_of("bob@localhost"));
        CHECK_HAS(e, "<message xmlns='jabber:client'");
    }
    /* what sm.1 sends back for alice is delivered here */
    reset_sent();
    dispatch(ENV_STANZA_IN, "sm.1", 0,
             "<message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost/a' type='chat'><body>r</body></message>");
    CHECK_HAS(delivered_to(1, 0), "<body>r</body>");
    /* and only from an sm: a c2s may not inject inbound stanzas */
    reset_sent();
    dispatch(ENV_STANZA_IN, "c2s.0", 0,
             "<message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost/a'><body>r</body></message>");
    dispatch(ENV_KICK, "c2s.0", 0, "{}");
    CHECK_INT(nsent, 0);
    teardown();
}

static void test_self_message(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    out(1, avail("alice@localhost/a", 0));
    reset_sent();
    out(1, "<message xmlns='jabber:client' from='alice@localhost/a'><body>note</body></message>");
    CHECK_HAS(delivered_to(1, 0), "to='alice@localhost'");
    teardown();
}

static void test_bad_addresses(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    reset_sent();
    out(1, "<message xmlns='jabber:client' from='alice@localhost/a' to='a@b@c' id='1'><body>x</body></message>");
    CHECK_HAS(delivered_to(1, 0), "<jid-malformed");
    CHECK(delivered_to(1, 0) && !strstr(delivered_to(1, 0)->body, "from="));
    out(1, "<message xmlns='jabber:client' from='alice@localhost/a' to='x@example.org' id='2'/>");
    CHECK_HAS(delivered_to(1, 1), "<remote-server-not-found");
    out(1, "<message xmlns='jabber:client' from='alice@localhost/a' to='a@b@c' type='error'/>");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='x@example.org' type='result' id='3'/>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 2);
    /* a stanza from a connection that holds no session is dropped */
    reset_sent();
    dispatch(ENV_STANZA_OUT, "c2s.0", 2, "<message xmlns='jabber:client' from='alice@localhost/a' to='carol@localhost'/>");
    dispatch(ENV_STANZA_OUT, "c2s.0", 1, "<message from='alice@localhost/a' to='carol@localhost'/>");
    dispatch(ENV_STANZA_OUT, "c2s.0", 1, "<message xmlns='jabber:client'");
    CHECK_INT(nsent, 0);
    teardown();
}

static void test_iq_server(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    reset_sent();
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_HAS(delivered_to(1, 0), "<iq xmlns='jabber:client' to='alice@localhost/a' id='p1' type='result'/>");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='localhost' type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_HAS(delivered_to(1, 1), "from='localhost'");
    CHECK_HAS(delivered_to(1, 1), "type='result'");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
    CHECK_HAS(delivered_to(1, 2), "<query xmlns='jabber:iq:roster'/></iq>");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='alice@localhost' type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>");
    CHECK_HAS(delivered_to(1, 3), "type='result'");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='localhost' type='get' id='u1'><query xmlns='urn:example:unknown'/></iq>");
    CHECK_HAS(delivered_to(1, 4), "<service-unavailable");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' type='set' id='u2'/>");
    CHECK_HAS(delivered_to(1, 5), "<service-unavailable");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' type='get' id='u3'><a xmlns='x'/><b xmlns='x'/></iq>");
    CHECK_HAS(delivered_to(1, 6), "<bad-request");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='localhost' type='get' id='r3'><query xmlns='jabber:iq:roster'/></iq>");
    CHECK_HAS(delivered_to(1, 7), "<service-unavailable");
    reset_sent();
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' type='result' id='x1'/>");
    out(1, "<iq xmlns='jabber:client' from='alice@localhost/a' to='localhost' type='error' id='x2'/>");
    CHECK_INT(nsent, 0);
    teardown();
}

static void test_iq_accounts(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 4, "carol@localhost", "c");
    reset_sent();
    out(4, "<iq xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/a' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>");
    CHECK_HAS(delivered_to(1, 0), "id='v'");
    out(4, "<iq xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/zz' type='get' id='w'><query xmlns='jabber:iq:version'/></iq>");
    CHECK_HAS(delivered_to(4, 0), "<service-unavailable");
    out(4, "<iq xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='get' id='y'><vCard xmlns='vcard-temp'/></iq>");
    CHECK_HAS(delivered_to(4, 1), "<service-unavailable");
    reset_sent();
    out(4, "<iq xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/zz' type='result' id='z'/>");
    CHECK_INT(nsent, 0);
    teardown();
}

static void test_presence(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 2, "alice@localhost", "b");
    bind_as("c2s.0", 4, "carol@localhost", "c");
    reset_sent();
    out(1, avail("alice@localhost/a", 300));
    sm_session *a = sm_user_find(&sm, "alice@localhost")->sessions->next;
    CHECK_STR(a->resource, "a");
    CHECK_INT(a->prio, 127);
    CHECK_INT(a->avail, 1);
    CHECK_INT(count(ENV_STANZA_DELIVER), 1);               /* echo to itself only: b is not available */
    CHECK(strstr(redis_log, "HSET alice@localhost a;") != NULL);
    out(2, "<presence xmlns='jabber:client' from='alice@localhost/b'/>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 3);               /* to a and b */
    reset_sent();
    out(4, "<presence xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost'/>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 2);
    out(4, "<presence xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/nope'/>");
    out(4, "<presence xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost' type='probe'/>");
    CHECK_INT(count(ENV_STANZA_DELIVER), 2);
    reset_sent();
    out(1, "<presence xmlns='jabber:client' from='alice@localhost/a' type='unavailable'/>");
    CHECK_INT(a->avail, 0);
    CHECK_INT(count(ENV_STANZA_DELIVER), 1);
    CHECK(delivered_to(2, 0) != NULL);
    /* b disconnects while available: a is not available, nobody hears */
    reset_sent();
    dispatch(ENV_UNBIND, "c2s.0", 2, "{\"jid\":\"alice@localhost/b\",\"reason\":\"gone away\"}");
    CHECK_INT(nsent, 0);
    CHECK_INT(sm.nsessions, 2);
    teardown();
}

static void test_unroutable(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 4, "carol@localhost", "c");
    reset_sent();
    bounce(ENV_STANZA_DELIVER, 1, "<message xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/a'/>");
    CHECK(sm_user_find(&sm, "alice@localhost") == NULL);
    CHECK_STR(redis_log, "HDEL alice@localhost a;");
    bounce(ENV_STANZA_IN, 0, "<message xmlns='jabber:client' from='carol@localhost/c' to='bob@localhost' id='q'/>");
    CHECK_HAS(delivered_to(4, 0), "<service-unavailable");
    bounce(ENV_KICK, 9, "{}");
    bounce(ENV_BIND_RESP, 4, "{\"ok\":true,\"jid\":\"carol@localhost/c\"}");
    CHECK_INT(sm.nsessions, 0);
    teardown();
}

/* A c2s bounces a delivery for a connection it no longer has: the session
 * on that c2s is dropped, not one with the same connection id elsewhere. */
static void test_unroutable_from_c2s(void)
{
    setup();
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.1", 1, "alice@localhost", "b");
    reset_sent();
    bounce_from("c2s.1", ENV_STANZA_DELIVER, 1, "<presence xmlns='jabber:client' from='alice@localhost/a'/>");
    sm_user *u = sm_user_find(&sm, "alice@localhost");
    CHECK(u && u->nsessions == 1 && strcmp(u->sessions->resource, "a") == 0);
    /* a bounced IQ request is answered for the dropped target */
    bind_as("c2s.0", 4, "carol@localhost", "c");
    reset_sent();
    bounce_from("c2s.0", ENV_STANZA_DELIVER, 1,
                "<iq xmlns='jabber:client' from='carol@localhost/c' to='alice@localhost/a' type='get' id='i'><x xmlns='y'/></iq>");
    CHECK_HAS(delivered_to(4, 0), "<service-unavailable");
    CHECK(sm_user_find(&sm, "alice@localhost") == NULL);
    /* only routers and c2s nodes may bounce */
    bounce_from("sm.1", ENV_STANZA_DELIVER, 4, "<message xmlns='jabber:client' to='carol@localhost/c'/>");
    CHECK_INT(sm.nsessions, 1);
    teardown();
}

static void test_redis_down(void)
{
    setup();
    redis_is_up = 0;
    bind_as("c2s.0", 1, "alice@localhost", "a");
    bind_as("c2s.0", 2, "carol@localhost", "c");
    CHECK_STR(redis_log, "");
    redis_is_up = 1;
    sm_session_resync(&sm);
    CHECK(strstr(redis_log, "DEL alice@localhost -;HSET alice@localhost a;") != NULL);
    CHECK(strstr(redis_log, "DEL carol@localhost -;HSET carol@localhost c;") != NULL);
    CHECK(sm_session_is_stale(&sm, "eve@localhost"));      /* sm.0's slot, nobody here */
    CHECK(!sm_session_is_stale(&sm, "alice@localhost"));
    CHECK(!sm_session_is_stale(&sm, "bob@localhost"));      /* sm.1's */
    teardown();
}

int main(void)
{
    log_init("test", LOG_ERROR);
    XASSERT(slot_of("alice@localhost") < 512 && slot_of("carol@localhost") < 512 &&
            slot_of("eve@localhost") < 512 && slot_of("bob@localhost") >= 512);
    RUN(test_bind);
    RUN(test_bind_refused);
    RUN(test_bind_limit);
    RUN(test_conflict);
    RUN(test_message_bare_priorities);
    RUN(test_message_unavailable);
    RUN(test_message_remote_shard);
    RUN(test_self_message);
    RUN(test_bad_addresses);
    RUN(test_iq_server);
    RUN(test_iq_accounts);
    RUN(test_presence);
    RUN(test_unroutable);
    RUN(test_unroutable_from_c2s);
    RUN(test_redis_down);
    return TEST_RESULT();
}
