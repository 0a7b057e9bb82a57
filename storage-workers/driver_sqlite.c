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
 * Rosters are versioned per user (users.roster_ver): every change a client
 * can see bumps it and stamps the row; removed items stay as tombstones
 * (deleted = 1) so that roster_since can tell an old client what went
 * away. Reads that span several tables (user_load, roster_since) run in one
 * deferred transaction, which in WAL mode is a consistent snapshot.
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
#define DRIVER_SQLITE_SYNC_FULL 2       /* PRAGMA synchronous = FULL */

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
    ST_BEGIN_READ,
    ST_USER_ROSTER,
    ST_USER_SET_VER,
    ST_ROSTER_LOAD,
    ST_ROSTER_VISIBLE,
    ST_ROSTER_SINCE,
    ST_ROSTER_ROW,
    ST_ROSTER_COUNT,
    ST_ROSTER_UPSERT,
    ST_ROSTER_TOMB,
    ST_ROSTER_REMOVE,
    ST_PENDING_ALL,
    ST_PENDING_PUT,
    ST_PENDING_DEL,
    ST_PRESENCE_GET,
    ST_PRESENCE_PUT,
    ST_OFFLINE_COUNT,
    ST_OFFLINE_INSERT,
    ST_OFFLINE_ALL,
    ST_OFFLINE_CLEAR,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_COUNT
};

/* The columns of a roster row as driver_sqlite_item_row reads them. */
#define DRIVER_SQLITE_ITEM_COLS \
    "contact, name, groups, sub, ask, pending_in, approved, hidden, deleted, ver"

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
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
};

typedef struct driver_sqlite_db {
    sqlite3 *conn;                    /* the connection */
    int sync_full;                    /* commits are synced (synchronous FULL) */
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

/* One statement: the cascade to the account's other tables (SCRAM
 * records, roster, pending requests, last presence, offline messages) is
 * part of it, so it is atomic without an explicit transaction. */
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

/* ---- helpers for the per-user data ---- */

/* Statement id with ?1 = jid and, when b is not NULL, ?2 = b; NULL with
 * the error recorded. The strings must outlive the statement's use. */
static sqlite3_stmt *driver_sqlite_bind(driver_sqlite_db *db, int id, const char *jid, const char *b)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, id);
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    return st;
}

/* Step a bound statement that returns no rows, then reset it. A foreign
 * key violation means the owning account does not exist: DRIVER_NOT_FOUND. */
static driver_status driver_sqlite_write(driver_sqlite_db *db, sqlite3_stmt *st, const char *what)
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
static driver_status driver_sqlite_ints(driver_sqlite_db *db, sqlite3_stmt *st, int64_t *out, int n,
                                        const char *what)
{
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
static sqlite3_int64 driver_sqlite_stamp(int64_t stamp)
{
    return stamp ? (sqlite3_int64)stamp : (sqlite3_int64)time(NULL);
}

/* A step of driver_sqlite_atomic; arg is the operation's own argument. */
typedef driver_status (*driver_sqlite_step)(driver_sqlite_db *db, void *arg);

/* Run step inside a transaction opened with statement begin (ST_BEGIN to
 * write, ST_BEGIN_READ for a consistent read); commit when it returns
 * DRIVER_OK, else roll back and return its status. */
static driver_status driver_sqlite_atomic(driver_sqlite_db *db, int begin, driver_sqlite_step step, void *arg)
{
    if (driver_sqlite_run(db, begin) != DRIVER_OK) return DRIVER_ERROR;
    driver_status s = step(db, arg);
    if (s != DRIVER_OK) {
        driver_sqlite_rollback(db);
        return s;
    }
    return driver_sqlite_commit(db);
}

/* Decode a row of DRIVER_SQLITE_ITEM_COLS into it (strings borrowed from
 * the statement). With removal set, a hidden row is reported as a
 * tombstone: it is not in the roster the client sees. 0/-1. */
static int driver_sqlite_item_row(sqlite3_stmt *st, driver_item *it, int removal)
{
    memset(it, 0, sizeof *it);
    it->contact = (const char *)sqlite3_column_text(st, 0);
    it->name = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st, 1);
    it->groups = (const char *)sqlite3_column_text(st, 2);
    int sub = driver_sub_parse((const char *)sqlite3_column_text(st, 3));
    if (!it->contact || !it->groups || sub < 0) return -1;
    it->sub = (driver_sub)sub;
    it->ask = sqlite3_column_int(st, 4) != 0;
    it->pending_in = sqlite3_column_int(st, 5) != 0;
    it->approved = sqlite3_column_int(st, 6) != 0;
    it->hidden = sqlite3_column_int(st, 7) != 0;
    it->deleted = sqlite3_column_int(st, 8) != 0;
    it->ver = sqlite3_column_int64(st, 9);
    if (it->deleted || (removal && it->hidden)) {
        const char *contact = it->contact;
        int64_t ver = it->ver;
        memset(it, 0, sizeof *it);
        it->contact = contact;
        it->groups = "[]";
        it->deleted = 1;
        it->ver = ver;
    }
    return 0;
}

