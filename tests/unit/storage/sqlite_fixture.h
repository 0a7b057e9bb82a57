/*
 * sqlite_fixture.h - what the SQLite driver tests share: a temporary
 * directory per test, a handle on a database file in it (migrated or
 * not), raw SQL on that file behind the driver's back, and accounts with
 * made-up SCRAM records.
 */
#ifndef XMPP_TEST_SQLITE_FIXTURE_H
#define XMPP_TEST_SQLITE_FIXTURE_H

#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "driver.h"
#include "log.h"
#include "migrations/migrations.h"
#include "scram.h"
#include "test.h"

/* The schema version a fully migrated database has: the number of
 * migrations in storage-workers/migrations/sqlite.c. */
#define SCHEMA_VERSION 3

static const driver_t *drv = &driver_sqlite;
static char tmpdir[256];
static char dbpath[512];

/* A fresh temporary directory with dbpath inside it. */
static inline void fresh_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/xmpp-sqlite-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(dbpath, sizeof dbpath, "%s/test.db", tmpdir);
}

/* Remove the database files and the directory. */
static inline void cleanup_dir(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[600];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/cluster.yaml", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

/* Config whose storage.path is path. */
static inline config_t *cfg_for(const char *path)
{
    char yaml[700], err[256];
    snprintf(yaml, sizeof yaml, "domain: localhost\nstorage:\n  driver: sqlite\n  path: \"%s\"\n", path);
    config_t *c = config_load_string(yaml, err, sizeof err);
    if (!c) fprintf(stderr, "config: %s\n", err);
    return c;
}

/* Open (and migrate when migrate is set) the test database. */
static inline void *open_db(int migrate)
{
    char err[256] = "";
    config_t *c = cfg_for(dbpath);
    void *db = c ? drv->open(c, err, sizeof err) : NULL;
    if (!db) fprintf(stderr, "open: %s\n", err);
    if (db && migrate && drv->migrate(db, NULL) != DRIVER_OK) {
        fprintf(stderr, "migrate: %s\n", drv->last_error(db));
        drv->close(&db);
    }
    config_free(&c);
    return db;
}

/* An integer from a query on a separate raw connection, or -1. */
static inline long long raw_int(const char *sql)
{
    sqlite3 *conn = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open_v2(dbpath, &conn, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(conn, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(conn);
    return v;
}

/* Run a statement on a separate raw connection. 0/-1. */
static inline int raw_exec(const char *sql)
{
    sqlite3 *conn = NULL;
    int rc = sqlite3_open_v2(dbpath, &conn, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(conn, sql, NULL, NULL, NULL);
    sqlite3_close(conn);
    return rc == SQLITE_OK ? 0 : -1;
}

/* An account with both records derived from password (salt from seed). */
static inline driver_user make_user(const char *password, unsigned char seed)
{
    driver_user u;
    unsigned char salt[16];
    memset(&u, 0, sizeof u);
    memset(salt, seed, sizeof salt);
    for (int h = 0; h < DRIVER_SCRAM_COUNT; h++) {
        CHECK_INT(scram_make_record((scram_hash)h, password, salt, sizeof salt, 4096, &u.scram[h]), 0);
        u.has |= DRIVER_HAS(h);
    }
    return u;
}

/* Non-zero if both accounts hold the same records. */
static inline int same_records(const driver_user *a, const driver_user *b)
{
    if (a->has != b->has) return 0;
    for (int h = 0; h < DRIVER_SCRAM_COUNT; h++) {
        const scram_record *x = &a->scram[h], *y = &b->scram[h];
        size_t k = scram_hash_len((scram_hash)h);
        if (!(a->has & DRIVER_HAS(h))) continue;
        if (x->hash != y->hash || x->iter != y->iter || x->salt_len != y->salt_len ||
            memcmp(x->salt, y->salt, x->salt_len) != 0 || memcmp(x->stored_key, y->stored_key, k) != 0 ||
            memcmp(x->server_key, y->server_key, k) != 0) {
            return 0;
        }
    }
    return 1;
}

static inline void add_user(void *db, const char *jid)
{
    driver_user u;
    memset(&u, 0, sizeof u);
    CHECK_INT(drv->user_create(db, jid, &u), DRIVER_OK);
}

#endif
