/*
 * test_ops.c - tests of storage-workers/ops.c, the storage protocol, over
 * the SQLite driver on a temporary file: each op's replies (the exact JSON
 * of the roster, pending, presence and offline ops), the reply shape for
 * every error code, and strict argument checking (each malformed request
 * is a bad-request and changes nothing).
 */
#include "ops_fixture.h"

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
    static const char *const reqs[] = {
        "{\"op\":\"user.load\",\"jid\":\"a@localhost\"}",
        "{\"op\":\"roster.since\",\"jid\":\"a@localhost\",\"ver\":0}",
        "{\"op\":\"roster.del\",\"jid\":\"a@localhost\",\"contact\":\"b@localhost\"}",
        "{\"op\":\"pending.del\",\"jid\":\"a@localhost\",\"contact\":\"b@localhost\"}",
        "{\"op\":\"offline.put\",\"jid\":\"a@localhost\",\"stanza\":\"<message/>\",\"max\":1}",
        "{\"op\":\"offline.pop\",\"jid\":\"a@localhost\"}",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        r = ops_handle(&raw, reqs[i], strlen(reqs[i]), NULL, 0);
        CHECK_STR(ops_reply_code(r), "internal");
        CHECK_STR(json_string_value(json_object_get(r, "error")), "storage error");
        json_decref(r);
    }
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

#define ITEM_BOB "{\"contact\":\"bob@localhost\",\"name\":\"Bob\",\"groups\":[\"Friends\",\"Work\"],\"sub\":\"none\"," \
                 "\"ask\":true,\"pending_in\":false,\"approved\":false,\"hidden\":false}"
#define ITEM_STRANGER "{\"contact\":\"stranger.example\",\"name\":null,\"groups\":[],\"sub\":\"none\"," \
                      "\"ask\":false,\"pending_in\":true,\"approved\":false,\"hidden\":true}"

static void test_load_missing(void)
{
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"ghost@localhost\"}"),
              "{\"exists\":false,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[],"
              "\"roster\":{\"items\":[],\"ver\":0}}");
}

static void test_roster_json(void)
{
    CHECK_STR(code_of(req_create("rita@localhost", 3)), "ok");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}"),
              "{\"exists\":true,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[],"
              "\"roster\":{\"items\":[],\"ver\":0}}");
    CHECK_STR(reply_of("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"item\":" ITEM_BOB "}"),
              "{\"ok\":true,\"ver\":1}");
    CHECK_STR(reply_of("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":false,\"max\":1,"
                       "\"item\":" ITEM_STRANGER "}"),
              "{\"ok\":true,\"ver\":1}");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}"),
              "{\"exists\":true,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[],"
              "\"roster\":{\"items\":["
              "{\"approved\":false,\"ask\":true,\"contact\":\"bob@localhost\",\"groups\":[\"Friends\",\"Work\"],"
              "\"hidden\":false,\"name\":\"Bob\",\"pending_in\":false,\"sub\":\"none\",\"ver\":1},"
              "{\"approved\":false,\"ask\":false,\"contact\":\"stranger.example\",\"groups\":[],"
              "\"hidden\":true,\"name\":null,\"pending_in\":true,\"sub\":\"none\",\"ver\":0}],\"ver\":1}}");
    /* the roster is full at max 1 (the hidden row does not count) */
    CHECK_STR(code_of("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":1,\"item\":"
                      "{\"contact\":\"carl@localhost\",\"name\":null,\"groups\":[],\"sub\":\"none\",\"ask\":false,"
                      "\"pending_in\":false,\"approved\":false,\"hidden\":false}}"), "limit");
    CHECK_STR(code_of("{\"op\":\"roster.put\",\"jid\":\"nobody@localhost\",\"bump\":true,\"item\":" ITEM_BOB "}"),
              "not-found");
    /* approve bob: sub to, name and groups changed */
    CHECK_STR(reply_of("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":1,\"item\":"
                       "{\"contact\":\"bob@localhost\",\"name\":\"\",\"groups\":[\"Work\"],\"sub\":\"to\","
                       "\"ask\":false,\"pending_in\":true,\"approved\":false,\"hidden\":false}}"),
              "{\"ok\":true,\"ver\":2}");
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":1}"),
              "{\"complete\":true,\"items\":[{\"approved\":false,\"ask\":false,\"contact\":\"bob@localhost\","
              "\"groups\":[\"Work\"],\"hidden\":false,\"name\":\"\",\"pending_in\":true,\"sub\":\"to\",\"ver\":2}],"
              "\"ok\":true,\"ver\":2}");
    CHECK_STR(reply_of("{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\"}"),
              "{\"ok\":true,\"ver\":3}");
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":0}"),
              "{\"complete\":true,\"items\":[{\"contact\":\"bob@localhost\",\"deleted\":true,\"ver\":3}],"
              "\"ok\":true,\"ver\":3}");
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":3}"),
              "{\"complete\":true,\"items\":[],\"ok\":true,\"ver\":3}");
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":4}"),
              "{\"complete\":false,\"items\":[],\"ok\":true,\"ver\":3}");
    json_t *r = run("{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\"}");
    CHECK_STR(ops_reply_code(r), "not-found");
    CHECK(strstr(json_string_value(json_object_get(r, "error")), "roster item") != NULL);
    json_decref(r);
    CHECK_STR(code_of("{\"op\":\"roster.since\",\"jid\":\"nobody@localhost\",\"ver\":0}"), "not-found");
    /* the hidden row is simply deleted: no bump */
    CHECK_STR(reply_of("{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"stranger.example\"}"),
              "{\"ok\":true,\"ver\":3}");
    /* bob comes back in the roster: at max 1 that is allowed now */
    CHECK_STR(reply_of("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":1,"
                       "\"item\":" ITEM_BOB "}"),
              "{\"ok\":true,\"ver\":4}");
    r = run("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":5}");
    CHECK_INT(json_array_size(json_object_get(r, "items")), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "items"), 0), "name")), "Bob");
    json_decref(r);
}

