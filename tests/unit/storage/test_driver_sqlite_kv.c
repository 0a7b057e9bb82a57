/*
 * test_driver_sqlite_kv.c - tests of each user's keyed data in the SQLite
 * driver (storage-workers/driver_sqlite_kv.c): migration 3 on an existing
 * version-2 database, get/put/replace, delete one key or a whole kind,
 * listing in byte order of key, the empty key, the row limit, a missing
 * account, the cascade on account deletion, values that must come back
 * byte for byte, and the kinds user_load reports with the roster. Each
 * test works in its own temporary directory (sqlite_fixture.h).
 */
#include "sqlite_fixture.h"

/* Collects rows as "kind/key=value" joined by ','; values are cut at 40
 * bytes (the big ones are checked through last). */
typedef struct rows {
    char text[4096];
    int n;                 /* rows seen */
    int stop_after;        /* return -1 after this many (0 = never) */
    int64_t stamp;         /* stamp of the last row */
    char *last;            /* malloc'd copy of the last value */
    size_t last_len;       /* its value_len */
} rows;

static int rows_cb(void *ud, const driver_data *d)
{
    rows *r = ud;
    size_t len = strlen(r->text);
    snprintf(r->text + len, sizeof r->text - len, "%s%s/%s=%.40s", len ? "," : "", d->kind, d->key, d->value);
    r->n++;
    r->stamp = d->stamp;
    free(r->last);
    r->last = malloc(d->value_len + 1);
    if (!r->last) abort();
    memcpy(r->last, d->value, d->value_len + 1);
    r->last_len = d->value_len;
    return r->stop_after && r->n >= r->stop_after ? -1 : 0;
}

static void rows_reset(rows *r)
{
    free(r->last);
    memset(r, 0, sizeof *r);
}

/* The rows of (jid, kind) as data_list reports them, or "(status)". */
static const char *list_text(void *db, const char *jid, const char *kind)
{
    static rows r;
    rows_reset(&r);
    driver_status s = drv->data_list(db, jid, kind, rows_cb, &r);
    if (s != DRIVER_OK) snprintf(r.text, sizeof r.text, "(%d)", (int)s);
    return r.text;
}

/* The value of (jid, kind, key): "(none)" when absent, "(status)" on a
 * failure. */
static const char *get_text(void *db, const char *jid, const char *kind, const char *key)
{
    static rows r;
    rows_reset(&r);
    driver_status s = drv->data_get(db, jid, kind, key, rows_cb, &r);
    if (s != DRIVER_OK) snprintf(r.text, sizeof r.text, "(%d)", (int)s);
    else if (r.n == 0) snprintf(r.text, sizeof r.text, "(none)");
    else if (r.n == 1) snprintf(r.text, sizeof r.text, "%s", r.last);
    return r.text;
}

static void test_migrate_v2_to_v3(void)
{
    fresh_dir();
    /* a database exactly as the release with migrations 1 and 2 left it */
    int count = 0;
    const char *const *list = migrations_sqlite(&count);
    CHECK_INT(count, SCHEMA_VERSION);
    sqlite3 *conn = NULL;
    CHECK_INT(sqlite3_open_v2(dbpath, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, "PRAGMA journal_mode=WAL;"
                           "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL);"
                           "INSERT INTO schema_version VALUES (1, 1000), (2, 2000);", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, list[0], NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, list[1], NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, "INSERT INTO users (jid, created, roster_ver) VALUES ('old@localhost', 1234, 5);"
                           "INSERT INTO roster (jid, contact, ver) VALUES ('old@localhost', 'bob@localhost', 5);",
                           NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(conn);
    CHECK_INT(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'user_data'"), 0);

    void *db = open_db(0);
    int v = 0;
    CHECK_INT(drv->migrate(db, &v), DRIVER_OK);
    CHECK_INT(v, 3);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), 3);
    CHECK_INT(raw_int("SELECT applied FROM schema_version WHERE version = 2"), 2000);
    CHECK_INT(raw_int("SELECT count(*) FROM pragma_table_info('user_data')"), 5);
    CHECK_INT(raw_int("SELECT count(*) FROM pragma_foreign_key_list('user_data') WHERE \"table\" = 'users'"
                      " AND on_delete = 'CASCADE'"), 1);
    /* the old account and its roster are intact and can hold data now */
    CHECK_INT(raw_int("SELECT roster_ver FROM users WHERE jid = 'old@localhost'"), 5);
    CHECK_INT(raw_int("SELECT count(*) FROM roster"), 1);
    CHECK_INT(drv->data_put(db, "old@localhost", "vcard", "", "<vCard/>", 0), DRIVER_OK);
    CHECK_STR(get_text(db, "old@localhost", "vcard", ""), "<vCard/>");
    drv->close(&db);
    db = open_db(1);   /* running again changes nothing */
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), 3);
    CHECK_INT(raw_int("SELECT count(*) FROM user_data"), 1);
    drv->close(&db);
    cleanup_dir();
}

