/*
 * driver_sqlite.c - the SQLite storage driver (the default backend).
 *
 * One handle is one sqlite3 connection in WAL mode, with a 5 s busy
 * timeout and foreign keys on, so several worker processes can share one
 * database file: readers never block, writers queue for the write lock.
 * Every write that touches more than one row runs in BEGIN IMMEDIATE, which
 * takes the write lock up front (a deferred transaction that upgrades can
 * fail with SQLITE_BUSY without waiting). Statements are prepared once, on
 * first use, and kept for the life of the handle.
 *
 * The schema is built by the numbered migrations in migrations/sqlite.c;
 * the table schema_version records which ones ran.
 */
#include "driver.h"
#include "migrations/migrations.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRIVER_SQLITE_BUSY_MS 5000
#define DRIVER_SQLITE_WAL_TRIES 50      /* 100 ms apart */

/* The prepared statements of a handle, by id. */
enum driver_sqlite_stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_USER_GET,
    ST_USER_EXISTS,
    ST_USER_INSERT,
    ST_USER_DELETE,
    ST_SCRAM_INSERT,
    ST_SCRAM_CLEAR,
    ST_LIST_ALL,
    ST_LIST_DOMAIN,
    ST_COUNT
};

static const char *const driver_sqlite_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_USER_GET] =
        "SELECT u.created, s.mech, s.salt, s.iterations, s.stored_key, s.server_key"
        " FROM users u LEFT JOIN user_scram s ON s.jid = u.jid WHERE u.jid = ?1",
    [ST_USER_EXISTS] = "SELECT 1 FROM users WHERE jid = ?1",
    [ST_USER_INSERT] = "INSERT INTO users (jid, created) VALUES (?1, ?2)",
    [ST_USER_DELETE] = "DELETE FROM users WHERE jid = ?1",
    [ST_SCRAM_INSERT] =
        "INSERT INTO user_scram (jid, mech, salt, iterations, stored_key, server_key)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SCRAM_CLEAR] = "DELETE FROM user_scram WHERE jid = ?1",
    [ST_LIST_ALL] = "SELECT jid FROM users ORDER BY jid",
    [ST_LIST_DOMAIN] =
        "SELECT jid FROM users WHERE instr(jid, '@') > 0"
        " AND substr(jid, instr(jid, '@') + 1) = ?1 ORDER BY jid",
};

typedef struct driver_sqlite_db {
    sqlite3 *conn;                    /* the connection */
    sqlite3_stmt *stmt[ST_COUNT];     /* prepared on first use, NULL before */
    char err[512];                    /* text of the last DRIVER_ERROR */
} driver_sqlite_db;

/* Record "what: sqlite's message" as the last error; returns DRIVER_ERROR. */
static driver_status driver_sqlite_fail(driver_sqlite_db *db, const char *what)
{
    snprintf(db->err, sizeof db->err, "%s: %s", what, sqlite3_errmsg(db->conn));
    return DRIVER_ERROR;
}

/* Record a formatted error without sqlite's message; returns DRIVER_ERROR. */
static driver_status driver_sqlite_failf(driver_sqlite_db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static driver_status driver_sqlite_failf(driver_sqlite_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof db->err, fmt, ap);
    va_end(ap);
    return DRIVER_ERROR;
}

/* The statement id, ready for binding (reset, no bindings), or NULL with
 * the error recorded. The handle keeps ownership. */
static sqlite3_stmt *driver_sqlite_stmt(driver_sqlite_db *db, int id)
{
    if (!db->stmt[id] &&
        sqlite3_prepare_v3(db->conn, driver_sqlite_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                           &db->stmt[id], NULL) != SQLITE_OK) {
        driver_sqlite_fail(db, "prepare");
        db->stmt[id] = NULL;
    }
    return db->stmt[id];
}

/* Make st reusable: reset and drop bindings (text bound SQLITE_STATIC must
 * not be referenced after the caller's buffer goes away). */
static void driver_sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Run a statement that takes no parameters and returns no rows (the
 * transaction verbs). DRIVER_OK or DRIVER_ERROR. */
static driver_status driver_sqlite_run(driver_sqlite_db *db, int id)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, id);
    if (!st) return DRIVER_ERROR;
    int rc = sqlite3_step(st);
    driver_status s = rc == SQLITE_DONE ? DRIVER_OK : driver_sqlite_fail(db, driver_sqlite_sql[id]);
    driver_sqlite_done(st);
    return s;
}

/* Roll back the open transaction, keeping the error already recorded. */
static void driver_sqlite_rollback(driver_sqlite_db *db)
{
    if (sqlite3_get_autocommit(db->conn)) return;   /* nothing open */
    char saved[sizeof db->err];
    memcpy(saved, db->err, sizeof saved);
    driver_sqlite_run(db, ST_ROLLBACK);
    memcpy(db->err, saved, sizeof saved);
}

