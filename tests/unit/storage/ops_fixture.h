/*
 * ops_fixture.h - what the storage protocol tests share: one migrated
 * SQLite database in a temporary directory for the whole run (setup,
 * teardown), requests run as JSON text with their replies or codes, and
 * builders for large or formatted requests and valid SCRAM objects.
 */
#ifndef XMPP_TEST_OPS_FIXTURE_H
#define XMPP_TEST_OPS_FIXTURE_H

#include <stdarg.h>
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
static inline const char *b64_of(unsigned char v, size_t n, char *out, size_t outsz)
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
static inline const char *scram_json(unsigned char seed)
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
static inline json_t *run(const char *req)
{
    char op[32];
    json_t *r = ops_handle(&ctx, req, strlen(req), op, sizeof op);
    if (!r) abort();
    return r;
}

/* The reply's code ("ok" for success), copied so the reply can go. */
static inline const char *code_of(const char *req)
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

static inline const char *req_create(const char *jid, unsigned char seed)
{
    static char text[1400];
    snprintf(text, sizeof text, "{\"op\":\"user.create\",\"jid\":\"%s\",\"scram\":%s}", jid, scram_json(seed));
    return text;
}

static inline void setup(void)
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

static inline void teardown(void)
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

/* The reply to req as compact JSON with sorted keys; valid until the next
 * call. */
static inline const char *reply_of(const char *req)
{
    static char *text;
    free(text);
    json_t *r = run(req);
    text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r);
    return text ? text : "(oom)";
}

/* A request built from a format (the text is malloc'd; see code_free). */
static inline char *req_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *req_fmt(const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0) abort();
    va_end(ap);
    return text;
}

/* code_of for a malloc'd request, which it frees. */
static inline const char *code_free(char *req)
{
    const char *code = code_of(req);
    if (strcmp(code, "bad-request") == 0 && getenv("TEST_VERBOSE")) fprintf(stderr, "  %.120s\n", req);
    free(req);
    return code;
}

/* n bytes of 'x' (malloc'd). */
static inline char *xs(size_t n)
{
    char *p = malloc(n + 1);
    if (!p) abort();
    memset(p, 'x', n);
    p[n] = '\0';
    return p;
}

#endif
