/*
 * driver_sqlite_kv.c - each user's keyed data in the SQLite driver: one
 * text value per (jid, kind, key) in the table user_data (migration 3),
 * for the features that keep a document or a list per user (vCard,
 * private XML storage, blocking and privacy lists). See driver_sqlite.c
 * for the handle.
 *
 * A row can only exist while its account does (foreign key), so the reads
 * and the delete need no transaction: when they find a row the account is
 * there, and only when they find none do they ask whether it exists. A
 * put with a row limit counts and writes in one BEGIN IMMEDIATE
 * transaction, so two workers cannot both add the last allowed key.
 */
#include "driver_sqlite.h"

#include <string.h>

/* Statement id with ?1 = jid, ?2 = kind and, when key is not NULL,
 * ?3 = key; NULL with the error recorded. The strings must outlive the
 * statement's use. */
static sqlite3_stmt *driver_sqlite_kv_bind(driver_sqlite_db *db, int id, const char *jid, const char *kind,
                                           const char *key)
{
    sqlite3_stmt *st = driver_sqlite_stmt(db, id);
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    if (key) sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    return st;
}

/* Decode a (key, value, stamp) row into d (strings borrowed from the
 * statement). An empty text may come back as NULL from sqlite; a NULL
 * column cannot be there (NOT NULL) and means a corrupt row. 0/-1. */
static int driver_sqlite_kv_row(sqlite3_stmt *st, const char *kind, driver_data *d)
{
    if (sqlite3_column_type(st, 0) == SQLITE_NULL || sqlite3_column_type(st, 1) == SQLITE_NULL) return -1;
    const char *key = (const char *)sqlite3_column_text(st, 0);
    const char *value = (const char *)sqlite3_column_text(st, 1);
    d->kind = kind;
    d->key = key ? key : "";
    d->value = value ? value : "";
    d->value_len = value ? (size_t)sqlite3_column_bytes(st, 1) : 0;
    d->stamp = sqlite3_column_int64(st, 2);
    return 0;
}

/* Call cb for each row of a bound (key, value, stamp) statement, then
 * reset it; *rows receives how many rows it saw. */
static driver_status driver_sqlite_kv_each(driver_sqlite_db *db, sqlite3_stmt *st, const char *kind,
                                           driver_data_cb cb, void *ud, int64_t *rows, const char *what)
{
    *rows = 0;
    if (!st) return DRIVER_ERROR;
    driver_status s = DRIVER_OK;
    driver_data d;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ++*rows;
        if (driver_sqlite_kv_row(st, kind, &d) < 0) {
            s = driver_sqlite_failf(db, "%s: corrupt row", what);
            break;
        }
        if (cb && cb(ud, &d) < 0) {
            s = driver_sqlite_failf(db, "%s: stopped by the caller", what);
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) s = driver_sqlite_fail(db, what);
    driver_sqlite_done(st);
    return s;
}

/* The status of a read or delete that touched `rows` rows: DRIVER_OK when
 * it touched some (the account exists), else whether the account does. */
static driver_status driver_sqlite_kv_owner(driver_sqlite_db *db, const char *jid, driver_status s, int64_t rows)
{
    if (s != DRIVER_OK || rows > 0) return s;
    return driver_sqlite_user_exists(db, jid);
}

driver_status driver_sqlite_data_rows(driver_sqlite_db *db, const char *jid, const char *kind, driver_data_cb cb,
                                      void *ud, int64_t *rows)
{
    int64_t dummy;
    return driver_sqlite_kv_each(db, driver_sqlite_kv_bind(db, ST_DATA_LIST, jid, kind, NULL), kind, cb, ud,
                                 rows ? rows : &dummy, "list user data");
}

driver_status driver_sqlite_data_get(void *h, const char *jid, const char *kind, const char *key,
                                     driver_data_cb cb, void *ud)
{
    driver_sqlite_db *db = h;
    int64_t rows = 0;
    if (!kind || !key) return driver_sqlite_failf(db, "data_get for %s: kind and key are required", jid);
    driver_status s = driver_sqlite_kv_each(db, driver_sqlite_kv_bind(db, ST_DATA_GET, jid, kind, key), kind, cb,
                                            ud, &rows, "get user data");
    return driver_sqlite_kv_owner(db, jid, s, rows);
}

