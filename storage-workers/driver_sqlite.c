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
 *
 * This file holds the handle (open, close, migrations, the SQL of every
 * statement, errors, transactions, the helpers that step statements) and
 * the driver table; the operations are in driver_sqlite_account.c,
 * driver_sqlite_data.c and driver_sqlite_kv.c.
 */
#include "driver_sqlite.h"
#include "migrations/migrations.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#define DRIVER_SQLITE_BUSY_MS 5000
#define DRIVER_SQLITE_WAL_TRIES 50      /* 100 ms apart */
#define DRIVER_SQLITE_SYNC_FULL 2       /* PRAGMA synchronous = FULL */

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
    [ST_BEGIN_READ] = "BEGIN",
    [ST_USER_ROSTER] = "SELECT roster_ver, roster_pruned_ver FROM users WHERE jid = ?1",
    [ST_USER_SET_VER] = "UPDATE users SET roster_ver = ?2 WHERE jid = ?1",
    [ST_ROSTER_LOAD] =
        "SELECT " DRIVER_SQLITE_ITEM_COLS " FROM roster WHERE jid = ?1 AND deleted = 0 ORDER BY contact",
    [ST_ROSTER_VISIBLE] =
        "SELECT " DRIVER_SQLITE_ITEM_COLS " FROM roster WHERE jid = ?1 AND deleted = 0 AND hidden = 0"
        " ORDER BY contact",
    [ST_ROSTER_SINCE] =
        "SELECT " DRIVER_SQLITE_ITEM_COLS " FROM roster WHERE jid = ?1 AND ver > ?2 ORDER BY ver, contact",
    [ST_ROSTER_ROW] = "SELECT hidden, deleted, ver FROM roster WHERE jid = ?1 AND contact = ?2",
    [ST_ROSTER_COUNT] = "SELECT count(*) FROM roster WHERE jid = ?1 AND hidden = 0 AND deleted = 0",
    [ST_ROSTER_UPSERT] =
        "INSERT INTO roster (jid, contact, name, groups, sub, ask, pending_in, approved, hidden, ver, deleted)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)"
        " ON CONFLICT (jid, contact) DO UPDATE SET name = excluded.name, groups = excluded.groups,"
        " sub = excluded.sub, ask = excluded.ask, pending_in = excluded.pending_in,"
        " approved = excluded.approved, hidden = excluded.hidden, ver = excluded.ver, deleted = 0",
    [ST_ROSTER_TOMB] =
        "UPDATE roster SET name = NULL, groups = '[]', sub = 'none', ask = 0, pending_in = 0, approved = 0,"
        " hidden = 0, deleted = 1, ver = ?3 WHERE jid = ?1 AND contact = ?2",
    [ST_ROSTER_REMOVE] = "DELETE FROM roster WHERE jid = ?1 AND contact = ?2",
    [ST_PENDING_ALL] = "SELECT contact, stanza, stamp FROM roster_pending WHERE jid = ?1 ORDER BY stamp, contact",
    [ST_PENDING_PUT] =
        "INSERT INTO roster_pending (jid, contact, stanza, stamp) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (jid, contact) DO UPDATE SET stanza = excluded.stanza, stamp = excluded.stamp",
    [ST_PENDING_DEL] = "DELETE FROM roster_pending WHERE jid = ?1 AND contact = ?2",
    [ST_PRESENCE_GET] = "SELECT stanza, stamp FROM last_presence WHERE jid = ?1",
    [ST_PRESENCE_PUT] =
        "INSERT INTO last_presence (jid, stanza, stamp) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (jid) DO UPDATE SET stanza = excluded.stanza, stamp = excluded.stamp",
    [ST_OFFLINE_COUNT] = "SELECT count(*) FROM offline_messages WHERE jid = ?1",
    [ST_OFFLINE_INSERT] = "INSERT INTO offline_messages (jid, stanza, stamp) VALUES (?1, ?2, ?3)",
    [ST_OFFLINE_ALL] = "SELECT stanza, stamp FROM offline_messages WHERE jid = ?1 ORDER BY id",
    [ST_OFFLINE_CLEAR] = "DELETE FROM offline_messages WHERE jid = ?1",
    [ST_DATA_GET] = "SELECT key, value, stamp FROM user_data WHERE jid = ?1 AND kind = ?2 AND key = ?3",
    [ST_DATA_EXISTS] = "SELECT 1 FROM user_data WHERE jid = ?1 AND kind = ?2 AND key = ?3",
    [ST_DATA_COUNT] = "SELECT count(*) FROM user_data WHERE jid = ?1 AND kind = ?2",
    [ST_DATA_PUT] =
        "INSERT INTO user_data (jid, kind, key, value, stamp) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT (jid, kind, key) DO UPDATE SET value = excluded.value, stamp = excluded.stamp",
    [ST_DATA_DEL] = "DELETE FROM user_data WHERE jid = ?1 AND kind = ?2 AND key = ?3",
    [ST_DATA_DEL_KIND] = "DELETE FROM user_data WHERE jid = ?1 AND kind = ?2",
    [ST_DATA_LIST] = "SELECT key, value, stamp FROM user_data WHERE jid = ?1 AND kind = ?2 ORDER BY key",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
};

