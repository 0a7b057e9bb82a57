/*
 * driver.h - the storage driver interface.
 *
 * A driver is a small vtable over one database handle: open it from the
 * cluster config, run the numbered schema migrations, and one function per
 * storage operation. The storage protocol (ops.c) is written only against
 * this interface, so a second backend (PostgreSQL) is one more file of the
 * same shape as driver_sqlite.c and one more line in driver.c.
 *
 * Contracts common to every operation:
 *   - Keys are normalized bare JIDs ("alice@localhost"); the caller
 *     (ops.c) has validated them, drivers store them as given.
 *   - Return DRIVER_OK (0) on success and a negative driver_status on
 *     failure; after DRIVER_ERROR, last_error() describes what went wrong.
 *   - Writes are atomic: either every row of the operation is stored or
 *     none is.
 *   - Passwords never reach a driver: accounts hold only SCRAM records.
 *   - Everything below an account (roster, pending requests, last
 *     presence, offline messages, keyed data) is deleted with it.
 *   - Strings handed to a callback are valid only during that call, and a
 *     callback must not call back into the same handle. A callback that
 *     returns -1 stops the operation: it returns DRIVER_ERROR and a write
 *     in progress is rolled back.
 *   - Timestamps are Unix seconds; a stamp of 0 in an argument means "now".
 */
#ifndef XMPP_STORAGE_DRIVER_H
#define XMPP_STORAGE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "scram.h"

typedef enum driver_status {
    DRIVER_OK = 0,          /* done */
    DRIVER_ERROR = -1,      /* database or resource failure; see last_error */
    DRIVER_NOT_FOUND = -2,  /* the account does not exist */
    DRIVER_EXISTS = -3,     /* the account already exists */
    DRIVER_LIMIT = -4       /* a size limit given by the caller would be exceeded */
} driver_status;

/* Number of SCRAM hashes an account may hold (SCRAM_SHA1, SCRAM_SHA256). */
#define DRIVER_SCRAM_COUNT 2

/* Bit for hash h in driver_user.has. */
#define DRIVER_HAS(h) (1u << (unsigned)(h))

/* An account as stored. */
typedef struct driver_user {
    int64_t created;                        /* creation time, Unix seconds */
    unsigned has;                           /* DRIVER_HAS(h) set when scram[h] is valid */
    scram_record scram[DRIVER_SCRAM_COUNT]; /* indexed by scram_hash */
} driver_user;

/* Called once per JID by user_list, in ascending byte order. Return 0 to
 * go on, -1 to stop the listing (user_list then returns DRIVER_ERROR). */
typedef int (*driver_list_cb)(void *ud, const char *jid);

/* Subscription state of a roster item (RFC 6121 "subscription"). */
typedef enum driver_sub {
    DRIVER_SUB_NONE = 0,
    DRIVER_SUB_TO,
    DRIVER_SUB_FROM,
    DRIVER_SUB_BOTH
} driver_sub;

/* "none", "to", "from", "both" (NULL for a value out of range). */
const char *driver_sub_name(driver_sub sub);
/* The state named name, or -1. */
int driver_sub_parse(const char *name);

/* One roster row: an item of the user's roster, a hidden row (state kept
 * for a contact that is not in the roster: a pending inbound request, a
 * pre-approval), or a tombstone (deleted: the item was removed at ver). */
typedef struct driver_item {
    const char *contact;   /* normalized bare JID */
    const char *name;      /* NULL: no name */
    const char *groups;    /* JSON text of an array of distinct strings, "[]"
                              for none; checked by the caller, stored as is */
    driver_sub sub;
    int ask;               /* 1: pending out (we asked the contact) */
    int pending_in;        /* 1: the contact asked, the user has not answered */
    int approved;          /* 1: pre-approved (RFC 6121 3.4) */
    int hidden;            /* 1: not part of the roster the user sees */
    int deleted;           /* 1: tombstone (only the contact and ver are meaningful) */
    int64_t ver;           /* roster version at which the row last changed */
} driver_item;

/* A stored stanza: a pending subscription request (contact set), the last
 * unavailable presence or an offline message (contact NULL). */
