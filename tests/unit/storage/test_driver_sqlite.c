/*
 * test_driver_sqlite.c - tests of the SQLite driver's handle and accounts
 * (storage-workers/driver_sqlite.c, driver_sqlite_account.c) and its
 * migrations: schema creation and idempotent re-runs, WAL and foreign keys,
 * account create/get/replace/delete/list, two handles on one file, several
 * processes migrating one fresh file at once, a database newer than the
 * program, open errors. Each test works in its own temporary directory
 * (sqlite_fixture.h); the per-user data is in test_driver_sqlite_data.c.
 */
#include "sqlite_fixture.h"

static void test_migrate_fresh_and_again(void)
{
    fresh_dir();
    void *db = open_db(0);
    int v = 0;
    CHECK(db != NULL);
    CHECK_INT(drv->migrate(db, &v), DRIVER_OK);
    CHECK_INT(v, SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT max(version) FROM schema_version"), SCHEMA_VERSION);
    v = 0;
    CHECK_INT(drv->migrate(db, &v), DRIVER_OK);   /* nothing left to apply */
    CHECK_INT(v, SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    drv->close(&db);
    CHECK(db == NULL);
    drv->close(&db);                               /* NULL is accepted */
    cleanup_dir();
}

static void test_wal_and_no_cleartext(void)
{
    fresh_dir();
    void *db = open_db(1);
    CHECK(db != NULL);
    CHECK_INT(raw_int("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    CHECK_INT(raw_int("SELECT count(*) FROM pragma_table_info('users')"), 4);
    CHECK_INT(raw_int("SELECT count(*) FROM pragma_table_info('user_scram')"), 6);
    CHECK_INT(raw_int("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%pass%'"), 0);
    drv->close(&db);
    cleanup_dir();
}

static void test_create_get(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_user u = make_user("pencil", 1), got;
    CHECK_INT(drv->user_get(db, "alice@localhost", &got), DRIVER_NOT_FOUND);
    CHECK_INT(drv->user_create(db, "alice@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "alice@localhost", &got), DRIVER_OK);
    CHECK(same_records(&u, &got));
    CHECK(got.created > 1600000000);
    CHECK_INT(scram_check_password(&got.scram[SCRAM_SHA256], "pencil"), 1);
    CHECK_INT(scram_check_password(&got.scram[SCRAM_SHA1], "pencil"), 1);
    CHECK_INT(drv->user_create(db, "alice@localhost", &u), DRIVER_EXISTS);
    CHECK_INT(raw_int("SELECT count(*) FROM user_scram"), 2);
    u.created = 1234;
    CHECK_INT(drv->user_create(db, "bob@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "bob@localhost", &got), DRIVER_OK);
    CHECK_INT(got.created, 1234);
    drv->close(&db);
    cleanup_dir();
}

static void test_create_without_records(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_user u, got;
    memset(&u, 0, sizeof u);
    CHECK_INT(drv->user_create(db, "nopw@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "nopw@localhost", &got), DRIVER_OK);
    CHECK_INT(got.has, 0);
    /* an invalid record rolls back the whole account */
    u = make_user("x", 2);
    u.scram[SCRAM_SHA256].salt_len = 0;
    CHECK_INT(drv->user_create(db, "bad@localhost", &u), DRIVER_ERROR);
    CHECK(strstr(drv->last_error(db), "invalid SCRAM record") != NULL);
    CHECK_INT(drv->user_get(db, "bad@localhost", &got), DRIVER_NOT_FOUND);
    drv->close(&db);
    cleanup_dir();
}

static void test_set_scram(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_user a = make_user("old", 3), b = make_user("new", 4), got;
    CHECK_INT(drv->user_set_scram(db, "carol@localhost", &b), DRIVER_NOT_FOUND);
    CHECK_INT(drv->user_create(db, "carol@localhost", &a), DRIVER_OK);
    CHECK_INT(drv->user_set_scram(db, "carol@localhost", &b), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "carol@localhost", &got), DRIVER_OK);
    CHECK(same_records(&b, &got));
    CHECK_INT(scram_check_password(&got.scram[SCRAM_SHA256], "old"), 0);
    CHECK_INT(scram_check_password(&got.scram[SCRAM_SHA256], "new"), 1);
    CHECK_INT(raw_int("SELECT count(*) FROM user_scram"), 2);
    /* replacing with one record leaves exactly that one */
    b.has = DRIVER_HAS(SCRAM_SHA256);
    CHECK_INT(drv->user_set_scram(db, "carol@localhost", &b), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "carol@localhost", &got), DRIVER_OK);
    CHECK_INT(got.has, DRIVER_HAS(SCRAM_SHA256));
    drv->close(&db);
    cleanup_dir();
}

static void test_delete_cascades(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_user u = make_user("pw", 5), got;
    CHECK_INT(drv->user_delete(db, "dave@localhost"), DRIVER_NOT_FOUND);
    CHECK_INT(drv->user_create(db, "dave@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_create(db, "erin@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_delete(db, "dave@localhost"), DRIVER_OK);
    CHECK_INT(drv->user_get(db, "dave@localhost", &got), DRIVER_NOT_FOUND);
    CHECK_INT(drv->user_delete(db, "dave@localhost"), DRIVER_NOT_FOUND);
    CHECK_INT(raw_int("SELECT count(*) FROM user_scram WHERE jid = 'dave@localhost'"), 0);
    CHECK_INT(raw_int("SELECT count(*) FROM user_scram WHERE jid = 'erin@localhost'"), 2);
    drv->close(&db);
    cleanup_dir();
}

typedef struct list_acc {
    char text[512];   /* JIDs joined by ',' */
    int stop_after;   /* return -1 after this many (0 = never) */
    int n;            /* JIDs seen */
} list_acc;

static int list_cb(void *ud, const char *jid)
{
    list_acc *a = ud;
    size_t len = strlen(a->text);
    snprintf(a->text + len, sizeof a->text - len, "%s%s", len ? "," : "", jid);
    a->n++;
    return a->stop_after && a->n >= a->stop_after ? -1 : 0;
}

static void test_list(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_user u = make_user("pw", 6);
    const char *jids[] = {"carol@localhost", "alice@localhost", "zed@example.com", "bob@localhost",
                          "x@localhost.example"};
    for (size_t i = 0; i < sizeof jids / sizeof jids[0]; i++) {
        CHECK_INT(drv->user_create(db, jids[i], &u), DRIVER_OK);
    }
    list_acc a;
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->user_list(db, "localhost", list_cb, &a), DRIVER_OK);
    CHECK_STR(a.text, "alice@localhost,bob@localhost,carol@localhost");
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->user_list(db, NULL, list_cb, &a), DRIVER_OK);
    CHECK_STR(a.text, "alice@localhost,bob@localhost,carol@localhost,x@localhost.example,zed@example.com");
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->user_list(db, "nowhere", list_cb, &a), DRIVER_OK);
    CHECK_INT(a.n, 0);
    memset(&a, 0, sizeof a);
    a.stop_after = 2;
    CHECK_INT(drv->user_list(db, NULL, list_cb, &a), DRIVER_ERROR);
    CHECK_INT(a.n, 2);
    /* the handle is still usable after a stopped listing */
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->user_list(db, "example.com", list_cb, &a), DRIVER_OK);
    CHECK_STR(a.text, "zed@example.com");
    drv->close(&db);
    cleanup_dir();
}

static void test_reopen_and_two_handles(void)
{
    fresh_dir();
    void *h1 = open_db(1), *h2 = open_db(1);
    driver_user u = make_user("pw", 7), got;
    CHECK(h1 && h2);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    CHECK_INT(drv->user_create(h1, "frank@localhost", &u), DRIVER_OK);
    CHECK_INT(drv->user_get(h2, "frank@localhost", &got), DRIVER_OK);
    CHECK(same_records(&u, &got));
    CHECK_INT(drv->user_create(h2, "frank@localhost", &u), DRIVER_EXISTS);
    CHECK_INT(drv->user_delete(h2, "frank@localhost"), DRIVER_OK);
    CHECK_INT(drv->user_get(h1, "frank@localhost", &got), DRIVER_NOT_FOUND);
    CHECK_INT(drv->user_create(h2, "gina@localhost", &u), DRIVER_OK);
    drv->close(&h1);
    drv->close(&h2);
    void *h3 = open_db(1);
    CHECK_INT(drv->user_get(h3, "gina@localhost", &got), DRIVER_OK);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    drv->close(&h3);
    cleanup_dir();
}

/* Several processes open and migrate one fresh file at the same moment:
 * every one succeeds and each migration runs exactly once. */
static void test_concurrent_migrate(void)
{
    enum { NPROC = 6 };
    int gate[2];
    pid_t pids[NPROC];
    fresh_dir();
    CHECK_INT(pipe(gate), 0);
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c;
            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) _exit(3);   /* wait for the gate to open */
            void *db = open_db(1);
            driver_user u = make_user("pw", (unsigned char)i), got;
            char jid[64];
            snprintf(jid, sizeof jid, "p%d@localhost", i);
            int ok = db && drv->user_create(db, jid, &u) == DRIVER_OK &&
                     drv->user_get(db, jid, &got) == DRIVER_OK;
            drv->close(&db);
            _exit(ok ? 0 : 1);
        }
    }
    close(gate[0]);
    close(gate[1]);   /* all children start now */
    for (int i = 0; i < NPROC; i++) {
        int st = -1;
        CHECK(pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT count(*) FROM users"), NPROC);
    cleanup_dir();
}

static void test_newer_schema_refused(void)
{
    fresh_dir();
    void *db = open_db(1);
    CHECK_INT(raw_exec("INSERT INTO schema_version (version, applied) VALUES (99, 0)"), 0);
    CHECK_INT(drv->migrate(db, NULL), DRIVER_ERROR);
    CHECK(strstr(drv->last_error(db), "newer") != NULL);
    /* the failed migrate left no transaction open */
    driver_user u = make_user("pw", 8);
    CHECK_INT(drv->user_create(db, "hank@localhost", &u), DRIVER_OK);
    drv->close(&db);
    cleanup_dir();
}

static void test_unmigrated_is_error(void)
{
    fresh_dir();
    void *db = open_db(0);
    driver_user got;
    CHECK_INT(drv->user_get(db, "alice@localhost", &got), DRIVER_ERROR);
    CHECK(strstr(drv->last_error(db), "users") != NULL);
    drv->close(&db);
    cleanup_dir();
}

static void test_open_errors_and_paths(void)
{
    char err[256] = "";
    config_t *c = config_load_string("domain: localhost\n", err, sizeof err);
    void *db = c ? drv->open(c, err, sizeof err) : NULL;
    CHECK(db == NULL);
    CHECK(strstr(err, "storage.path") != NULL);
    config_free(&c);

    c = cfg_for("/nonexistent-dir-xmpp/x.db");
    err[0] = '\0';
    db = c ? drv->open(c, err, sizeof err) : NULL;
    CHECK(db == NULL);
    CHECK(err[0] != '\0');
    config_free(&c);

    c = cfg_for(":memory:");
    db = c ? drv->open(c, err, sizeof err) : NULL;
    CHECK(db != NULL);
    CHECK_INT(drv->migrate(db, NULL), DRIVER_OK);
    drv->close(&db);
    config_free(&c);

    /* a relative path is taken from the config file's directory */
    fresh_dir();
    char yaml[600];
    snprintf(yaml, sizeof yaml, "%s/cluster.yaml", tmpdir);
    FILE *f = fopen(yaml, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("domain: localhost\nstorage:\n  path: test.db\n", f);
        fclose(f);
    }
    c = config_load(yaml, err, sizeof err);
    db = c ? drv->open(c, err, sizeof err) : NULL;
    CHECK(db != NULL);
    CHECK_INT(access(dbpath, F_OK), 0);
    drv->close(&db);
    config_free(&c);
    cleanup_dir();
    CHECK(driver_find("sqlite") == &driver_sqlite);
    CHECK(driver_find("oracle") == NULL);
    CHECK(driver_find(NULL) == NULL);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    RUN(test_migrate_fresh_and_again);
    RUN(test_wal_and_no_cleartext);
    RUN(test_create_get);
    RUN(test_create_without_records);
    RUN(test_set_scram);
    RUN(test_delete_cascades);
    RUN(test_list);
    RUN(test_reopen_and_two_handles);
    RUN(test_concurrent_migrate);
    RUN(test_newer_schema_refused);
    RUN(test_unmigrated_is_error);
    RUN(test_open_errors_and_paths);
    return TEST_RESULT();
}
