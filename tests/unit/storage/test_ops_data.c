/*
 * test_ops_data.c - tests of the keyed-data part of the storage protocol
 * (storage-workers/ops.c: data.get, data.put, data.del, data.list and the
 * kinds of user.load) over the SQLite driver on a temporary file: the
 * exact replies, the error codes, the size limits of kind, key and value
 * (counted in bytes), values that must come back byte for byte, and strict
 * argument checking (each malformed request is a bad-request and changes
 * nothing). The rest of the protocol is in test_ops.c.
 */
#include "ops_fixture.h"

/* The stamp of a data.get reply, after checking the reply's shape. */
static int64_t get_stamp(const char *req, const char *want_value)
{
    json_t *r = run(req);
    CHECK(json_is_true(json_object_get(r, "ok")));
    CHECK(json_is_true(json_object_get(r, "found")));
    CHECK_INT(json_object_size(r), 4);
    CHECK_STR(json_string_value(json_object_get(r, "value")), want_value);
    int64_t stamp = json_integer_value(json_object_get(r, "stamp"));
    CHECK(stamp > 1600000000);
    json_decref(r);
    return stamp;
}

static void test_data_ops_json(void)
{
    CHECK_STR(code_of(req_create("dora@localhost", 1)), "ok");
    CHECK_STR(reply_of("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}"),
              "{\"found\":false,\"ok\":true}");
    CHECK_STR(reply_of("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\","
                       "\"value\":\"<vCard xmlns='vcard-temp'/>\"}"), "{\"ok\":true}");
    get_stamp("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
              "<vCard xmlns='vcard-temp'/>");
    CHECK_STR(reply_of("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\","
                       "\"value\":\"<vCard xmlns='vcard-temp'><FN>Dora</FN></vCard>\",\"max\":1}"), "{\"ok\":true}");
    get_stamp("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
              "<vCard xmlns='vcard-temp'><FN>Dora</FN></vCard>");
    /* a list in key order, each item exactly key, value, stamp */
    static const char *const keys[] = {"mallory@evil.example", "eve@evil.example", "evil.example"};
    for (int i = 0; i < 3; i++) {
        CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"block\","
                                    "\"key\":\"%s\",\"value\":\"%d\"}", keys[i], i)), "ok");
    }
    json_t *r = run("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"block\"}");
    json_t *items = json_object_get(r, "items");
    CHECK(ops_reply_ok(r));
    CHECK_INT(json_object_size(r), 2);
    CHECK_INT(json_array_size(items), 3);
    static const char *const want[][2] = {{"eve@evil.example", "1"}, {"evil.example", "2"},
                                          {"mallory@evil.example", "0"}};
    for (size_t i = 0; i < json_array_size(items) && i < 3; i++) {
        json_t *it = json_array_get(items, i);
        CHECK_INT(json_object_size(it), 3);
        CHECK_STR(json_string_value(json_object_get(it, "key")), want[i][0]);
        CHECK_STR(json_string_value(json_object_get(it, "value")), want[i][1]);
        CHECK(json_integer_value(json_object_get(it, "stamp")) > 1600000000);
    }
    json_decref(r);
    /* delete one key (twice: idempotent), then the whole kind */
    CHECK_STR(reply_of("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"block\","
                       "\"key\":\"evil.example\"}"), "{\"ok\":true}");
    CHECK_STR(reply_of("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"block\","
                       "\"key\":\"evil.example\"}"), "{\"ok\":true}");
    r = run("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"block\"}");
    CHECK_INT(json_array_size(json_object_get(r, "items")), 2);
    json_decref(r);
    CHECK_STR(reply_of("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"block\"}"), "{\"ok\":true}");
    CHECK_STR(reply_of("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"block\"}"),
              "{\"items\":[],\"ok\":true}");
    CHECK_STR(reply_of("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"block\"}"), "{\"ok\":true}");
    /* the vcard kind was not touched */
    get_stamp("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
              "<vCard xmlns='vcard-temp'><FN>Dora</FN></vCard>");
}

/* A missing account: the same not-found as the other per-user ops. */
static void test_data_account_missing(void)
{
    static const char *const reqs[] = {
        "{\"op\":\"data.get\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.put\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\"}",
        "{\"op\":\"data.put\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":1}",
        "{\"op\":\"data.del\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.del\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\"}",
        "{\"op\":\"data.list\",\"jid\":\"nobody@localhost\",\"kind\":\"vcard\"}",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        json_t *r = run(reqs[i]);
        CHECK_STR(ops_reply_code(r), "not-found");
        CHECK_STR(json_string_value(json_object_get(r, "error")), "no such user nobody@localhost");
        json_decref(r);
    }
}