typedef struct driver_stanza {
    const char *contact;   /* the requesting contact, or NULL */
    const char *stanza;    /* the stanza's XML text */
    int64_t stamp;         /* when it was stored */
} driver_stanza;

/* One row of a user's keyed data: the value stored under (kind, key) for
 * one account. A kind names what the rows are for ("vcard", "private",
 * "block", "privacy"); the driver gives kinds no meaning. */
typedef struct driver_data {
    const char *kind;      /* the row's kind */
    const char *key;       /* its key within the kind; "" is a key like any other */
    const char *value;     /* the stored text (no NUL byte inside) */
    size_t value_len;      /* bytes of value, without the terminating NUL */
    int64_t stamp;         /* when the row was last written */
} driver_data;

/* Called once per row; 0 to go on, -1 to stop (see the contracts above). */
typedef int (*driver_item_cb)(void *ud, const driver_item *item);
typedef int (*driver_stanza_cb)(void *ud, const driver_stanza *st);
typedef int (*driver_data_cb)(void *ud, const driver_data *row);

/* The callbacks of user_load; each may be NULL. */
typedef struct driver_load_cb {
    driver_item_cb item;         /* each roster row but tombstones, hidden ones included */
    driver_stanza_cb pending;    /* each pending subscription request */
    driver_stanza_cb presence;   /* the last unavailable presence, if one is stored */
    driver_data_cb data;         /* each keyed-data row of the kinds below */
    const char *const *kinds;    /* NULL-ended list of kinds for data; NULL: none */
    void *ud;                    /* passed to each */
} driver_load_cb;

/* The scalar results of user_load. */
typedef struct driver_load {
    int64_t roster_ver;          /* the user's roster version */
    int64_t offline_count;       /* offline messages waiting */
} driver_load;

/* The scalar results of roster_since. */
typedef struct driver_since {
    int64_t ver;                 /* the user's current roster version */
    int complete;                /* 1: the callback saw the changes since the
                                    given version; 0: the full roster instead */
} driver_since;