static void test_stanza_ops_json(void)
{
    const char *sub = "<presence from='bob@localhost' to='rita@localhost' type='subscribe'>"
                      "<status>it\\u00e9s me</status></presence>";
    char *req = req_fmt("{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\","
                        "\"stanza\":\"%s\"}", sub);
    CHECK_STR(reply_of(req), "{\"ok\":true}");
    free(req);
    CHECK_STR(code_of("{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"example.net\","
                      "\"stanza\":\"<presence type='subscribe'/>\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"pending.put\",\"jid\":\"nobody@localhost\",\"contact\":\"example.net\","
                      "\"stanza\":\"<presence/>\"}"), "not-found");
    CHECK_STR(code_of("{\"op\":\"presence.last\",\"jid\":\"rita@localhost\",\"stanza\":\"<presence type='unavailable'/>\"}"),
              "ok");
    CHECK_STR(code_of("{\"op\":\"presence.last\",\"jid\":\"nobody@localhost\",\"stanza\":\"<presence/>\"}"),
              "not-found");
    CHECK_STR(reply_of("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":2,\"stanza\":\"<message>1</message>\"}"),
              "{\"count\":1,\"ok\":true}");
    CHECK_STR(reply_of("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":2,\"stanza\":\"<message>2</message>\"}"),
              "{\"count\":2,\"ok\":true}");
    CHECK_STR(code_of("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":2,\"stanza\":\"<message>3</message>\"}"),
              "limit");
    CHECK_STR(code_of("{\"op\":\"offline.put\",\"jid\":\"nobody@localhost\",\"max\":2,\"stanza\":\"<message/>\"}"),
              "not-found");

    json_t *r = run("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}");
    CHECK(ops_reply_ok(r));
    CHECK(json_is_true(json_object_get(r, "exists")));
    CHECK_INT(json_integer_value(json_object_get(r, "offline_count")), 2);
    json_t *pending = json_object_get(r, "pending"), *last = json_object_get(r, "last_presence");
    CHECK_INT(json_array_size(pending), 2);
    for (size_t i = 0; i < json_array_size(pending); i++) {
        json_t *p = json_array_get(pending, i);
        const char *c = json_string_value(json_object_get(p, "contact"));
        CHECK_INT(json_object_size(p), 3);
        CHECK(json_integer_value(json_object_get(p, "stamp")) > 1600000000);
        if (c && strcmp(c, "bob@localhost") == 0) {
            CHECK_STR(json_string_value(json_object_get(p, "stanza")),
                      "<presence from='bob@localhost' to='rita@localhost' type='subscribe'>"
                      "<status>it\xc3\xa9s me</status></presence>");
        } else {
            CHECK_STR(c, "example.net");
        }
    }
    CHECK_INT(json_object_size(last), 2);
    CHECK_STR(json_string_value(json_object_get(last, "stanza")), "<presence type='unavailable'/>");
    CHECK(json_integer_value(json_object_get(last, "stamp")) > 1600000000);
    json_decref(r);

    CHECK_STR(code_of("{\"op\":\"pending.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"pending.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"pending.del\",\"jid\":\"nobody@localhost\",\"contact\":\"bob@localhost\"}"), "ok");
    r = run("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}");
    CHECK_INT(json_array_size(json_object_get(r, "pending")), 1);
    json_decref(r);

    r = run("{\"op\":\"offline.pop\",\"jid\":\"rita@localhost\"}");
    CHECK(ops_reply_ok(r));
    json_t *msgs = json_object_get(r, "messages");
    CHECK_INT(json_array_size(msgs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "stanza")), "<message>1</message>");
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "stanza")), "<message>2</message>");
    CHECK(json_integer_value(json_object_get(json_array_get(msgs, 1), "stamp")) > 1600000000);
    CHECK_INT(json_object_size(json_array_get(msgs, 0)), 2);
    json_decref(r);
    CHECK_STR(reply_of("{\"op\":\"offline.pop\",\"jid\":\"rita@localhost\"}"), "{\"messages\":[],\"ok\":true}");
    CHECK_STR(code_of("{\"op\":\"offline.pop\",\"jid\":\"nobody@localhost\"}"), "not-found");

    /* the size limit of a stanza: 262144 bytes */
    char *big = xs(262144);
    CHECK_STR(code_free(req_fmt("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":5,\"stanza\":\"%s\"}", big)),
              "ok");
    CHECK_STR(code_free(req_fmt("{\"op\":\"presence.last\",\"jid\":\"rita@localhost\",\"stanza\":\"%s\"}", big)),
              "ok");
    free(big);
    big = xs(262145);
    CHECK_STR(code_free(req_fmt("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":5,\"stanza\":\"%s\"}", big)),
              "bad-request");
    CHECK_STR(code_free(req_fmt("{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"x@localhost\","
                                "\"stanza\":\"%s\"}", big)), "bad-request");
    free(big);
    r = run("{\"op\":\"offline.pop\",\"jid\":\"rita@localhost\"}");
    CHECK_INT(json_string_length(json_object_get(json_array_get(json_object_get(r, "messages"), 0), "stanza")), 262144);
    json_decref(r);
}

