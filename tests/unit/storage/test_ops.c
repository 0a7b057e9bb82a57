/*
 * test_ops.c - tests of storage-workers/ops.c, the storage protocol, over
 * the SQLite driver on a temporary file: each op's replies, the reply
 * shape for every error code, and strict argument checking (each malformed
 * request is a bad-request and changes nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "driver.h"
#include "log.h"
#include "ops.h"
#include "scram.h"
#include "test.h"

static ops_ctx ctx;
static char tmpdir[256];
static char dbpath[512];

/* Base64 of n bytes of value v, into a static buffer per call site. */
static const char *b64_of(unsigned char v, size_t n, char *out, size_t outsz)
{
    unsigned char raw[128];
    buf_t b = BUF_INIT;
    memset(raw, v, sizeof raw);
    if (n > sizeof raw || scram_b64_encode(raw, n, &b) < 0) abort();
    snprintf(out, outsz, "%s", buf_head(&b));
    buf_free(&b);
    return out;
}

/* A valid "scram" object text whose salt bytes are all `seed`. */
static const char *scram_json(unsigned char seed)
{
    static char text[1024];
    char s[64], k20a[64], k20b[64], k32a[64], k32b[64];
    snprintf(text, sizeof text,
             "{\"SCRAM-SHA-1\":{\"salt\":\"%s\",\"iter\":4096,\"stored_key\":\"%s\",\"server_key\":\"%s\"},"
             "\"SCRAM-SHA-256\":{\"salt\":\"%s\",\"iter\":8192,\"stored_key\":\"%s\",\"server_key\":\"%s\"}}",
             b64_of(seed, 16, s, sizeof s), b64_of(1, 20, k20a, sizeof k20a), b64_of(2, 20, k20b, sizeof k20b),
             s, b64_of(3, 32, k32a, sizeof k32a), b64_of(4, 32, k32b, sizeof k32b));
    return text;
}

/* Run a request given as text; returns the reply (caller decrefs). */
static json_t *run(const char *req)
{
    char op[32];
    json_t *r = ops_handle(&ctx, req, strlen(req), op, sizeof op);
    if (!r) abort();
    return r;
}

/* The reply's code ("ok" for success), copied so the reply can go. */
static const char *code_of(const char *req)
{
    static char code[32];
    json_t *r = run(req);
    const char *c = ops_reply_code(r);
    int ok = ops_reply_ok(r);
    /* every failure carries a code and a text; success carries neither */
    if (ok) CHECK(!json_object_get(r, "code") && !json_object_get(r, "error"));
    else CHECK(c != NULL && json_is_string(json_object_get(r, "error")));
    snprintf(code, sizeof code, "%s", ok ? "ok" : (c ? c : "?"));
    json_decref(r);
    return code;
}

static const char *req_create(const char *jid, unsigned char seed)
{
    static char text[1400];
    snprintf(text, sizeof text, "{\"op\":\"user.create\",\"jid\":\"%s\",\"scram\":%s}", jid, scram_json(seed));
    return text;
}

static void setup(void)
{
    char yaml[700], err[256];
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/xmpp-ops-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) abort();
    snprintf(dbpath, sizeof dbpath, "%s/ops.db", tmpdir);
    snprintf(yaml, sizeof yaml, "storage:\n  path: \"%s\"\n", dbpath);
    config_t *c = config_load_string(yaml, err, sizeof err);
    ctx.drv = &driver_sqlite;
    ctx.db = c ? ctx.drv->open(c, err, sizeof err) : NULL;
    config_free(&c);
    if (!ctx.db || ctx.drv->migrate(ctx.db, NULL) != DRIVER_OK) {
        fprintf(stderr, "setup: %s\n", err);
        abort();
    }
}

