/*
 * migrations/sqlite.c - the numbered schema migrations of the SQLite
 * driver.
 *
 * Entry i is migration i + 1. Entries are append-only: a released
 * migration is never edited, a schema change is a new entry at the end.
 * driver_sqlite_migrate applies the entries a database has not seen yet,
 * inside one BEGIN IMMEDIATE transaction, and records each applied number
 * in the schema_version table.
 */
#include "migrations.h"

static const char *const migrations_sqlite_list[] = {
    /* 1: accounts and their SCRAM records. No cleartext password, ever. */
    "CREATE TABLE users ("
    "  jid TEXT PRIMARY KEY NOT NULL,"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE TABLE user_scram ("
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  mech TEXT NOT NULL CHECK (mech IN ('SCRAM-SHA-1', 'SCRAM-SHA-256')),"
    "  salt BLOB NOT NULL,"
    "  iterations INTEGER NOT NULL CHECK (iterations > 0),"
    "  stored_key BLOB NOT NULL,"
    "  server_key BLOB NOT NULL,"
    "  PRIMARY KEY (jid, mech)"
    ");",
};

const char *const *migrations_sqlite(int *count)
{
    *count = (int)(sizeof migrations_sqlite_list / sizeof migrations_sqlite_list[0]);
    return migrations_sqlite_list;
}