static void test_data_limit_json(void)
{
    const char *put = "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\",\"key\":\"%s\","
                      "\"value\":\"<list name='%s'/>\",\"max\":2}";
    CHECK_STR(code_free(req_fmt(put, "a", "a")), "ok");
    CHECK_STR(code_free(req_fmt(put, "b", "b")), "ok");
    json_t *r = run("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\",\"key\":\"c\","
                    "\"value\":\"x\",\"max\":2}");
    CHECK_STR(ops_reply_code(r), "limit");
    CHECK_STR(json_string_value(json_object_get(r, "error")), "data.put: limit reached for dora@localhost");
    json_decref(r);
    CHECK_STR(code_free(req_fmt(put, "b", "b2")), "ok");   /* a replacement is allowed */
    CHECK_STR(reply_of("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\",\"key\":\"c\"}"),
              "{\"found\":false,\"ok\":true}");
    /* max 0 and no max: no limit */
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\",\"key\":\"c\","
                      "\"value\":\"x\",\"max\":0}"), "ok");
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\",\"key\":\"d\","
                      "\"value\":\"x\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"privacy\"}"), "ok");
}

#define LOAD_EMPTY "\"exists\":true,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[]," \
                   "\"roster\":{\"items\":[],\"ver\":0}"

static void test_user_load_kinds_json(void)
{
    CHECK_STR(code_of(req_create("lena@localhost", 2)), "ok");
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"lena@localhost\",\"kind\":\"block\",\"key\":\"b@x\",\"value\":\"\"}"),
              "ok");
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"lena@localhost\",\"kind\":\"block\",\"key\":\"a@x\",\"value\":\"\"}"),
              "ok");
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"lena@localhost\",\"kind\":\"vcard\",\"key\":\"\","
                      "\"value\":\"<vCard/>\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"lena@localhost\",\"kind\":\"private\",\"key\":\"k\","
                      "\"value\":\"not asked for\"}"), "ok");
    /* an entry for each kind asked for, an empty object when it has no rows */
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"lena@localhost\",\"kinds\":[\"block\",\"privacy\",\"vcard\"]}"),
              "{\"data\":{\"block\":{\"a@x\":\"\",\"b@x\":\"\"},\"privacy\":{},\"vcard\":{\"\":\"<vCard/>\"}},"
              LOAD_EMPTY "}");
    /* without kinds the reply is as it always was; [] gives an empty data */
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"lena@localhost\"}"), "{" LOAD_EMPTY "}");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"lena@localhost\",\"kinds\":[]}"),
              "{\"data\":{}," LOAD_EMPTY "}");
    /* an unknown account: exists false, every kind empty */
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"ghost@localhost\",\"kinds\":[\"block\"]}"),
              "{\"data\":{\"block\":{}},\"exists\":false,\"last_presence\":null,\"offline_count\":0,\"ok\":true,"
              "\"pending\":[],\"roster\":{\"items\":[],\"ver\":0}}");
    /* account deletion takes the rows along */
    CHECK_STR(code_of("{\"op\":\"user.delete\",\"jid\":\"lena@localhost\"}"), "ok");
    CHECK_STR(code_of(req_create("lena@localhost", 2)), "ok");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"lena@localhost\",\"kinds\":[\"block\",\"vcard\",\"private\"]}"),
              "{\"data\":{\"block\":{},\"private\":{},\"vcard\":{}}," LOAD_EMPTY "}");
}

/* A value through JSON escapes comes back as the same UTF-8 bytes, and
 * the limits of kind, key and value count bytes. */