static void test_put_get_replace(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "alice@localhost");
    add_user(db, "bob@localhost");
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:bookmarks"), "(none)");
    CHECK_INT(drv->data_put(db, "alice@localhost", "private", "storage:bookmarks", "<storage/>", 0), DRIVER_OK);
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:bookmarks"), "<storage/>");
    static rows r;
    rows_reset(&r);
    CHECK_INT(drv->data_get(db, "alice@localhost", "private", "storage:bookmarks", rows_cb, &r), DRIVER_OK);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.text, "private/storage:bookmarks=<storage/>");
    CHECK(r.stamp > 1600000000);
    CHECK_INT(r.last_len, 10);
    /* a replacement keeps one row, with the new value and a new stamp */
    CHECK_INT(raw_exec("UPDATE user_data SET stamp = 5"), 0);
    CHECK_INT(drv->data_put(db, "alice@localhost", "private", "storage:bookmarks", "<storage><x/></storage>", 0),
              DRIVER_OK);
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:bookmarks"), "<storage><x/></storage>");
    CHECK_INT(raw_int("SELECT count(*) FROM user_data"), 1);
    CHECK(raw_int("SELECT stamp FROM user_data") > 1600000000);
    /* kinds, keys and users are separate; keys compare byte for byte */
    CHECK_STR(get_text(db, "alice@localhost", "vcard", "storage:bookmarks"), "(none)");
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:Bookmarks"), "(none)");
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:bookmarks "), "(none)");
    CHECK_STR(get_text(db, "bob@localhost", "private", "storage:bookmarks"), "(none)");
    CHECK_INT(drv->data_put(db, "bob@localhost", "private", "storage:bookmarks", "<bob/>", 0), DRIVER_OK);
    CHECK_STR(get_text(db, "alice@localhost", "private", "storage:bookmarks"), "<storage><x/></storage>");
    /* a callback that stops: DRIVER_ERROR */
    rows_reset(&r);
    r.stop_after = 1;
    CHECK_INT(drv->data_get(db, "bob@localhost", "private", "storage:bookmarks", rows_cb, &r), DRIVER_ERROR);
    rows_reset(&r);
    drv->close(&db);
    cleanup_dir();
}

/* Every operation on an account that does not exist is DRIVER_NOT_FOUND
 * and writes nothing; an account without rows is DRIVER_OK. */
static void test_account_missing(void)
{
    fresh_dir();
    void *db = open_db(1);
    CHECK_STR(get_text(db, "ghost@localhost", "vcard", ""), "(-2)");
    CHECK_INT(drv->data_put(db, "ghost@localhost", "vcard", "", "<vCard/>", 0), DRIVER_NOT_FOUND);
    CHECK_INT(drv->data_put(db, "ghost@localhost", "vcard", "", "<vCard/>", 3), DRIVER_NOT_FOUND);
    CHECK_INT(drv->data_del(db, "ghost@localhost", "vcard", ""), DRIVER_NOT_FOUND);
    CHECK_INT(drv->data_del(db, "ghost@localhost", "vcard", NULL), DRIVER_NOT_FOUND);
    CHECK_STR(list_text(db, "ghost@localhost", "vcard"), "(-2)");
    CHECK_INT(raw_int("SELECT count(*) FROM user_data"), 0);
    add_user(db, "alice@localhost");
    CHECK_STR(get_text(db, "alice@localhost", "vcard", ""), "(none)");
    CHECK_INT(drv->data_del(db, "alice@localhost", "vcard", ""), DRIVER_OK);
    CHECK_INT(drv->data_del(db, "alice@localhost", "vcard", NULL), DRIVER_OK);
    CHECK_STR(list_text(db, "alice@localhost", "vcard"), "");
    /* the failed limited put left no transaction open */
    CHECK_INT(drv->data_put(db, "alice@localhost", "vcard", "", "<vCard/>", 3), DRIVER_OK);
    drv->close(&db);
    cleanup_dir();
}