driver_status driver_sqlite_data_list(void *h, const char *jid, const char *kind, driver_data_cb cb, void *ud)
{
    driver_sqlite_db *db = h;
    int64_t rows = 0;
    if (!kind) return driver_sqlite_failf(db, "data_list for %s: kind is required", jid);
    driver_status s = driver_sqlite_data_rows(db, jid, kind, cb, ud, &rows);
    return driver_sqlite_kv_owner(db, jid, s, rows);
}

driver_status driver_sqlite_data_del(void *h, const char *jid, const char *kind, const char *key)
{
    driver_sqlite_db *db = h;
    if (!kind) return driver_sqlite_failf(db, "data_del for %s: kind is required", jid);
    sqlite3_stmt *st = driver_sqlite_kv_bind(db, key ? ST_DATA_DEL : ST_DATA_DEL_KIND, jid, kind, key);
    driver_status s = driver_sqlite_write(db, st, "delete user data");
    return driver_sqlite_kv_owner(db, jid, s, s == DRIVER_OK ? sqlite3_changes(db->conn) : 0);
}

typedef struct driver_sqlite_kv_put_arg {
    const char *jid;
    const char *kind;
    const char *key;
    const char *value;
    int64_t max_rows;   /* > 0: the most rows of kind a new key may make */
} driver_sqlite_kv_put_arg;

/* DRIVER_LIMIT if a put of a->key would add a row beyond a->max_rows. An
 * unknown account has no rows, so it passes and the insert reports it. */
static driver_status driver_sqlite_kv_room(driver_sqlite_db *db, const driver_sqlite_kv_put_arg *a)
{
    int64_t n = 0;
    driver_status s = driver_sqlite_ints(db, driver_sqlite_kv_bind(db, ST_DATA_EXISTS, a->jid, a->kind, a->key),
                                         &n, 1, "find user data");
    if (s != DRIVER_NOT_FOUND) return s;   /* DRIVER_OK: a replacement, always allowed */
    s = driver_sqlite_ints(db, driver_sqlite_kv_bind(db, ST_DATA_COUNT, a->jid, a->kind, NULL), &n, 1,
                           "count user data");
    if (s != DRIVER_OK) return s == DRIVER_NOT_FOUND ? driver_sqlite_failf(db, "count user data: no row") : s;
    return n >= a->max_rows ? DRIVER_LIMIT : DRIVER_OK;
}

static driver_status driver_sqlite_kv_put_step(driver_sqlite_db *db, void *p)
{
    driver_sqlite_kv_put_arg *a = p;
    driver_status s = a->max_rows > 0 ? driver_sqlite_kv_room(db, a) : DRIVER_OK;
    if (s != DRIVER_OK) return s;
    sqlite3_stmt *st = driver_sqlite_kv_bind(db, ST_DATA_PUT, a->jid, a->kind, a->key);
    if (st) {
        sqlite3_bind_text(st, 4, a->value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, driver_sqlite_stamp(0));
    }
    return driver_sqlite_write(db, st, "store user data");
}

driver_status driver_sqlite_data_put(void *h, const char *jid, const char *kind, const char *key,
                                     const char *value, int64_t max_rows)
{
    driver_sqlite_db *db = h;
    if (!kind || !key || !value) {
        return driver_sqlite_failf(db, "data_put for %s: kind, key and value are required", jid);
    }
    driver_sqlite_kv_put_arg a = {jid, kind, key, value, max_rows};
    /* without a limit the upsert is one statement, atomic on its own */
    if (max_rows <= 0) return driver_sqlite_kv_put_step(db, &a);
    return driver_sqlite_atomic(db, ST_BEGIN, driver_sqlite_kv_put_step, &a);
}