typedef struct driver {
    const char *name;   /* value of storage.driver in the config */

    /* Open the database described by cfg ("storage" section). Returns a
     * handle owned by the caller (release with close), or NULL with a
     * message in err. Does not change the schema: call migrate next. */
    void *(*open)(const config_t *cfg, char *err, size_t errsz);
    /* Release the handle and set *db to NULL. Accepts NULL. */
    void (*close)(void **db);
    /* Apply the numbered migrations the database has not seen yet, all in
     * one transaction that excludes other writers, so processes starting
     * at once on the same database apply each migration exactly once.
     * Stores the resulting version in *version (may be NULL). Fails if the
     * database is newer than this program knows. */
    driver_status (*migrate)(void *db, int *version);
    /* Text about the last DRIVER_ERROR on this handle (never NULL). */
    const char *(*last_error)(void *db);

    /* Fill *out with the account jid. DRIVER_NOT_FOUND if absent. */
    driver_status (*user_get)(void *db, const char *jid, driver_user *out);
    /* Create the account with the SCRAM records in u (u->created is set
     * by the driver when 0). DRIVER_EXISTS if present. */
    driver_status (*user_create)(void *db, const char *jid, const driver_user *u);
    /* Replace all SCRAM records of the account with those in u.
     * DRIVER_NOT_FOUND if absent. */
    driver_status (*user_set_scram)(void *db, const char *jid, const driver_user *u);
    /* Delete the account and everything it owns. DRIVER_NOT_FOUND if
     * absent. */
    driver_status (*user_delete)(void *db, const char *jid);
    /* Call cb for each account of domain (NULL: every account), sorted. */
    driver_status (*user_list)(void *db, const char *domain, driver_list_cb cb, void *ud);

    /* Everything the session manager loads for a user, read in one
     * transaction: the roster version, the callbacks for the roster rows
     * (by contact), the pending requests (oldest first) and the last
     * presence, the number of offline messages, and the keyed-data rows of
     * each kind in cb->kinds (kind after kind in the list's order, each
     * kind's rows by key as data_list gives them; a kind listed twice is
     * reported twice). DRIVER_NOT_FOUND if the account does not exist (no
     * callback is called then). */
    driver_status (*user_load)(void *db, const char *jid, const driver_load_cb *cb, driver_load *out);
    /* Insert or replace the roster row item->contact with item's state
     * (item->deleted and item->ver are ignored; a tombstone comes back to
     * life). bump != 0: increment the user's roster version and stamp the
     * row with it; bump == 0: the row keeps its version (0 when new). With
     * max >= 0, making a row visible that was not (new, hidden or
     * tombstone) when the user already has max visible rows is
     * DRIVER_LIMIT. *ver receives the user's roster version afterwards.
     * DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*roster_put)(void *db, const char *jid, const driver_item *item, int bump,
                                int64_t max, int64_t *ver);
    /* Remove the row of contact. A visible row becomes a tombstone at a
     * bumped version; a hidden row is deleted, or becomes a tombstone at
     * its own version when that is not 0 (it records a removal that older
     * clients must still be told about); the version is not bumped then.
     * *ver receives the user's roster version afterwards. DRIVER_NOT_FOUND
     * if there is no row, or only a tombstone. */
    driver_status (*roster_del)(void *db, const char *jid, const char *contact, int64_t *ver);
    /* The changes after roster version since, in one read transaction,
     * ordered by (ver, contact): visible rows with ver > since, and, as
     * rows with deleted = 1, tombstones and hidden rows with ver > since
     * (a row that went hidden left the roster the client sees). When since
     * is above the current version or below the user's pruned version,
     * out->complete is 0 and cb gets the full visible roster (by contact)
     * instead. DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*roster_since)(void *db, const char *jid, int64_t since, driver_item_cb cb, void *ud,
                                  driver_since *out);
    /* Store or replace the pending subscription request of st->contact.
     * DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*pending_put)(void *db, const char *jid, const driver_stanza *st);
    /* Forget the pending request of contact; DRIVER_OK if there was none. */
    driver_status (*pending_del)(void *db, const char *jid, const char *contact);
    /* Store or replace the user's last unavailable presence (st->contact is
     * ignored). DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*presence_last)(void *db, const char *jid, const driver_stanza *st);
    /* Append an offline message (st->contact is ignored) unless max >= 0
     * and the user already has max or more (DRIVER_LIMIT). *count receives the number
     * stored afterwards. DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*offline_put)(void *db, const char *jid, const driver_stanza *st, int64_t max,
                                 int64_t *count);
    /* Call cb for each offline message in arrival order and delete them
     * all, in one transaction (if cb stops, nothing is deleted).
     * DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*offline_pop)(void *db, const char *jid, driver_stanza_cb cb, void *ud);

    /* Keyed data: one text value per (jid, kind, key), for the features
     * that store a document or a list per user (vCard, private XML,
     * blocking and privacy lists). Kinds, keys and values are checked by
     * the caller and stored as given; keys compare byte for byte. */

    /* Call cb once with the row (kind, key) if there is one; DRIVER_OK
     * either way, so the caller learns "found" from the callback.
     * DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*data_get)(void *db, const char *jid, const char *kind, const char *key,
                              driver_data_cb cb, void *ud);
    /* Insert or replace the row (kind, key) with value, stamped now. With
     * max_rows > 0, adding a new key when the user already has max_rows
     * rows of that kind is DRIVER_LIMIT (replacing a key is always
     * allowed); max_rows 0: no limit. DRIVER_NOT_FOUND if the account does
     * not exist. */
    driver_status (*data_put)(void *db, const char *jid, const char *kind, const char *key,
                              const char *value, int64_t max_rows);
    /* Delete the row (kind, key), or every row of kind when key is NULL;
     * DRIVER_OK also when there was none. DRIVER_NOT_FOUND if the account
     * does not exist. */
    driver_status (*data_del)(void *db, const char *jid, const char *kind, const char *key);
    /* Call cb for each row of kind, in ascending byte order of key.
     * DRIVER_NOT_FOUND if the account does not exist. */
    driver_status (*data_list)(void *db, const char *jid, const char *kind, driver_data_cb cb, void *ud);
} driver_t;

/* The drivers. driver_sqlite reads storage.path (relative to the config
 * file's directory unless absolute; ":memory:" for a private in-memory
 * database). */
extern const driver_t driver_sqlite;

/* The driver named name ("sqlite"), or NULL if there is none. */
const driver_t *driver_find(const char *name);

#endif