static void test_del_one_and_all(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "alice@localhost");
    add_user(db, "bob@localhost");
    static const char *const keys[] = {"a@x", "b@x", "c@x"};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(drv->data_put(db, "alice@localhost", "block", keys[i], "", 0), DRIVER_OK);
        CHECK_INT(drv->data_put(db, "bob@localhost", "block", keys[i], "", 0), DRIVER_OK);
    }
    CHECK_INT(drv->data_put(db, "alice@localhost", "privacy", "work", "<list/>", 0), DRIVER_OK);
    CHECK_INT(drv->data_del(db, "alice@localhost", "block", "b@x"), DRIVER_OK);
    CHECK_STR(list_text(db, "alice@localhost", "block"), "block/a@x=,block/c@x=");
    CHECK_INT(drv->data_del(db, "alice@localhost", "block", "b@x"), DRIVER_OK);   /* idempotent */
    CHECK_INT(drv->data_del(db, "alice@localhost", "privacy", "b@x"), DRIVER_OK);
    /* NULL: every row of the kind, of that user only */
    CHECK_INT(drv->data_del(db, "alice@localhost", "block", NULL), DRIVER_OK);
    CHECK_STR(list_text(db, "alice@localhost", "block"), "");
    CHECK_STR(list_text(db, "alice@localhost", "privacy"), "privacy/work=<list/>");
    CHECK_STR(list_text(db, "bob@localhost", "block"), "block/a@x=,block/b@x=,block/c@x=");
    CHECK_INT(drv->data_del(db, "alice@localhost", "block", NULL), DRIVER_OK);
    drv->close(&db);
    cleanup_dir();
}

static void test_list_order_and_empty_key(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "alice@localhost");
    /* inserted out of order; listed by bytes: "" < "B" < "a" < "a b" <
     * "aa" < "b" < "\xc3\xa9" (é) < "\xe6\x97\xa5" (日) */
    static const char *const keys[] = {"b", "\xe6\x97\xa5", "a", "", "aa", "B", "\xc3\xa9", "a b"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char value[16];
        snprintf(value, sizeof value, "v%zu", i);
        CHECK_INT(drv->data_put(db, "alice@localhost", "k", keys[i], value, 0), DRIVER_OK);
    }
    CHECK_STR(list_text(db, "alice@localhost", "k"),
              "k/=v3,k/B=v5,k/a=v2,k/a b=v7,k/aa=v4,k/b=v0,k/\xc3\xa9=v6,k/\xe6\x97\xa5=v1");
    /* the empty key is a key like any other, and so is the empty value */
    CHECK_STR(get_text(db, "alice@localhost", "k", ""), "v3");
    CHECK_INT(drv->data_put(db, "alice@localhost", "k", "", "", 0), DRIVER_OK);
    static rows r;
    rows_reset(&r);
    CHECK_INT(drv->data_get(db, "alice@localhost", "k", "", rows_cb, &r), DRIVER_OK);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.last_len, 0);
    CHECK_STR(r.last, "");
    CHECK_INT(drv->data_del(db, "alice@localhost", "k", ""), DRIVER_OK);
    CHECK_STR(get_text(db, "alice@localhost", "k", ""), "(none)");
    CHECK_INT(raw_int("SELECT count(*) FROM user_data"), 7);
    /* a listing callback that stops: DRIVER_ERROR after that many rows */
    rows_reset(&r);
    r.stop_after = 2;
    CHECK_INT(drv->data_list(db, "alice@localhost", "k", rows_cb, &r), DRIVER_ERROR);
    CHECK_INT(r.n, 2);
    rows_reset(&r);
    drv->close(&db);
    cleanup_dir();
}