static void teardown(void)
{
    char p[600];
    ctx.drv->close(&ctx.db);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

static void test_create_get(void)
{
    char s[64], k[64];
    CHECK_STR(code_of(req_create("alice@localhost", 9)), "ok");
    CHECK_STR(code_of(req_create("alice@localhost", 9)), "exists");
    json_t *r = run("{\"op\":\"user.get\",\"jid\":\"alice@localhost\"}");
    CHECK(ops_reply_ok(r));
    CHECK_STR(json_string_value(json_object_get(r, "jid")), "alice@localhost");
    CHECK(json_integer_value(json_object_get(r, "created")) > 1600000000);
    json_t *sha1 = json_object_get(json_object_get(r, "scram"), "SCRAM-SHA-1");
    json_t *sha256 = json_object_get(json_object_get(r, "scram"), "SCRAM-SHA-256");
    CHECK_STR(json_string_value(json_object_get(sha1, "salt")), b64_of(9, 16, s, sizeof s));
    CHECK_INT(json_integer_value(json_object_get(sha1, "iter")), 4096);
    CHECK_STR(json_string_value(json_object_get(sha1, "stored_key")), b64_of(1, 20, k, sizeof k));
    CHECK_STR(json_string_value(json_object_get(sha1, "server_key")), b64_of(2, 20, k, sizeof k));
    CHECK_INT(json_integer_value(json_object_get(sha256, "iter")), 8192);
    CHECK_STR(json_string_value(json_object_get(sha256, "stored_key")), b64_of(3, 32, k, sizeof k));
    CHECK_STR(json_string_value(json_object_get(sha256, "server_key")), b64_of(4, 32, k, sizeof k));
    CHECK_INT(json_object_size(json_object_get(r, "scram")), 2);
    json_decref(r);
    r = run("{\"op\":\"user.get\",\"jid\":\"nobody@localhost\"}");
    CHECK_STR(ops_reply_code(r), "not-found");
    CHECK(strstr(json_string_value(json_object_get(r, "error")), "nobody@localhost") != NULL);
    json_decref(r);
}

static void test_passwd(void)
{
    char req[1400], s[64];
    snprintf(req, sizeof req, "{\"op\":\"user.passwd\",\"jid\":\"bob@localhost\",\"scram\":%s}", scram_json(5));
    CHECK_STR(code_of(req), "not-found");
    CHECK_STR(code_of(req_create("bob@localhost", 4)), "ok");
    CHECK_STR(code_of(req), "ok");
    json_t *r = run("{\"op\":\"user.get\",\"jid\":\"bob@localhost\"}");
    json_t *sha256 = json_object_get(json_object_get(r, "scram"), "SCRAM-SHA-256");
    CHECK_STR(json_string_value(json_object_get(sha256, "salt")), b64_of(5, 16, s, sizeof s));
    json_decref(r);
}

static void test_delete(void)
{
    CHECK_STR(code_of("{\"op\":\"user.delete\",\"jid\":\"carol@localhost\"}"), "not-found");
    CHECK_STR(code_of(req_create("carol@localhost", 1)), "ok");
    CHECK_STR(code_of("{\"op\":\"user.delete\",\"jid\":\"carol@localhost\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"user.get\",\"jid\":\"carol@localhost\"}"), "not-found");
    CHECK_STR(code_of("{\"op\":\"user.delete\",\"jid\":\"carol@localhost\"}"), "not-found");
    CHECK_STR(code_of(req_create("carol@localhost", 2)), "ok");   /* can be created again */
}

static void test_list(void)
{
    CHECK_STR(code_of(req_create("zoe@localhost", 1)), "ok");
    CHECK_STR(code_of(req_create("dan@example.com", 1)), "ok");
    json_t *r = run("{\"op\":\"user.list\",\"domain\":\"localhost\"}");
    char *text = json_dumps(json_object_get(r, "users"), JSON_COMPACT);
    CHECK_STR(text, "[\"alice@localhost\",\"bob@localhost\",\"carol@localhost\",\"zoe@localhost\"]");
    free(text);
    json_decref(r);
    r = run("{\"op\":\"user.list\"}");
    CHECK_INT(json_array_size(json_object_get(r, "users")), 5);
    CHECK_STR(json_string_value(json_array_get(json_object_get(r, "users"), 0)), "alice@localhost");
    json_decref(r);
    r = run("{\"op\":\"user.list\",\"domain\":\"example.net\"}");
    CHECK(ops_reply_ok(r));
    CHECK_INT(json_array_size(json_object_get(r, "users")), 0);
    json_decref(r);
}

/* Each of these must be answered with bad-request. */
static void test_bad_requests(void)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{\"op\":\"user.get\",\"jid\":\"alice@localhost\"",
        "[\"user.get\"]",
        "\"user.get\"",
        "{}",
        "{\"op\":42}",
        "{\"op\":null}",
        "{\"op\":\"user.frobnicate\"}",
        "{\"op\":\"user.get\",\"op\":\"user.delete\",\"jid\":\"alice@localhost\"}",
        "{\"op\":\"user.get\"}",
        "{\"op\":\"user.get\",\"jid\":7}",
        "{\"op\":\"user.get\",\"jid\":[\"alice@localhost\"]}",
        "{\"op\":\"user.get\",\"jid\":\"\"}",
        "{\"op\":\"user.get\",\"jid\":\"localhost\"}",
        "{\"op\":\"user.get\",\"jid\":\"Alice@localhost\"}",
        "{\"op\":\"user.get\",\"jid\":\"alice@LOCALHOST\"}",
        "{\"op\":\"user.get\",\"jid\":\"alice@localhost/res\"}",
        "{\"op\":\"user.get\",\"jid\":\"a@b@c\"}",
        "{\"op\":\"user.get\",\"jid\":\"alice@localhost\",\"extra\":1}",
        "{\"op\":\"user.delete\",\"jid\":\"alice@localhost\",\"scram\":{}}",
        "{\"op\":\"user.list\",\"domain\":7}",
        "{\"op\":\"user.list\",\"domain\":\"a@localhost\"}",
        "{\"op\":\"user.list\",\"domain\":\"\"}",
        "{\"op\":\"user.list\",\"jid\":\"alice@localhost\"}",
        "{\"op\":\"user.create\",\"jid\":\"new@localhost\"}",
        "{\"op\":\"user.create\",\"jid\":\"new@localhost\",\"scram\":\"x\"}",
        "{\"op\":\"user.create\",\"jid\":\"new@localhost\",\"scram\":{}}",
        "{\"op\":\"user.passwd\",\"jid\":\"alice@localhost\",\"scram\":null}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = code_of(bad[i]);
        if (strcmp(code, "bad-request") != 0) fprintf(stderr, "  request: %s -> %s\n", bad[i], code);
        CHECK_STR(code, "bad-request");
    }
}