/* Commit, or roll back and return DRIVER_ERROR. */
static driver_status driver_sqlite_commit(driver_sqlite_db *db)
{
    if (driver_sqlite_run(db, ST_COMMIT) == DRIVER_OK) return DRIVER_OK;
    driver_sqlite_rollback(db);
    return DRIVER_ERROR;
}

/* ---- open / close ---- */

/* Switch to WAL. A fresh file shared with a process that is switching at
 * the same moment can report SQLITE_BUSY without waiting, hence the retry.
 * ":memory:" databases stay in "memory" mode. 0/-1. */
static int driver_sqlite_wal(sqlite3 *conn, const char *path, char *err, size_t errsz)
{
    for (int tries = 0; tries < DRIVER_SQLITE_WAL_TRIES; tries++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(conn, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            int ok = mode && (strcmp(mode, "wal") == 0 ||
                              (strcmp(mode, "memory") == 0 && strcmp(path, ":memory:") == 0));
            if (!ok) snprintf(err, errsz, "%s: cannot enable WAL (journal mode %s)", path, mode ? mode : "?");
            sqlite3_finalize(st);
            return ok ? 0 : -1;
        }
        sqlite3_finalize(st);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
        usleep(100 * 1000);
    }
    snprintf(err, errsz, "%s: cannot enable WAL: %s", path, sqlite3_errmsg(conn));
    return -1;
}

/* Apply the per-connection settings. 0/-1 with a message in err. */
static int driver_sqlite_setup(sqlite3 *conn, const char *path, char *err, size_t errsz)
{
    sqlite3_extended_result_codes(conn, 1);
    if (sqlite3_busy_timeout(conn, DRIVER_SQLITE_BUSY_MS) != SQLITE_OK) {
        snprintf(err, errsz, "%s: busy_timeout: %s", path, sqlite3_errmsg(conn));
        return -1;
    }
    if (driver_sqlite_wal(conn, path, err, errsz) < 0) return -1;
    int fk = 0;
    if (sqlite3_db_config(conn, SQLITE_DBCONFIG_ENABLE_FKEY, 1, &fk) != SQLITE_OK || !fk) {
        snprintf(err, errsz, "%s: cannot enable foreign keys", path);
        return -1;
    }
    return 0;
}

static void *driver_sqlite_open(const config_t *cfg, char *err, size_t errsz)
{
    const char *raw = config_str(cfg, "storage.path", NULL);
    if (!raw || !*raw) {
        snprintf(err, errsz, "storage.path is not set");
        return NULL;
    }
    char *path = strcmp(raw, ":memory:") == 0 ? strdup(raw) : config_file_path(cfg, "storage.path", NULL);
    driver_sqlite_db *db = calloc(1, sizeof *db);
    if (!path || !db) {
        snprintf(err, errsz, "out of memory");
        free(path);
        free(db);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &db->conn,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errsz, "%s: %s", path, db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
    } else if (driver_sqlite_setup(db->conn, path, err, errsz) == 0) {
        free(path);
        return db;
    }
    free(path);
    sqlite3_close_v2(db->conn);
    free(db);
    return NULL;
}

static void driver_sqlite_close(void **h)
{
    driver_sqlite_db *db = h ? *h : NULL;
    if (!db) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(db->stmt[i]);
    sqlite3_close_v2(db->conn);
    free(db);
    *h = NULL;
}

static const char *driver_sqlite_last_error(void *h)
{
    driver_sqlite_db *db = h;
    return db && db->err[0] ? db->err : "no error";
}

/* ---- migrations ---- */

/* Current schema version inside the open transaction, or -1. */
static int driver_sqlite_version(driver_sqlite_db *db)
{
    static const char create[] =
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL)";
    if (sqlite3_exec(db->conn, create, NULL, NULL, NULL) != SQLITE_OK) {
        driver_sqlite_fail(db, "schema_version");
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db->conn, "SELECT coalesce(max(version), 0) FROM schema_version",
                           -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
    } else {
        driver_sqlite_fail(db, "schema_version");
    }
    sqlite3_finalize(st);
    return v;
}

/* Run migration number n (1-based) and record it. DRIVER_OK/ERROR. */
static driver_status driver_sqlite_apply(driver_sqlite_db *db, int n, const char *sql)
{
    char what[64];
    snprintf(what, sizeof what, "migration %d", n);
    if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return driver_sqlite_fail(db, what);
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, n);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DRIVER_OK : driver_sqlite_fail(db, what);
}