/* Call cb for each roster row of a bound statement, then reset it. */
static driver_status driver_sqlite_items(driver_sqlite_db *db, sqlite3_stmt *st, int removal,
                                         driver_item_cb cb, void *ud, const char *what)
{
    if (!st) return DRIVER_ERROR;
    driver_status s = DRIVER_OK;
    driver_item it;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (driver_sqlite_item_row(st, &it, removal) < 0) {
            s = driver_sqlite_failf(db, "%s: corrupt roster row", what);
            break;
        }
        if (cb(ud, &it) < 0) {
            s = driver_sqlite_failf(db, "%s: stopped by the caller", what);
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) s = driver_sqlite_fail(db, what);
    driver_sqlite_done(st);
    return s;
}

/* Call cb for each (contact,) stanza, stamp row of a bound statement, then
 * reset it; with_contact says whether column 0 is the contact. */
static driver_status driver_sqlite_stanzas(driver_sqlite_db *db, sqlite3_stmt *st, int with_contact,
                                           driver_stanza_cb cb, void *ud, const char *what)
{
    if (!st) return DRIVER_ERROR;
    driver_status s = DRIVER_OK;
    int rc, c = with_contact ? 1 : 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        driver_stanza one = {
            .contact = with_contact ? (const char *)sqlite3_column_text(st, 0) : NULL,
            .stanza = (const char *)sqlite3_column_text(st, c),
            .stamp = sqlite3_column_int64(st, c + 1),
        };
        if (!one.stanza || (with_contact && !one.contact)) {
            s = driver_sqlite_failf(db, "%s: corrupt row", what);
            break;
        }
        if (cb(ud, &one) < 0) {
            s = driver_sqlite_failf(db, "%s: stopped by the caller", what);
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) s = driver_sqlite_fail(db, what);
    driver_sqlite_done(st);
    return s;
}

/* The user's roster version and pruned version into v[0], v[1].
 * DRIVER_NOT_FOUND if the account does not exist. */
static driver_status driver_sqlite_roster_vers(driver_sqlite_db *db, const char *jid, int64_t v[2])
{
    return driver_sqlite_ints(db, driver_sqlite_bind(db, ST_USER_ROSTER, jid, NULL), v, 2, "roster version");
}

/* Store ver as the user's roster version. */
static driver_status driver_sqlite_set_ver(driver_sqlite_db *db, const char *jid, int64_t ver)
{
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_USER_SET_VER, jid, NULL);
    if (st) sqlite3_bind_int64(st, 2, ver);
    return driver_sqlite_write(db, st, "set roster version");
}

/* ---- user_load ---- */

typedef struct driver_sqlite_load_arg {
    const char *jid;
    const driver_load_cb *cb;
    driver_load *out;
} driver_sqlite_load_arg;