/* A roster.put for rita whose item is ITEM_BOB with `from` replaced by `to`. */
static char *item_req(const char *from, const char *to)
{
    char item[4096];
    snprintf(item, sizeof item, "%s", ITEM_BOB);
    char *p = strstr(item, from);
    if (!p) abort();
    char tail[4096];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, sizeof item - (size_t)(p - item), "%s%s", to, tail);
    return req_fmt("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"item\":%s}", item);
}

/* Each of these must be answered with bad-request and change nothing. */
static void test_bad_storage_requests(void)
{
    static const char *const bad[] = {
        "{\"op\":\"user.load\"}",
        "{\"op\":\"user.load\",\"jid\":\"Rita@localhost\"}",
        "{\"op\":\"user.load\",\"jid\":\"localhost\"}",
        "{\"op\":\"user.load\",\"jid\":\"rita@localhost\",\"ver\":0}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"item\":[]}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":1,\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":-1,\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":\"5\",\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"max\":1.5,\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":true,\"ver\":1,\"item\":" ITEM_BOB "}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\"}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":5}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost/res\"}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"BOB@localhost\"}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"\"}",
        "{\"op\":\"roster.del\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\",\"bump\":true}",
        "{\"op\":\"roster.since\",\"jid\":\"rita@localhost\"}",
        "{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":-1}",
        "{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":\"3\"}",
        "{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":1.0}",
        "{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":null}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\"}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\",\"stanza\":\"\"}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\",\"stanza\":5}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"stanza\":\"<presence/>\"}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"b@x/y\",\"stanza\":\"<presence/>\"}",
        "{\"op\":\"pending.put\",\"jid\":\"rita@localhost\",\"contact\":\"bob@localhost\",\"stanza\":\"<p/>\","
        "\"stamp\":5}",
        "{\"op\":\"pending.del\",\"jid\":\"rita@localhost\",\"contact\":null}",
        "{\"op\":\"presence.last\",\"jid\":\"rita@localhost\",\"stanza\":null}",
        "{\"op\":\"presence.last\",\"jid\":\"rita@localhost\"}",
        "{\"op\":\"presence.last\",\"jid\":\"rita@localhost\",\"stanza\":\"<presence/>\",\"contact\":\"a@b\"}",
        "{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"stanza\":\"<message/>\"}",
        "{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"stanza\":\"<message/>\",\"max\":-1}",
        "{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"stanza\":\"<message/>\",\"max\":true}",
        "{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":5}",
        "{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"stanza\":[\"<message/>\"],\"max\":5}",
        "{\"op\":\"offline.pop\",\"jid\":\"rita@localhost\",\"max\":5}",
        "{\"op\":\"offline.pop\",\"jid\":\"rita@localhost/phone\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = code_of(bad[i]);
        if (strcmp(code, "bad-request") != 0) fprintf(stderr, "  request: %s -> %s\n", bad[i], code);
        CHECK_STR(code, "bad-request");
    }
    /* items: each replacement in ITEM_BOB is refused */
    static const char *const item_bad[][2] = {
        {"\"contact\":\"bob@localhost\",", ""},
        {"\"bob@localhost\"", "\"bob@localhost/phone\""},
        {"\"bob@localhost\"", "\"Bob@localhost\""},
        {"\"bob@localhost\"", "\"\""},
        {"\"bob@localhost\"", "\"@localhost\""},
        {"\"bob@localhost\"", "7"},
        {"\"name\":\"Bob\",", ""},
        {"\"Bob\"", "7"},
        {"\"Bob\"", "false"},
        {"[\"Friends\",\"Work\"]", "\"Friends\""},
        {"[\"Friends\",\"Work\"]", "null"},
        {"[\"Friends\",\"Work\"]", "[\"Friends\",\"\"]"},
        {"[\"Friends\",\"Work\"]", "[\"Work\",\"Work\"]"},
        {"[\"Friends\",\"Work\"]", "[\"Friends\",3]"},
        {"[\"Friends\",\"Work\"]", "[[\"Friends\"]]"},
        {"\"groups\":[\"Friends\",\"Work\"],", ""},
        {"\"sub\":\"none\"", "\"sub\":\"remove\""},
        {"\"sub\":\"none\"", "\"sub\":\"None\""},
        {"\"sub\":\"none\"", "\"sub\":null"},
        {"\"sub\":\"none\",", ""},
        {"\"ask\":true", "\"ask\":\"true\""},
        {"\"ask\":true", "\"ask\":1"},
        {"\"ask\":true,", ""},
        {"\"pending_in\":false", "\"pending_in\":0"},
        {"\"approved\":false", "\"approved\":null"},
        {"\"hidden\":false", "\"hidden\":\"no\""},
        {",\"hidden\":false", ""},
        {"\"hidden\":false", "\"hidden\":false,\"ver\":3"},
        {"\"hidden\":false", "\"hidden\":false,\"deleted\":false"},
        {"\"sub\":\"none\"", "\"sub\":\"to\""},                       /* to + ask */
        {"\"sub\":\"none\"", "\"sub\":\"both\""},                     /* both + ask */
    };
    for (size_t i = 0; i < sizeof item_bad / sizeof item_bad[0]; i++) {
        char *req = item_req(item_bad[i][0], item_bad[i][1]);
        const char *code = code_of(req);
        if (strcmp(code, "bad-request") != 0) fprintf(stderr, "  request: %s -> %s\n", req, code);
        CHECK_STR(code, "bad-request");
        free(req);
    }
    /* from + pending_in is ruled out too; from + ask is a valid state */
    CHECK_STR(code_free(req_fmt("{\"op\":\"roster.put\",\"jid\":\"rita@localhost\",\"bump\":false,\"item\":"
                                "{\"contact\":\"x@localhost\",\"name\":null,\"groups\":[],\"sub\":\"from\","
                                "\"ask\":false,\"pending_in\":true,\"approved\":false,\"hidden\":false}}")),
              "bad-request");
    /* sizes: name 1023 ok, 1024 not; a group 1023 ok, 1024 not; 64 groups ok, 65 not */
    char *n1023 = xs(1023), *n1024 = xs(1024);
    char quoted[1100];
    snprintf(quoted, sizeof quoted, "\"%s\"", n1024);
    CHECK_STR(code_free(item_req("\"Bob\"", quoted)), "bad-request");
    snprintf(quoted, sizeof quoted, "[\"%s\"]", n1024);
    CHECK_STR(code_free(item_req("[\"Friends\",\"Work\"]", quoted)), "bad-request");
    char groups[1200];
    size_t len = 0;
    for (int i = 0; i < 65; i++) len += (size_t)snprintf(groups + len, sizeof groups - len, "%s\"g%d\"", i ? "," : "[", i);
    snprintf(groups + len, sizeof groups - len, "]");
    CHECK_STR(code_free(item_req("[\"Friends\",\"Work\"]", groups)), "bad-request");
    /* nothing above changed rita's roster */
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":4}"),
              "{\"complete\":true,\"items\":[],\"ok\":true,\"ver\":4}");
    /* the largest accepted values */
    snprintf(quoted, sizeof quoted, "\"%s\"", n1023);
    CHECK_STR(code_free(item_req("\"Bob\"", quoted)), "ok");
    snprintf(quoted, sizeof quoted, "[\"%s\"]", n1023);
    CHECK_STR(code_free(item_req("[\"Friends\",\"Work\"]", quoted)), "ok");
    char *last = strrchr(groups, ',');
    snprintf(last, sizeof groups - (size_t)(last - groups), "]");   /* 64 groups */
    CHECK_STR(code_free(item_req("[\"Friends\",\"Work\"]", groups)), "ok");
    /* contacts may be domains; non-ASCII is kept as UTF-8 */
    CHECK_STR(code_free(item_req("\"bob@localhost\"", "\"gateway.example\"")), "ok");
    CHECK_STR(code_free(item_req("[\"Friends\",\"Work\"]", "[\"Fr\\u00e8res\",\"fr\\u00e8res\"]")), "ok");
    json_t *r = run("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":8}");
    json_t *it = json_array_get(json_object_get(r, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(it, "contact")), "bob@localhost");
    CHECK_STR(json_string_value(json_array_get(json_object_get(it, "groups"), 0)), "Fr\xc3\xa8res");
    CHECK_INT(json_integer_value(json_object_get(r, "ver")), 9);
    json_decref(r);
    free(n1023);
    free(n1024);
}