/* Replace the first occurrence of `from` in the valid scram text with
 * `to` and check that user.create is refused. */
static void check_bad_scram(const char *from, const char *to)
{
    char scram[1024], req[1600];
    snprintf(scram, sizeof scram, "%s", scram_json(7));
    char *p = strstr(scram, from);
    CHECK(p != NULL);
    if (!p) return;
    char tail[1024];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, sizeof scram - (size_t)(p - scram), "%s%s", to, tail);
    snprintf(req, sizeof req, "{\"op\":\"user.create\",\"jid\":\"new@localhost\",\"scram\":%s}", scram);
    const char *code = code_of(req);
    if (strcmp(code, "bad-request") != 0) fprintf(stderr, "  scram: %s -> %s\n", scram, code);
    CHECK_STR(code, "bad-request");
}

static void test_bad_scram(void)
{
    char s65[160], k19[64], k32[64], salt[64];
    b64_of(7, 16, salt, sizeof salt);
    b64_of(1, 20, k32, sizeof k32);
    char from[96];
    snprintf(from, sizeof from, "\"salt\":\"%s\"", salt);
    check_bad_scram("\"iter\":4096", "\"iter\":\"4096\"");
    check_bad_scram("\"iter\":4096", "\"iter\":0");
    check_bad_scram("\"iter\":4096", "\"iter\":-1");
    check_bad_scram("\"iter\":4096", "\"iter\":4096.0");
    check_bad_scram("\"iter\":4096", "\"iter\":true");
    check_bad_scram("\"iter\":4096", "\"iter\":4294967296");
    check_bad_scram("\"iter\":4096,", "");
    check_bad_scram(from, "\"salt\":\"\"");
    check_bad_scram(from, "\"salt\":\"not base64!\"");
    check_bad_scram(from, "\"salt\":\"AAA\"");
    char big[128];
    snprintf(s65, sizeof s65, "\"salt\":\"%s\"", b64_of(1, 65, big, sizeof big));
    check_bad_scram(from, s65);
    check_bad_scram(from, "\"salt\":16");
    snprintf(k19, sizeof k19, "\"stored_key\":\"%s\"", b64_of(1, 19, salt, sizeof salt));
    snprintf(from, sizeof from, "\"stored_key\":\"%s\"", k32);
    check_bad_scram(from, k19);
    check_bad_scram("\"SCRAM-SHA-1\":{", "\"SCRAM-SHA-512\":{");
    check_bad_scram("\"SCRAM-SHA-1\":{", "\"SCRAM-SHA-1\":{\"extra\":1,");
    check_bad_scram("\"SCRAM-SHA-256\":{\"salt\"", "\"SCRAM-SHA-256\":5,\"x\":{\"salt\"");
    /* none of these created the account */
    CHECK_STR(code_of("{\"op\":\"user.get\",\"jid\":\"new@localhost\"}"), "not-found");
}

