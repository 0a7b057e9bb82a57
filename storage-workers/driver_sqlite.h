/*
 * driver_sqlite.h - what the files of the SQLite driver share: the handle,
 * the ids of its prepared statements (the SQL is in driver_sqlite.c) and
 * the error and transaction helpers. driver_sqlite.c opens, migrates and
 * exports the driver; driver_sqlite_account.c holds the accounts,
 * driver_sqlite_data.c each user's rosters, pending requests, last
 * presence and offline messages, driver_sqlite_kv.c each user's keyed data
 * (the user_data table).
 */
#ifndef XMPP_DRIVER_SQLITE_H
#define XMPP_DRIVER_SQLITE_H

#include <sqlite3.h>
#include <stdint.h>

#include "driver.h"

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
    ST_DATA_GET,
    ST_DATA_EXISTS,
    ST_DATA_COUNT,
    ST_DATA_PUT,
    ST_DATA_DEL,
    ST_DATA_DEL_KIND,
    ST_DATA_LIST,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_COUNT
};

/* The columns of a roster row as driver_sqlite_item_row reads them. */
#define DRIVER_SQLITE_ITEM_COLS \
    "contact, name, groups, sub, ask, pending_in, approved, hidden, deleted, ver"

typedef struct driver_sqlite_db {
    sqlite3 *conn;                    /* the connection */
    int sync_full;                    /* commits are synced (synchronous FULL) */
    sqlite3_stmt *stmt[ST_COUNT];     /* prepared on first use, NULL before */
    char err[512];                    /* text of the last DRIVER_ERROR */
} driver_sqlite_db;

/* Record "what: sqlite's message" as the last error; returns DRIVER_ERROR. */
driver_status driver_sqlite_fail(driver_sqlite_db *db, const char *what);

/* Record a formatted error without sqlite's message; returns DRIVER_ERROR. */
driver_status driver_sqlite_failf(driver_sqlite_db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The statement id, ready for binding (reset, no bindings), or NULL with
 * the error recorded. The handle keeps ownership. */
sqlite3_stmt *driver_sqlite_stmt(driver_sqlite_db *db, int id);

/* Make st reusable: reset and drop bindings (text bound SQLITE_STATIC must
 * not be referenced after the caller's buffer goes away). */
void driver_sqlite_done(sqlite3_stmt *st);

/* Run a statement that takes no parameters and returns no rows (the
 * transaction verbs). DRIVER_OK or DRIVER_ERROR. */
driver_status driver_sqlite_run(driver_sqlite_db *db, int id);

/* Roll back the open transaction, keeping the error already recorded. */
void driver_sqlite_rollback(driver_sqlite_db *db);

/* Commit, or roll back and return DRIVER_ERROR. */
driver_status driver_sqlite_commit(driver_sqlite_db *db);

/* Step a bound statement that returns no rows, then reset it. A foreign
 * key violation means the owning account does not exist: DRIVER_NOT_FOUND. */
driver_status driver_sqlite_write(driver_sqlite_db *db, sqlite3_stmt *st, const char *what);

/* The first n integer columns of the first row of a bound statement into
 * out, then reset it. DRIVER_NOT_FOUND if there is no row. */
driver_status driver_sqlite_ints(driver_sqlite_db *db, sqlite3_stmt *st, int64_t *out, int n,
                                 const char *what);

/* The stamp to store for a requested one (0: now). */
sqlite3_int64 driver_sqlite_stamp(int64_t stamp);

/* A step of driver_sqlite_atomic; arg is the operation's own argument. */
typedef driver_status (*driver_sqlite_step)(driver_sqlite_db *db, void *arg);

/* Run step inside a transaction opened with statement begin (ST_BEGIN to
 * write, ST_BEGIN_READ for a consistent read); commit when it returns
 * DRIVER_OK, else roll back and return its status. */
driver_status driver_sqlite_atomic(driver_sqlite_db *db, int begin, driver_sqlite_step step, void *arg);

/* ---- the operations of driver_t (driver.h), by file ---- */

/* accounts: driver_sqlite_account.c */

/* DRIVER_OK if the account exists, DRIVER_NOT_FOUND if not. */
driver_status driver_sqlite_user_exists(driver_sqlite_db *db, const char *jid);

driver_status driver_sqlite_user_get(void *h, const char *jid, driver_user *out);

driver_status driver_sqlite_user_create(void *h, const char *jid, const driver_user *u);

driver_status driver_sqlite_user_set_scram(void *h, const char *jid, const driver_user *u);

/* One statement: the cascade to the account's other tables (SCRAM
 * records, roster, pending requests, last presence, offline messages,
 * keyed data) is part of it, so it is atomic without an explicit transaction. */
driver_status driver_sqlite_user_delete(void *h, const char *jid);

/* The callback must not call back into this handle: the listing statement
 * is still running. */
driver_status driver_sqlite_user_list(void *h, const char *domain, driver_list_cb cb, void *ud);

/* each user's data: driver_sqlite_data.c */

driver_status driver_sqlite_user_load(void *h, const char *jid, const driver_load_cb *cb, driver_load *out);

driver_status driver_sqlite_roster_put(void *h, const char *jid, const driver_item *it, int bump,
                       int64_t max, int64_t *ver);

driver_status driver_sqlite_roster_del(void *h, const char *jid, const char *contact, int64_t *ver);

driver_status driver_sqlite_roster_since(void *h, const char *jid, int64_t since, driver_item_cb cb,
                       void *ud, driver_since *out);

driver_status driver_sqlite_pending_put(void *h, const char *jid, const driver_stanza *p);

driver_status driver_sqlite_pending_del(void *h, const char *jid, const char *contact);

/* The last presence is written at the end of nearly every session, and
 * losing the newest ones to a power cut only makes a probe answer older,
 * so its commit skips the fsync of the WAL: the WAL stays consistent, and
 * the next synced commit makes it durable with everything before it. */
driver_status driver_sqlite_presence_last(void *h, const char *jid, const driver_stanza *p);

driver_status driver_sqlite_offline_put(void *h, const char *jid, const driver_stanza *m, int64_t max,
                       int64_t *count);

driver_status driver_sqlite_offline_pop(void *h, const char *jid, driver_stanza_cb cb, void *ud);

/* keyed data: driver_sqlite_kv.c */

/* Call cb for each row of kind (by key) inside the caller's transaction;
 * *rows receives how many it saw (may be NULL). It does not check that
 * the account exists: user_load has done that already. */
driver_status driver_sqlite_data_rows(driver_sqlite_db *db, const char *jid, const char *kind, driver_data_cb cb,
                                      void *ud, int64_t *rows);

driver_status driver_sqlite_data_get(void *h, const char *jid, const char *kind, const char *key,
                                     driver_data_cb cb, void *ud);

driver_status driver_sqlite_data_put(void *h, const char *jid, const char *kind, const char *key,
                                     const char *value, int64_t max_rows);

driver_status driver_sqlite_data_del(void *h, const char *jid, const char *kind, const char *key);

driver_status driver_sqlite_data_list(void *h, const char *jid, const char *kind, driver_data_cb cb, void *ud);

#endif
