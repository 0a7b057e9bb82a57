/*
 * driver_sqlite_data.c - each user's data in the SQLite driver: the load
 * at first use (which includes the keyed data of driver_sqlite_kv.c the
 * caller asks for), rosters, pending subscription requests, the last
 * unavailable presence and offline messages (see driver_sqlite.c for the
 * handle).
 *
 * Rosters are versioned per user (users.roster_ver): every change a client
 * can see bumps it and stamps the row; removed items stay as tombstones
 * (deleted = 1) so that roster_since can tell an old client what went
 * away. Reads that span several tables (user_load, roster_since) run in one
 * deferred transaction, which in WAL mode is a consistent snapshot.
 */
#include "driver_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    for (size_t i = 0; s == DRIVER_OK && a->cb->data && a->cb->kinds && a->cb->kinds[i]; i++) {
        s = driver_sqlite_data_rows(db, a->jid, a->cb->kinds[i], a->cb->data, a->cb->ud, NULL);
    }
    if (s != DRIVER_OK) return s;
    s = driver_sqlite_ints(db, driver_sqlite_bind(db, ST_OFFLINE_COUNT, a->jid, NULL), &a->out->offline_count, 1,
                           "count offline messages");
    return s == DRIVER_NOT_FOUND ? driver_sqlite_failf(db, "count offline messages: no row") : s;
}

driver_status driver_sqlite_user_load(void *h, const char *jid, const driver_load_cb *cb, driver_load *out)
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

driver_status driver_sqlite_roster_put(void *h, const char *jid, const driver_item *it, int bump,
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

driver_status driver_sqlite_roster_del(void *h, const char *jid, const char *contact, int64_t *ver)
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

driver_status driver_sqlite_roster_since(void *h, const char *jid, int64_t since, driver_item_cb cb,
                                         void *ud, driver_since *out)
{
    driver_sqlite_since_arg a = {jid, since, cb, ud, out};
    memset(out, 0, sizeof *out);
    return driver_sqlite_atomic(h, ST_BEGIN_READ, driver_sqlite_since_step, &a);
}

/* ---- pending requests, last presence: one statement each ---- */

driver_status driver_sqlite_pending_put(void *h, const char *jid, const driver_stanza *p)
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

driver_status driver_sqlite_pending_del(void *h, const char *jid, const char *contact)
{
    driver_sqlite_db *db = h;
    return driver_sqlite_write(db, driver_sqlite_bind(db, ST_PENDING_DEL, jid, contact), "delete pending request");
}

/* The last presence is written at the end of nearly every session, and
 * losing the newest ones to a power cut only makes a probe answer older,
 * so its commit skips the fsync of the WAL: the WAL stays consistent, and
 * the next synced commit makes it durable with everything before it. */
driver_status driver_sqlite_presence_last(void *h, const char *jid, const driver_stanza *p)
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

driver_status driver_sqlite_offline_put(void *h, const char *jid, const driver_stanza *m, int64_t max,
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

driver_status driver_sqlite_offline_pop(void *h, const char *jid, driver_stanza_cb cb, void *ud)
{
    driver_sqlite_offline_arg a = {.jid = jid, .cb = cb, .ud = ud};
    return driver_sqlite_atomic(h, ST_BEGIN, driver_sqlite_offline_pop_step, &a);
}

