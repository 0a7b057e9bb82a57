/*
 * driver_sqlite_account.c - accounts in the SQLite driver: SCRAM records
 * per hash (SHA-1, SHA-256), creation, password change, deletion, listing
 * (see driver_sqlite.c for the handle).
 */
#include "driver_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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

driver_status driver_sqlite_user_get(void *h, const char *jid, driver_user *out)
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
driver_status driver_sqlite_user_exists(driver_sqlite_db *db, const char *jid)
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

driver_status driver_sqlite_user_create(void *h, const char *jid, const driver_user *u)
{
    return driver_sqlite_tx(h, jid, u, driver_sqlite_create_step);
}

driver_status driver_sqlite_user_set_scram(void *h, const char *jid, const driver_user *u)
{
    return driver_sqlite_tx(h, jid, u, driver_sqlite_set_scram_step);
}

/* One statement: the cascade to the account's other tables (SCRAM
 * records, roster, pending requests, last presence, offline messages) is
 * part of it, so it is atomic without an explicit transaction. */
driver_status driver_sqlite_user_delete(void *h, const char *jid)
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
driver_status driver_sqlite_user_list(void *h, const char *domain, driver_list_cb cb, void *ud)
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