static driver_status driver_sqlite_load_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_load_arg *a = p;
    int64_t v[2];
    driver_status s = driver_sqlite_roster_vers(db, a->jid, v);
    if (s != DRIVER_OK) return s;
    a->out->roster_ver = v[0];
    if (a->cb->item) {
        s = driver_sqlite_items(db, driver_sqlite_bind(db, ST_ROSTER_LOAD, a->jid, NULL), 0, a->cb->item,
                                a->cb->ud, "load roster");
    }
    if (s == DRIVER_OK && a->cb->pending) {
        s = driver_sqlite_stanzas(db, driver_sqlite_bind(db, ST_PENDING_ALL, a->jid, NULL), 1, a->cb->pending,
                                  a->cb->ud, "load pending requests");
    }
    if (s == DRIVER_OK && a->cb->presence) {
        s = driver_sqlite_stanzas(db, driver_sqlite_bind(db, ST_PRESENCE_GET, a->jid, NULL), 0,
                                  a->cb->presence, a->cb->ud, "load last presence");
    }
    if (s != DRIVER_OK) return s;
    s = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_OFFLINE_COUNT, a->jid, NULL), &a->out->offline_count, 1,
                           "count offline messages");
    return s == DRIVER_NOT_FOUND ? driver_sqlite_failf(db, "count offline messages: no row") : s;
}

static driver_status driver_sqlite_user_load(void *h, const char *jid, const driver_load_cb *cb, driver_load *out)
{
    driver_sqlite_load_arg a = {jid, cb, out};
    memset(out, 0, sizeof *out);
    return driver_sqlite_atomic(h, ST_BEGIN_READ, driver_sqlite_load_step, &a);
}

/* ---- roster ---- */

typedef struct driver_sqlite_put_arg {
    const char *jid;
    const driver_item *it;
    int bump;
    int64_t max;
    int64_t *ver;
} driver_sqlite_put_arg;

static driver_status driver_sqlite_put_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_put_arg *a = p;
    const driver_item *it = a->it;
    int64_t v[2], row[3];   /* (roster_ver, pruned) and (hidden, deleted, ver) */
    driver_status s = driver_sqlite_roster_vers(db, a->jid, v);
    if (s != DRIVER_OK) return s;
    driver_status rs = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_ROSTER_ROW, a->jid, it->contact), row, 3,
                                          "roster row");
    if (rs == DRIVER_ERROR) return rs;
    int exists = rs == DRIVER_OK, was_visible = exists && !row[0] && !row[1];
    if (!it->hidden && !was_visible && a->max >= 0) {
        int64_t n = 0;
        s = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_ROSTER_COUNT, a->jid, NULL), &n, 1, "count roster");
        if (s != DRIVER_OK) return s == DRIVER_NOT_FOUND ? driver_sqlite_failf(db, "count roster: no row") : s;
        if (n >= a->max) return DRIVER_LIMIT;
    }
    int64_t ver = v[0], row_ver = exists ? row[2] : 0;
    if (a->bump) {
        row_ver = ++ver;
        if ((s = driver_sqlite_set_ver(db, a->jid, ver)) != DRIVER_OK) return s;
    }
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_ROSTER_UPSERT, a->jid, it->contact);
    if (st) {
        if (it->name) sqlite3_bind_text(st, 3, it->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, it->groups, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, driver_sub_name(it->sub), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, it->ask != 0);
        sqlite3_bind_int(st, 7, it->pending_in != 0);
        sqlite3_bind_int(st, 8, it->approved != 0);
        sqlite3_bind_int(st, 9, it->hidden != 0);
        sqlite3_bind_int64(st, 10, row_ver);
    }
    if ((s = driver_sqlite_write(db, st, "store roster item")) != DRIVER_OK) return s;
    *a->ver = ver;
    return DRIVER_OK;
}

static driver_status driver_sqlite_roster_put(void *h, const char *jid, const driver_item *it, int bump,
                                              int64_t max, int64_t *ver)
{
    driver_sqlite_db *db = h;
    int64_t dummy;
    if (!it || !it->contact || !it->groups || !driver_sub_name(it->sub)) {
        return driver_sqlite_failf(db, "invalid roster item for %s", jid);
    }
    driver_sqlite_put_arg a = {jid, it, bump, max, ver ? ver : &dummy};
    return driver_sqlite_atomic(db, ST_BEGIN, driver_sqlite_put_step, &a);
}