static void test_data_values_json(void)
{
    CHECK_STR(code_of("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"private\","
                      "\"key\":\"storage:rosternotes <&'\\\">\",\"value\":"
                      "\"<storage xmlns=\\\"storage:rosternotes\\\"><note jid='a@b'>Zo\\u00eb &amp; \\u65e5\\u672c "
                      "\\ud83c\\udf89 &lt;b&gt; \\\\ /\\n\\t</note></storage>\"}"), "ok");
    json_t *r = run("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"private\","
                    "\"key\":\"storage:rosternotes <&'\\\">\"}");
    CHECK_STR(json_string_value(json_object_get(r, "value")),
              "<storage xmlns=\"storage:rosternotes\"><note jid='a@b'>Zo\xc3\xab &amp; \xe6\x97\xa5\xe6\x9c\xac "
              "\xf0\x9f\x8e\x89 &lt;b&gt; \\ /\n\t</note></storage>");
    json_decref(r);
    r = run("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"private\"}");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "items"), 0), "key")),
              "storage:rosternotes <&'\">");
    json_decref(r);

    /* value: 1048576 bytes accepted and returned whole, 1048577 refused */
    char *v = xs(1048576);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\","
                                "\"value\":\"%s\"}", v)), "ok");
    r = run("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\"}");
    CHECK_INT(json_string_length(json_object_get(r, "value")), 1048576);
    CHECK(strcmp(json_string_value(json_object_get(r, "value")), v) == 0);
    json_decref(r);
    free(v);
    v = xs(1048577);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\","
                                "\"value\":\"%s\"}", v)), "bad-request");
    free(v);
    /* bytes, not characters: 524288 two-byte letters fit, one more byte does not */
    size_t n = 524288;
    char *esc = malloc(n * 6 + 2);
    if (!esc) abort();
    for (size_t i = 0; i < n; i++) memcpy(esc + i * 6, "\\u00e9", 6);
    esc[n * 6] = '\0';
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\","
                                "\"value\":\"%s\"}", esc)), "ok");
    r = run("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\"}");
    CHECK_INT(json_string_length(json_object_get(r, "value")), 1048576);
    json_decref(r);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"big\","
                                "\"value\":\"%sx\"}", esc)), "bad-request");
    free(esc);
    /* key: 3072 bytes accepted, 3073 refused; kind: 64 accepted, 65 refused */
    char *k = xs(3072);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"k\",\"key\":\"%s\","
                                "\"value\":\"v\"}", k)), "ok");
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"k\",\"key\":\"%s\"}", k)),
              "ok");
    free(k);
    k = xs(3073);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"k\",\"key\":\"%s\","
                                "\"value\":\"v\"}", k)), "bad-request");
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"k\",\"key\":\"%s\"}", k)),
              "bad-request");
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"k\",\"key\":\"%s\"}", k)),
              "bad-request");
    free(k);
    char *kind = xs(64);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"%s\"}", kind)), "ok");
    CHECK_STR(code_free(req_fmt("{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"%s\"]}", kind)), "ok");
    free(kind);
    kind = xs(65);
    CHECK_STR(code_free(req_fmt("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"%s\"}", kind)),
              "bad-request");
    CHECK_STR(code_free(req_fmt("{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"%s\"]}", kind)),
              "bad-request");
    free(kind);
    CHECK_STR(code_of("{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"a.b_c-0.9\"}"), "ok");
    /* 32 kinds in one load, not 33 */
    char kinds[512];
    size_t len = 0;
    for (int i = 0; i < 33; i++) len += (size_t)snprintf(kinds + len, sizeof kinds - len, "%s\"k%d\"", i ? "," : "", i);
    CHECK_STR(code_free(req_fmt("{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[%s]}", kinds)),
              "bad-request");
    *strrchr(kinds, ',') = '\0';
    char *req = req_fmt("{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[%s]}", kinds);
    r = run(req);
    CHECK_INT(json_object_size(json_object_get(r, "data")), 32);
    json_decref(r);
    free(req);
}