/* Record "what: sqlite's message" as the last error; returns DRIVER_ERROR. */
driver_status driver_sqlite_fail(driver_sqlite_db *db, const char *what)
{
    snprintf(db->err, sizeof db->err, "%s: %s", what, sqlite3_errmsg(db->conn));
    return DRIVER_ERROR;
}

/* Record a formatted error without sqlite's message; returns DRIVER_ERROR. */
driver_status driver_sqlite_failf(driver_sqlite_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof db->err, fmt, ap);
    va_end(ap);
    return DRIVER_ERROR;
}

/* The statement id, ready for binding (reset, no bindings), or NULL with
 * the error recorded. The handle keeps ownership. */
sqlite3_stmt *driver_sqlite_stmt(driver_sqlite_db *db, int id)
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
void driver_sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Run a statement that takes no parameters and returns no rows (the
 * transaction verbs). DRIVER_OK or DRIVER_ERROR. */
driver_status driver_sqlite_run(driver_sqlite_db *db, int id)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, id);
    if (!st) return DRIVER_ERROR;
    int rc = sqlite3_step(st);
    driver_status s = rc == SQLITE_DONE ? DRIVER_OK : driver_sqlite_fail(db, driver_sqlite_sql[id]);
    driver_sqlite_done(st);
    return s;
}

/* Roll back the open transaction, keeping the error already recorded. */
void driver_sqlite_rollback(driver_sqlite_db *db)
{
    if (sqlite3_get_autocommit(db->conn)) return;   /* nothing open */
    char saved[sizeof db->err];
    memcpy(saved, db->err, sizeof saved);
    driver_sqlite_run(db, ST_ROLLBACK);
    memcpy(db->err, saved, sizeof saved);
}

/* Commit, or roll back and return DRIVER_ERROR. */
driver_status driver_sqlite_commit(driver_sqlite_db *db)
{
    if (driver_sqlite_run(db, ST_COMMIT) == DRIVER_OK) return DRIVER_OK;
    driver_sqlite_rollback(db);
    return DRIVER_ERROR;
}

/* ---- statements and transactions shared by the operations ---- */

/* Step a bound statement that returns no rows, then reset it. A foreign
 * key violation means the owning account does not exist: DRIVER_NOT_FOUND. */
driver_status driver_sqlite_write(driver_sqlite_db *db, sqlite3_stmt *st, const char *what)
{
    if (!st) return DRIVER_ERROR;
    int rc = sqlite3_step(st);
    driver_status s = DRIVER_OK;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) s = DRIVER_NOT_FOUND;
    else if (rc != SQLITE_DONE) s = driver_sqlite_fail(db, what);
    driver_sqlite_done(st);
    return s;
}

/* The first n integer columns of the first row of a bound statement into
 * out, then reset it. DRIVER_NOT_FOUND if there is no row. */
driver_status driver_sqlite_ints(driver_sqlite_db *db, sqlite3_stmt *st, int64_t *out, int n,
                                 const char *what)
{
    for (int i = 0; i < n; i++) out[i] = 0;      /* also when there is no row */
    if (!st) return DRIVER_ERROR;
    int rc = sqlite3_step(st);
    driver_status s = DRIVER_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++) out[i] = sqlite3_column_int64(st, i);
        s = DRIVER_OK;
    } else if (rc != SQLITE_DONE) {
        s = driver_sqlite_fail(db, what);
    }
    driver_sqlite_done(st);
    return s;
}

/* The stamp to store for a requested one (0: now). */
sqlite3_int64 driver_sqlite_stamp(int64_t stamp)
{
    return stamp ? (sqlite3_int64)stamp : (sqlite3_int64)time(NULL);
}

/* Run step inside a transaction opened with statement begin (ST_BEGIN to
 * write, ST_BEGIN_READ for a consistent read); commit when it returns
 * DRIVER_OK, else roll back and return its status. */
driver_status driver_sqlite_atomic(driver_sqlite_db *db, int begin, driver_sqlite_step step, void *arg)
{
    if (driver_sqlite_run(db, begin) != DRIVER_OK) return DRIVER_ERROR;
    driver_status s = step(db, arg);
    if (s != DRIVER_OK) {
        driver_sqlite_rollback(db);
        return s;
    }
    return driver_sqlite_commit(db);
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

/* The connection's PRAGMA synchronous level (0 OFF .. 3 EXTRA), or -1. */
static int driver_sqlite_sync_level(sqlite3 *conn)
{
    sqlite3_stmt *st = NULL;
    int level = -1;
    if (sqlite3_prepare_v2(conn, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return level;
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
        db->sync_full = driver_sqlite_sync_level(db->conn) == DRIVER_SQLITE_SYNC_FULL;
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
    .user_load = driver_sqlite_user_load,
    .roster_put = driver_sqlite_roster_put,
    .roster_del = driver_sqlite_roster_del,
    .roster_since = driver_sqlite_roster_since,
    .pending_put = driver_sqlite_pending_put,
    .pending_del = driver_sqlite_pending_del,
    .presence_last = driver_sqlite_presence_last,
    .offline_put = driver_sqlite_offline_put,
    .offline_pop = driver_sqlite_offline_pop,
    .data_get = driver_sqlite_data_get,
    .data_put = driver_sqlite_data_put,
    .data_del = driver_sqlite_data_del,
    .data_list = driver_sqlite_data_list,
};