static void test_internal_error(void)
{
    char yaml[64], err[256];
    snprintf(yaml, sizeof yaml, "storage:\n  path: \":memory:\"\n");
    config_t *c = config_load_string(yaml, err, sizeof err);
    ops_ctx raw = {&driver_sqlite, driver_sqlite.open(c, err, sizeof err)};
    config_free(&c);
    CHECK(raw.db != NULL);
    /* not migrated: every op is a storage error, without database details */
    json_t *r = ops_handle(&raw, "{\"op\":\"user.get\",\"jid\":\"a@localhost\"}", 37, NULL, 0);
    CHECK_STR(ops_reply_code(r), "internal");
    CHECK_STR(json_string_value(json_object_get(r, "error")), "storage error");
    json_decref(r);
    r = ops_handle(&raw, "{\"op\":\"user.list\"}", 18, NULL, 0);
    CHECK_STR(ops_reply_code(r), "internal");
    json_decref(r);
    driver_sqlite.close(&raw.db);
}

static void test_execute_and_op_name(void)
{
    char op[8];
    json_t *req = json_pack("{s:s, s:s}", "op", "user.get", "jid", "alice@localhost");
    json_t *r = ops_execute(&ctx, req, op, sizeof op);
    CHECK(ops_reply_ok(r));
    CHECK_STR(op, "user.ge");   /* truncated to the buffer */
    json_decref(r);
    json_decref(req);
    r = ops_handle(&ctx, "{}", 2, op, sizeof op);
    CHECK_STR(op, "?");
    json_decref(r);
    r = ops_handle(&ctx, NULL, 0, op, sizeof op);
    CHECK_STR(ops_reply_code(r), "bad-request");
    json_decref(r);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    setup();
    RUN(test_create_get);
    RUN(test_passwd);
    RUN(test_delete);
    RUN(test_list);
    RUN(test_bad_requests);
    RUN(test_bad_scram);
    RUN(test_internal_error);
    RUN(test_execute_and_op_name);
    teardown();
    return TEST_RESULT();
}