typedef struct driver_sqlite_del_arg {
    const char *jid;
    const char *contact;
    int64_t *ver;
} driver_sqlite_del_arg;

static driver_status driver_sqlite_del_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_del_arg *a = p;
    int64_t v[2], row[3];   /* (roster_ver, pruned) and (hidden, deleted, ver) */
    driver_status s = driver_sqlite_roster_vers(db, a->jid, v);
    if (s != DRIVER_OK) return s;
    s = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_ROSTER_ROW, a->jid, a->contact), row, 3, "roster row");
    if (s != DRIVER_OK) return s;
    if (row[1]) return DRIVER_NOT_FOUND;   /* already a tombstone */
    int64_t ver = v[0], tomb_ver = row[2];
    if (!row[0]) {                           /* visible: a change clients see */
        tomb_ver = ++ver;
        if ((s = driver_sqlite_set_ver(db, a->jid, ver)) != DRIVER_OK) return s;
    }
    sqlite3_stmt *st;
    if (tomb_ver > 0) {
        st = driver_sqlite_bind(db, ST_ROSTER_TOMB, a->jid, a->contact);
        if (st) sqlite3_bind_int64(st, 3, tomb_ver);
    } else {
        st = driver_sqlite_bind(db, ST_ROSTER_REMOVE, a->jid, a->contact);
    }
    if ((s = driver_sqlite_write(db, st, "remove roster item")) != DRIVER_OK) return s;
    *a->ver = ver;
    return DRIVER_OK;
}

static driver_status driver_sqlite_roster_del(void *h, const char *jid, const char *contact, int64_t *ver)
{
    int64_t dummy;
    driver_sqlite_del_arg a = {jid, contact, ver ? ver : &dummy};
    return driver_sqlite_atomic(h, ST_BEGIN, driver_sqlite_del_step, &a);
}

typedef struct driver_sqlite_since_arg {
    const char *jid;
    int64_t since;
    driver_item_cb cb;
    void *ud;
    driver_since *out;
} driver_sqlite_since_arg;

static driver_status driver_sqlite_since_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_since_arg *a = p;
    int64_t v[2];   /* roster_ver, pruned */
    driver_status s = driver_sqlite_roster_vers(db, a->jid, v);
    if (s != DRIVER_OK) return s;
    a->out->ver = v[0];
    a->out->complete = a->since <= v[0] && a->since >= v[1];
    if (!a->out->complete) {
        return driver_sqlite_items(db, driver_sqlite_bind(db, ST_ROSTER_VISIBLE, a->jid, NULL), 0, a->cb, a->ud,
                                   "full roster");
    }
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_ROSTER_SINCE, a->jid, NULL);
    if (st) sqlite3_bind_int64(st, 2, a->since);
    return driver_sqlite_items(db, st, 1, a->cb, a->ud, "roster changes");
}

static driver_status driver_sqlite_roster_since(void *h, const char *jid, int64_t since, driver_item_cb cb,
                                                void *ud, driver_since *out)
{
    driver_sqlite_since_arg a = {jid, since, cb, ud, out};
    memset(out, 0, sizeof *out);
    return driver_sqlite_atomic(h, ST_BEGIN_READ, driver_sqlite_since_step, &a);
}

/* ---- pending requests, last presence: one statement each ---- */

static driver_status driver_sqlite_pending_put(void *h, const char *jid, const driver_stanza *p)
{
    driver_sqlite_db *db = h;
    if (!p || !p->contact || !p->stanza) return driver_sqlite_failf(db, "invalid pending request for %s", jid);
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_PENDING_PUT, jid, p->contact);
    if (st) {
        sqlite3_bind_text(st, 3, p->stanza, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, driver_sqlite_stamp(p->stamp));
    }
    return driver_sqlite_write(db, st, "store pending request");
}

static driver_status driver_sqlite_pending_del(void *h, const char *jid, const char *contact)
{
    driver_sqlite_db *db = h;
    return driver_sqlite_write(db, driver_sqlite_bind(db, ST_PENDING_DEL, jid, contact), "delete pending request");
}

