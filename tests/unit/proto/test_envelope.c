/*
 * test_envelope.c - envelope header round trips and rejection of
 * malformed frames; batches of records; slot hashing vectors.
 */
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "slot.h"
#include "test.h"

static void test_roundtrip(void)
{
    env_hdr h = {0}, d;
    unsigned char f[ENV_HDR_LEN];
    h.type = ENV_STANZA_DELIVER;
    h.flags = 0x8001;
    h.conn = 0x0123456789abcdefULL;
    h.trace = 0xfedcba9876543210ULL;
    h.req = 0xdeadbeef;
    h.body_hint = 512;
    CHECK_INT(env_set_dest_node(&h, "c2s.1"), 0);
    snprintf(h.src, sizeof h.src, "sm.0");
    CHECK_INT(env_encode(&h, f), 0);
    CHECK_INT(f[0], 0x58);
    CHECK_INT(f[1], ENV_VERSION);
    CHECK_INT(f[2], ENV_STANZA_DELIVER);
    CHECK_INT(f[8], 0x01);   /* big-endian conn id */
    CHECK_INT(f[15], 0xef);
    CHECK_INT(env_decode(f, sizeof f, &d), 0);
    CHECK_INT(d.type, h.type);
    CHECK_INT(d.dest_kind, ENV_DEST_NODE);
    CHECK_INT(d.flags, h.flags);
    CHECK(d.conn == h.conn);
    CHECK(d.trace == h.trace);
    CHECK(d.req == h.req);
    CHECK_INT(d.body_hint, 512);
    CHECK_STR(d.dest, "c2s.1");
    CHECK_STR(d.src, "sm.0");
}

static void test_slot_dest(void)
{
    env_hdr h = {0}, d;
    unsigned char f[ENV_HDR_LEN];
    h.type = ENV_STANZA_OUT;
    env_set_dest_slot(&h, 1023);
    snprintf(h.src, sizeof h.src, "c2s.0");
    CHECK_INT(env_encode(&h, f), 0);
    CHECK_INT(env_decode(f, sizeof f, &d), 0);
    CHECK_INT(d.dest_kind, ENV_DEST_SLOT);
    CHECK_INT(d.slot, 1023);
    CHECK_STR(d.dest, "");
}

static void test_rejects(void)
{
    env_hdr h = {0}, d;
    unsigned char f[ENV_HDR_LEN], g[ENV_HDR_LEN];
    h.type = ENV_HEARTBEAT;
    env_set_dest_node(&h, "router.0");
    snprintf(h.src, sizeof h.src, "sm.1");
    CHECK_INT(env_encode(&h, f), 0);
    CHECK_INT(env_decode(f, ENV_HDR_LEN - 1, &d), -1);         /* short */
    memcpy(g, f, sizeof g); g[0] = 0x59;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* magic */
    memcpy(g, f, sizeof g); g[1] = ENV_VERSION + 1;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* version */
    memcpy(g, f, sizeof g); g[2] = 250;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* type */
    memcpy(g, f, sizeof g); g[3] = 7;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* dest kind */
    memcpy(g, f, sizeof g); g[6] = 0x04;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* slot >= 1024 */
    memcpy(g, f, sizeof g); g[30] = 17;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* dest length */
    memcpy(g, f, sizeof g); g[31] = 0;
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* empty source */
    memcpy(g, f, sizeof g); g[40] = 'x';
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* junk after dest */
    memcpy(g, f, sizeof g); g[33] = ' ';
    CHECK_INT(env_decode(g, sizeof g, &d), -1);                /* space in node id */
    CHECK_INT(env_set_dest_node(&h, "a-node-id-that-is-too-long"), -1);
    h.type = 99;
    CHECK_INT(env_encode(&h, f), -1);
}

static void test_names(void)
{
    CHECK_STR(env_type_name(ENV_STANZA_OUT), "STANZA_OUT");
    CHECK_STR(env_type_name(ENV_STORAGE_RESP), "STORAGE_RESP");
    CHECK_STR(env_type_name(200), "UNKNOWN");
}

static void test_slots(void)
{
    /* FNV-1a 32 reference values */
    CHECK(slot_fnv1a("", 0) == 2166136261u);
    CHECK(slot_fnv1a("a", 1) == 0xe40c292cu);
    CHECK(slot_fnv1a("foobar", 6) == 0xbf9cf968u);
    CHECK_INT(slot_of("foobar"), 0xbf9cf968u % 1024);
}

static void test_batch(void)
{
    buf_t b = BUF_INIT;
    env_hdr h = {0}, d;
    h.type = ENV_STANZA_IN;
    env_set_dest_slot(&h, 7);
    snprintf(h.src, sizeof h.src, "sm.1");
    CHECK_INT(env_batch_add(&b, &h, "<message/>", 10), 0);
    h.type = ENV_HEARTBEAT;
    CHECK_INT(env_set_dest_node(&h, "router.0"), 0);
    CHECK_INT(env_batch_add(&b, &h, "", 0), 0);
    CHECK_INT(b.len, 2 * (ENV_REC_PREFIX + ENV_HDR_LEN) + 10);

    size_t off = 0;
    env_rec r;
    CHECK_INT(env_batch_next(b.data, b.len, &off, &r), 1);
    CHECK_INT(r.len, 10);
    CHECK(memcmp(r.body, "<message/>", 10) == 0);
    CHECK(r.raw == (const unsigned char *)b.data && r.raw_len == ENV_REC_PREFIX + ENV_HDR_LEN + 10);
    CHECK_INT(env_decode(r.hdr, ENV_HDR_LEN, &d), 0);
    CHECK_INT(d.type, ENV_STANZA_IN);
    CHECK_INT(d.slot, 7);
    CHECK_INT(env_batch_next(b.data, b.len, &off, &r), 1);
    CHECK_INT(r.len, 0);
    CHECK_INT(env_decode(r.hdr, ENV_HDR_LEN, &d), 0);
    CHECK_INT(d.type, ENV_HEARTBEAT);
    CHECK_STR(d.dest, "router.0");
    CHECK_INT(env_batch_next(b.data, b.len, &off, &r), 0);

    /* truncated body, truncated header, a length past the frame, over the maximum */
    off = 0;
    CHECK_INT(env_batch_next(b.data, ENV_REC_PREFIX + ENV_HDR_LEN + 9, &off, &r), -1);
    off = 0;
    CHECK_INT(env_batch_next(b.data, ENV_REC_PREFIX + 10, &off, &r), -1);
    b.data[0] = 0x7f;
    off = 0;
    CHECK_INT(env_batch_next(b.data, b.len, &off, &r), -1);
    CHECK_INT(env_batch_add(&b, &h, "", (size_t)ENV_BODY_MAX + 1), -1);
    h.type = 0xee;                                   /* not encodable: batch unchanged */
    size_t before = b.len;
    CHECK_INT(env_batch_add(&b, &h, "x", 1), -1);
    CHECK_INT(b.len, before);
    buf_free(&b);
}

int main(void)
{
    RUN(test_batch);
    RUN(test_roundtrip);
    RUN(test_slot_dest);
    RUN(test_rejects);
    RUN(test_names);
    RUN(test_slots);
    return TEST_RESULT();
}