static void test_delete_cascades_json(void)
{
    CHECK_STR(code_of("{\"op\":\"offline.put\",\"jid\":\"rita@localhost\",\"max\":5,\"stanza\":\"<message/>\"}"), "ok");
    CHECK_STR(code_of("{\"op\":\"user.delete\",\"jid\":\"rita@localhost\"}"), "ok");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}"),
              "{\"exists\":false,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[],"
              "\"roster\":{\"items\":[],\"ver\":0}}");
    CHECK_STR(code_of(req_create("rita@localhost", 3)), "ok");
    CHECK_STR(reply_of("{\"op\":\"user.load\",\"jid\":\"rita@localhost\"}"),
              "{\"exists\":true,\"last_presence\":null,\"offline_count\":0,\"ok\":true,\"pending\":[],"
              "\"roster\":{\"items\":[],\"ver\":0}}");
    CHECK_STR(reply_of("{\"op\":\"roster.since\",\"jid\":\"rita@localhost\",\"ver\":0}"),
              "{\"complete\":true,\"items\":[],\"ok\":true,\"ver\":0}");
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
    RUN(test_load_missing);
    RUN(test_roster_json);
    RUN(test_stanza_ops_json);
    RUN(test_bad_storage_requests);
    RUN(test_delete_cascades_json);
    teardown();
    return TEST_RESULT();
}
