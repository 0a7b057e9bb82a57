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
    DRIVER_EXISTS = -3      /* the account already exists */
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
} driver_t;

/* The drivers. driver_sqlite reads storage.path (relative to the config
 * file's directory unless absolute; ":memory:" for a private in-memory
 * database). */
extern const driver_t driver_sqlite;

/* The driver named name ("sqlite"), or NULL if there is none. */
const driver_t *driver_find(const char *name);

#endif