static driver_status driver_sqlite_migrate(void *h, int *version)
{
    driver_sqlite_db *db = h;
    int count = 0;
    const char *const *list = migrations_sqlite(&count);
    if (driver_sqlite_run(db, ST_BEGIN) != DRIVER_OK) return DRIVER_ERROR;
    int v = driver_sqlite_version(db);
    driver_status s = v < 0 ? DRIVER_ERROR : DRIVER_OK;
    if (v > count) {
        s = driver_sqlite_failf(db, "database schema version %d is newer than this program (%d)", v, count);
    }
    for (int n = v + 1; s == DRIVER_OK && n <= count; n++) {
        s = driver_sqlite_apply(db, n, list[n - 1]);
    }
    if (s != DRIVER_OK) {
        driver_sqlite_rollback(db);
        return s;
    }
    if (driver_sqlite_commit(db) != DRIVER_OK) return DRIVER_ERROR;
    if (version) *version = count;
    return DRIVER_OK;
}

/* ---- accounts ---- */

/* The hash whose mechanism name is mech, or -1. */
static int driver_sqlite_hash(const char *mech)
{
    for (int h = 0; h < DRIVER_SCRAM_COUNT; h++) {
        if (mech && strcmp(mech, scram_mech_name((scram_hash)h)) == 0) return h;
    }
    return -1;
}

/* Copy a blob column of exactly `want` bytes (or 1..want bytes when
 * exact is 0) into dst; returns its length, or -1 if the size is wrong. */
static int driver_sqlite_blob(sqlite3_stmt *st, int col, unsigned char *dst, size_t want, int exact)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (!p || n == 0 || n > want || (exact && n != want)) return -1;
    memcpy(dst, p, n);
    return (int)n;
}

/* Decode the SCRAM columns (1..5) of a ST_USER_GET row into u. 0/-1. */
static int driver_sqlite_scram_row(sqlite3_stmt *st, driver_user *u)
{
    int h = driver_sqlite_hash((const char *)sqlite3_column_text(st, 1));
    if (h < 0) return -1;
    scram_record *r = &u->scram[h];
    size_t klen = scram_hash_len((scram_hash)h);
    sqlite3_int64 iter = sqlite3_column_int64(st, 3);
    int salt = driver_sqlite_blob(st, 2, r->salt, SCRAM_MAX_SALT, 0);
    if (salt < 0 || iter <= 0 || iter > 0x7fffffff ||
        driver_sqlite_blob(st, 4, r->stored_key, klen, 1) < 0 ||
        driver_sqlite_blob(st, 5, r->server_key, klen, 1) < 0) {
        return -1;
    }
    r->hash = (scram_hash)h;
    r->salt_len = (size_t)salt;
    r->iter = (unsigned)iter;
    u->has |= DRIVER_HAS(h);
    return 0;
}

static driver_status driver_sqlite_user_get(void *h, const char *jid, driver_user *out)
{
    driver_sqlite_db *db = h;
    sqlite3_stmt *st = driver_sqlite_stmt(db, ST_USER_GET);
    if (!st) return DRIVER_ERROR;
    memset(out, 0, sizeof *out);
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    driver_status s = DRIVER_NOT_FOUND;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s = DRIVER_OK;
        out->created = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) continue;   /* no SCRAM rows */
        if (driver_sqlite_scram_row(st, out) < 0) {
            s = driver_sqlite_failf(db, "corrupt SCRAM record for %s", jid);
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) s = driver_sqlite_fail(db, "user_get");
    driver_sqlite_done(st);
    return s;
}

/* Insert the SCRAM records of u for jid (inside a transaction). */
static driver_status driver_sqlite_scram_insert(driver_sqlite_db *db, const char *jid, const driver_user *u)
{
    for (int h = 0; h < DRIVER_SCRAM_COUNT; h++) {
        if (!(u->has & DRIVER_HAS(h))) continue;
        const scram_record *r = &u->scram[h];
        if ((int)r->hash != h || r->salt_len == 0 || r->salt_len > SCRAM_MAX_SALT || r->iter == 0) {
            return driver_sqlite_failf(db, "invalid SCRAM record for %s", jid);
        }
        sqlite3_stmt *st = driver_sqlite_stmt(db, ST_SCRAM_INSERT);
        if (!st) return DRIVER_ERROR;
        int klen = (int)scram_hash_len(r->hash);
        sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, scram_mech_name(r->hash), -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, r->salt, (int)r->salt_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->iter);
        sqlite3_bind_blob(st, 5, r->stored_key, klen, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, r->server_key, klen, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        driver_sqlite_done(st);
        if (rc != SQLITE_DONE) return driver_sqlite_fail(db, "insert SCRAM record");
    }
    return DRIVER_OK;
}