/* The last presence is written at the end of nearly every session, and
 * losing the newest ones to a power cut only makes a probe answer older,
 * so its commit skips the fsync of the WAL: the WAL stays consistent, and
 * the next synced commit makes it durable with everything before it. */
static driver_status driver_sqlite_presence_last(void *h, const char *jid, const driver_stanza *p)
{
    driver_sqlite_db *db = h;
    if (!p || !p->stanza) return driver_sqlite_failf(db, "invalid presence for %s", jid);
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_PRESENCE_PUT, jid, p->stanza);
    if (st) sqlite3_bind_int64(st, 3, driver_sqlite_stamp(p->stamp));
    if (st && db->sync_full && driver_sqlite_run(db, ST_SYNC_NORMAL) != DRIVER_OK) {
        driver_sqlite_done(st);
        return DRIVER_ERROR;
    }
    driver_status s = driver_sqlite_write(db, st, "store last presence");
    if (st && db->sync_full && driver_sqlite_run(db, ST_SYNC_FULL) != DRIVER_OK) s = DRIVER_ERROR;
    return s;
}

/* ---- offline messages ---- */

typedef struct driver_sqlite_offline_arg {
    const char *jid;
    const driver_stanza *msg;   /* offline_put */
    int64_t max;                /* offline_put */
    int64_t *count;             /* offline_put */
    driver_stanza_cb cb;        /* offline_pop */
    void *ud;                   /* offline_pop */
} driver_sqlite_offline_arg;

static driver_status driver_sqlite_offline_put_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_offline_arg *a = p;
    driver_status s = driver_sqlite_user_exists(db, a->jid);
    int64_t n = 0;
    if (s != DRIVER_OK) return s;
    s = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_OFFLINE_COUNT, a->jid, NULL), &n, 1,
                           "count offline messages");
    if (s != DRIVER_OK) return s == DRIVER_NOT_FOUND ? driver_sqlite_failf(db, "count offline: no row") : s;
    if (a->max >= 0 && n >= a->max) return DRIVER_LIMIT;
    sqlite3_stmt *st = driver_sqlite_bind(db, ST_OFFLINE_INSERT, a->jid, a->msg->stanza);
    if (st) sqlite3_bind_int64(st, 3, driver_sqlite_stamp(a->msg->stamp));
    if ((s = driver_sqlite_write(db, st, "store offline message")) != DRIVER_OK) return s;
    *a->count = n + 1;
    return DRIVER_OK;
}

static driver_status driver_sqlite_offline_put(void *h, const char *jid, const driver_stanza *m, int64_t max,
                                               int64_t *count)
{
    driver_sqlite_db *db = h;
    int64_t dummy;
    if (!m || !m->stanza) return driver_sqlite_failf(db, "invalid offline message for %s", jid);
    driver_sqlite_offline_arg a = {.jid = jid, .msg = m, .max = max, .count = count ? count : &dummy};
    return driver_sqlite_atomic(db, ST_BEGIN, driver_sqlite_offline_put_step, &a);
}

static driver_status driver_sqlite_offline_pop_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_offline_arg *a = p;
    driver_status s = driver_sqlite_user_exists(db, a->jid);
    if (s != DRIVER_OK) return s;
    s = driver_sqlite_stanzas(db, driver_sqlite_bind(db, ST_OFFLINE_ALL, a->jid, NULL), 0, a->cb, a->ud,
                              "read offline messages");
    if (s != DRIVER_OK) return s;
    return driver_sqlite_write(db, driver_sqlite_bind(db, ST_OFFLINE_CLEAR, a->jid, NULL),
                               "delete offline messages");
}

static driver_status driver_sqlite_offline_pop(void *h, const char *jid, driver_stanza_cb cb, void *ud)
{
    driver_sqlite_offline_arg a = {.jid = jid, .cb = cb, .ud = ud};
    return driver_sqlite_atomic(h, ST_BEGIN, driver_sqlite_offline_pop_step, &a);
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
};