/* Each of these must be answered with bad-request and change nothing. */
static void test_bad_data_requests(void)
{
    static const char *const bad[] = {
        /* kind */
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vCard\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"a/b\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"a b\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"caf\\u00e9\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":5,\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":null,\"key\":\"\"}",
        "{\"op\":\"data.list\",\"jid\":\"dora@localhost\"}",
        "{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":[\"vcard\"]}",
        "{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"VCARD\"}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"v*\",\"key\":\"\",\"value\":\"v\"}",
        /* key */
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":null}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":1}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"value\":\"v\"}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":[],\"value\":\"v\"}",
        "{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":null}",
        "{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":false}",
        /* value */
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":null}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":{}}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":3}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"a\\u0000b\"}",
        /* max */
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":-1}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":\"1\"}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":1.0}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":null}",
        /* jid */
        "{\"op\":\"data.get\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.get\",\"jid\":\"Dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.list\",\"jid\":\"dora@localhost/phone\",\"kind\":\"vcard\"}",
        "{\"op\":\"data.del\",\"jid\":\"localhost\",\"kind\":\"vcard\"}",
        /* arguments the op does not take */
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\"}",
        "{\"op\":\"data.get\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"max\":1}",
        "{\"op\":\"data.del\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"max\":1}",
        "{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.put\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"stamp\":1}",
        "{\"op\":\"data.list\",\"jid\":\"dora@localhost\",\"kinds\":[\"vcard\"]}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kind\":\"vcard\"}",
        /* kinds of user.load */
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":\"vcard\"}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":null}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":{\"vcard\":true}}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"vcard\",\"vcard\"]}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"vcard\",\"\"]}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"vcard\",7]}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[\"Block\"]}",
        "{\"op\":\"user.load\",\"jid\":\"dora@localhost\",\"kinds\":[[\"block\"]]}",
    };
    char *before = strdup(reply_of("{\"op\":\"user.load\",\"jid\":\"dora@localhost\","
                                   "\"kinds\":[\"vcard\",\"block\",\"privacy\",\"private\",\"k\"]}"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *r = run(bad[i]);
        const char *code = ops_reply_code(r);
        if (!code || strcmp(code, "bad-request") != 0) {
            fprintf(stderr, "  request: %s -> %s\n", bad[i], code ? code : "ok");
        }
        CHECK_STR(code, "bad-request");
        CHECK(json_is_string(json_object_get(r, "error")));
        json_decref(r);
    }
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"dora@localhost\","
                       "\"kinds\":[\"vcard\",\"block\",\"privacy\",\"private\",\"k\"]}"), before);
    free(before);
}

/* A NUL inside a key or value can only come from a request built in
 * memory (the parser refuses \u0000); it is refused, not cut short. */
static void test_nul_refused(void)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:o, s:s}", "op", "data.put", "jid", "dora@localhost", "kind", "vcard",
                            "key", json_stringn("a\0b", 3), "value", "v");
    json_t *r = ops_execute(&ctx, req, NULL, 0);
    CHECK_STR(ops_reply_code(r), "bad-request");
    json_decref(r);
    json_object_set_new(req, "key", json_string("a"));
    json_object_set_new(req, "value", json_stringn("<a>\0</a>", 8));
    r = ops_execute(&ctx, req, NULL, 0);
    CHECK_STR(ops_reply_code(r), "bad-request");
    json_decref(r);
    json_object_set_new(req, "value", json_string("<a/>"));
    r = ops_execute(&ctx, req, NULL, 0);
    CHECK(ops_reply_ok(r));
    json_decref(r);
    json_decref(req);
}

static void test_data_internal_error(void)
{
    char err[256];
    config_t *c = config_load_string("storage:\n  path: \":memory:\"\n", err, sizeof err);
    ops_ctx raw = {&driver_sqlite, driver_sqlite.open(c, err, sizeof err)};
    config_free(&c);
    CHECK(raw.db != NULL);
    /* not migrated: every op is a storage error, without database details */
    static const char *const reqs[] = {
        "{\"op\":\"data.get\",\"jid\":\"a@localhost\",\"kind\":\"vcard\",\"key\":\"\"}",
        "{\"op\":\"data.put\",\"jid\":\"a@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\"}",
        "{\"op\":\"data.put\",\"jid\":\"a@localhost\",\"kind\":\"vcard\",\"key\":\"\",\"value\":\"v\",\"max\":1}",
        "{\"op\":\"data.del\",\"jid\":\"a@localhost\",\"kind\":\"vcard\"}",
        "{\"op\":\"data.list\",\"jid\":\"a@localhost\",\"kind\":\"vcard\"}",
        "{\"op\":\"user.load\",\"jid\":\"a@localhost\",\"kinds\":[\"vcard\"]}",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        json_t *r = ops_handle(&raw, reqs[i], strlen(reqs[i]), NULL, 0);
        CHECK_STR(ops_reply_code(r), "internal");
        CHECK_STR(json_string_value(json_object_get(r, "error")), "storage error");
        json_decref(r);
    }
    driver_sqlite.close(&raw.db);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    setup();
    RUN(test_data_ops_json);
    RUN(test_data_account_missing);
    RUN(test_data_limit_json);
    RUN(test_user_load_kinds_json);
    RUN(test_data_values_json);
    RUN(test_bad_data_requests);
    RUN(test_nul_refused);
    RUN(test_data_internal_error);
    teardown();
    return TEST_RESULT();
}