/* Insert the users row (inside a transaction). DRIVER_EXISTS if present. */
static driver_status driver_sqlite_user_insert(driver_sqlite_db *db, const char *jid, int64_t created)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, ST_USER_INSERT);
    if (!st) return DRIVER_ERROR;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, created ? created : (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(st);
    driver_sqlite_done(st);
    if (rc == SQLITE_DONE) return DRIVER_OK;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) return DRIVER_EXISTS;
    return driver_sqlite_fail(db, "insert user");
}

/* DRIVER_OK if the account exists, DRIVER_NOT_FOUND if not. */
static driver_status driver_sqlite_user_exists(driver_sqlite_db *db, const char *jid)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, ST_USER_EXISTS);
    if (!st) return DRIVER_ERROR;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    driver_sqlite_done(st);
    if (rc == SQLITE_ROW) return DRIVER_OK;
    if (rc == SQLITE_DONE) return DRIVER_NOT_FOUND;
    return driver_sqlite_fail(db, "user_exists");
}

/* Run step inside BEGIN IMMEDIATE .. COMMIT; anything but DRIVER_OK from
 * step rolls back and is returned. */
static driver_status driver_sqlite_tx(driver_sqlite_db *db, const char *jid, const driver_user *u,
                                      driver_status (*step)(driver_sqlite_db *, const char *,
                                                            const driver_user *))
{
    if (driver_sqlite_run(db, ST_BEGIN) != DRIVER_OK) return DRIVER_ERROR;
    driver_status s = step(db, jid, u);
    if (s != DRIVER_OK) {
        driver_sqlite_rollback(db);
        return s;
    }
    return driver_sqlite_commit(db);
}

static driver_status driver_sqlite_create_step(driver_sqlite_db *db, const char *jid, const driver_user *u)
{
    driver_status s = driver_sqlite_user_insert(db, jid, u->created);
    return s == DRIVER_OK ? driver_sqlite_scram_insert(db, jid, u) : s;
}

static driver_status driver_sqlite_set_scram_step(driver_sqlite_db *db, const char *jid, const driver_user *u)
{
    driver_status s = driver_sqlite_user_exists(db, jid);
    if (s != DRIVER_OK) return s;
    sqlite3_stmt *st = driver_sqlite_stmt(db, ST_SCRAM_CLEAR);
    if (!st) return DRIVER_ERROR;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    driver_sqlite_done(st);
    if (rc != SQLITE_DONE) return driver_sqlite_fail(db, "clear SCRAM records");
    return driver_sqlite_scram_insert(db, jid, u);
}

static driver_status driver_sqlite_user_create(void *h, const char *jid, const driver_user *u)
{
    return driver_sqlite_tx(h, jid, u, driver_sqlite_create_step);
}

static driver_status driver_sqlite_user_set_scram(void *h, const char *jid, const driver_user *u)
{
    return driver_sqlite_tx(h, jid, u, driver_sqlite_set_scram_step);
}

/* One statement: the cascade to user_scram is part of it, so it is atomic
 * without an explicit transaction. */
static driver_status driver_sqlite_user_delete(void *h, const char *jid)
{
    driver_sqlite_db *db = h;
    sqlite3_stmt *st = driver_sqlite_stmt(db, ST_USER_DELETE);
    if (!st) return DRIVER_ERROR;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    driver_sqlite_done(st);
    if (rc != SQLITE_DONE) return driver_sqlite_fail(db, "delete user");
    return sqlite3_changes(db->conn) > 0 ? DRIVER_OK : DRIVER_NOT_FOUND;
}

/* The callback must not call back into this handle: the listing statement
 * is still running. */
static driver_status driver_sqlite_user_list(void *h, const char *domain, driver_list_cb cb, void *ud)
{
    driver_sqlite_db *db = h;
    sqlite3_stmt *st = driver_sqlite_stmt(db, domain ? ST_LIST_DOMAIN : ST_LIST_ALL);
    if (!st) return DRIVER_ERROR;
    if (domain) sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    driver_status s = DRIVER_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *jid = (const char *)sqlite3_column_text(st, 0);
        if (jid && cb(ud, jid) < 0) {
            s = driver_sqlite_failf(db, "listing stopped by the caller");
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) s = driver_sqlite_fail(db, "user_list");
    driver_sqlite_done(st);
    return s;
}

const driver_t driver_sqlite = {
    .name = "sqlite",
    .open = driver_sqlite_open,
    .close = driver_sqlite_close,
    .migrate = driver_sqlite_migrate,
    .last_error = driver_sqlite_last_error,
    .user_get = driver_sqlite_user_get,
    .user_create = driver_sqlite_user_create,
    .user_set_scram = driver_sqlite_user_set_scram,
    .user_delete = driver_sqlite_user_delete,
    .user_list = driver_sqlite_user_list,
};