static void test_row_limit(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "alice@localhost");
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "a@x", "1", 2), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "b@x", "1", 2), DRIVER_OK);
    /* a new key at the limit is refused and stores nothing */
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "c@x", "1", 2), DRIVER_LIMIT);
    CHECK_STR(get_text(db, "alice@localhost", "block", "c@x"), "(none)");
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "c@x", "1", 1), DRIVER_LIMIT);
    /* replacing a key is always allowed, even above the limit */
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "a@x", "2", 2), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "b@x", "2", 1), DRIVER_OK);
    CHECK_STR(list_text(db, "alice@localhost", "block"), "block/a@x=2,block/b@x=2");
    /* the limit counts the rows of one kind of one user */
    CHECK_INT(drv->data_put(db, "alice@localhost", "privacy", "c@x", "1", 1), DRIVER_OK);
    add_user(db, "bob@localhost");
    CHECK_INT(drv->data_put(db, "bob@localhost", "block", "c@x", "1", 1), DRIVER_OK);
    /* 0: no limit; a freed row makes room again */
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "c@x", "1", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "d@x", "1", 3), DRIVER_LIMIT);
    CHECK_INT(drv->data_del(db, "alice@localhost", "block", "a@x"), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "d@x", "1", 3), DRIVER_OK);
    CHECK_INT(raw_int("SELECT count(*) FROM user_data WHERE jid = 'alice@localhost' AND kind = 'block'"), 3);
    drv->close(&db);
    cleanup_dir();
}

/* What goes in comes out byte for byte: UTF-8 in several scripts, XML
 * markup and entities, quotes, whitespace controls, and 1 MiB. */
static void test_values_round_trip(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "alice@localhost");
    static const char value[] =
        "<vCard xmlns='vcard-temp'><FN>Zo\xc3\xab &amp; \"\xc3\x9cn\xc3\xaf\" &lt;x&gt;</FN>"
        "<NOTE>\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x8e\x89 <![CDATA[a<b]]> '\\' %s %%</NOTE>\r\n\t</vCard>";
    CHECK_INT(drv->data_put(db, "alice@localhost", "vcard", "", value, 0), DRIVER_OK);
    static rows r;
    rows_reset(&r);
    CHECK_INT(drv->data_get(db, "alice@localhost", "vcard", "", rows_cb, &r), DRIVER_OK);
    CHECK_INT(r.last_len, sizeof value - 1);
    CHECK(r.last && memcmp(r.last, value, sizeof value) == 0);
    /* a key with the same characters */
    CHECK_INT(drv->data_put(db, "alice@localhost", "private", "\xc3\xab<&'\">", "v", 0), DRIVER_OK);
    CHECK_STR(list_text(db, "alice@localhost", "private"), "private/\xc3\xab<&'\">=v");
    /* 1 MiB: the driver sets no size limit of its own */
    size_t big_len = 1048576;
    char *big = malloc(big_len + 1);
    if (!big) abort();
    for (size_t i = 0; i < big_len; i++) big[i] = (char)('a' + i % 26);
    big[big_len] = '\0';
    CHECK_INT(drv->data_put(db, "alice@localhost", "vcard", "big", big, 0), DRIVER_OK);
    rows_reset(&r);
    CHECK_INT(drv->data_get(db, "alice@localhost", "vcard", "big", rows_cb, &r), DRIVER_OK);
    CHECK_INT(r.last_len, big_len);
    CHECK(r.last && memcmp(r.last, big, big_len + 1) == 0);
    free(big);
    rows_reset(&r);
    drv->close(&db);
    cleanup_dir();
}

static void test_delete_account_cascades(void)
{
    fresh_dir();
    void *db = open_db(1);
    add_user(db, "gone@localhost");
    add_user(db, "kept@localhost");
    CHECK_INT(drv->data_put(db, "gone@localhost", "vcard", "", "<vCard/>", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "gone@localhost", "block", "x@y", "", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "kept@localhost", "block", "x@y", "", 0), DRIVER_OK);
    CHECK_INT(drv->user_delete(db, "gone@localhost"), DRIVER_OK);
    CHECK_INT(raw_int("SELECT count(*) FROM user_data WHERE jid = 'gone@localhost'"), 0);
    CHECK_INT(raw_int("SELECT count(*) FROM user_data WHERE jid = 'kept@localhost'"), 1);
    CHECK_STR(list_text(db, "gone@localhost", "block"), "(-2)");
    /* a new account of the same name starts empty */
    add_user(db, "gone@localhost");
    CHECK_STR(get_text(db, "gone@localhost", "vcard", ""), "(none)");
    CHECK_STR(list_text(db, "gone@localhost", "block"), "");
    drv->close(&db);
    cleanup_dir();
}

/* Items of user_load as "contact" joined by ',' into the same rows text. */
static int load_item_cb(void *ud, const driver_item *it)
{
    rows *r = ud;
    size_t len = strlen(r->text);
    snprintf(r->text + len, sizeof r->text - len, "%sroster:%s", len ? "," : "", it->contact);
    return 0;
}

static void test_user_load_kinds(void)
{
    fresh_dir();
    void *db = open_db(1);
    static const char *const kinds[] = {"privacy", "block", "vcard", NULL};
    static rows r;
    rows_reset(&r);
    driver_load l;
    driver_load_cb cb = {.item = load_item_cb, .data = rows_cb, .kinds = kinds, .ud = &r};
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_NOT_FOUND);
    CHECK_STR(r.text, "");
    add_user(db, "alice@localhost");
    int64_t ver;
    driver_item it;
    memset(&it, 0, sizeof it);
    it.contact = "bob@localhost";
    it.groups = "[]";
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "z@x", "", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "block", "m@x", "", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "privacy", "", "work", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "privacy", "work", "<list name='work'/>", 0), DRIVER_OK);
    CHECK_INT(drv->data_put(db, "alice@localhost", "private", "x", "not asked for", 0), DRIVER_OK);
    add_user(db, "bob@localhost");
    CHECK_INT(drv->data_put(db, "bob@localhost", "block", "b@x", "", 0), DRIVER_OK);
    /* the roster first, then kind after kind in the list's order, by key */
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_STR(r.text, "roster:bob@localhost,privacy/=work,privacy/work=<list name='work'/>,block/m@x=,block/z@x=");
    CHECK_INT(l.roster_ver, 1);
    /* without kinds, or without a data callback: the load as before */
    rows_reset(&r);
    cb.kinds = NULL;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_STR(r.text, "roster:bob@localhost");
    rows_reset(&r);
    cb.kinds = kinds;
    cb.data = NULL;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_STR(r.text, "roster:bob@localhost");
    /* an empty list of kinds reports no rows */
    static const char *const none[] = {NULL};
    rows_reset(&r);
    cb.kinds = none;
    cb.data = rows_cb;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_STR(r.text, "roster:bob@localhost");
    /* a data callback that stops: DRIVER_ERROR, no transaction left open */
    rows_reset(&r);
    cb.kinds = kinds;
    r.stop_after = 3;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_ERROR);
    CHECK_INT(drv->data_put(db, "alice@localhost", "vcard", "", "<vCard/>", 0), DRIVER_OK);
    rows_reset(&r);
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK(strstr(r.text, ",vcard/=<vCard/>") != NULL);
    rows_reset(&r);
    drv->close(&db);
    cleanup_dir();
}

int main(void)
{
    log_init("test", LOG_ERROR);
    RUN(test_migrate_v2_to_v3);
    RUN(test_put_get_replace);
    RUN(test_account_missing);
    RUN(test_del_one_and_all);
    RUN(test_list_order_and_empty_key);
    RUN(test_row_limit);
    RUN(test_values_round_trip);
    RUN(test_delete_account_cascades);
    RUN(test_user_load_kinds);
    return TEST_RESULT();
}
