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

    /* 2: rosters (RFC 6121) with versions and tombstones, pending inbound
     * subscription requests, the last unavailable presence, offline
     * messages. Everything a user owns goes with the users row. */
    "ALTER TABLE users ADD COLUMN roster_ver INTEGER NOT NULL DEFAULT 0 CHECK (roster_ver >= 0);"
    "ALTER TABLE users ADD COLUMN roster_pruned_ver INTEGER NOT NULL DEFAULT 0"
    "  CHECK (roster_pruned_ver >= 0);"
    "CREATE TABLE roster ("
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  contact TEXT NOT NULL,"
    "  name TEXT,"
    "  groups TEXT NOT NULL DEFAULT '[]',"
    "  sub TEXT NOT NULL DEFAULT 'none' CHECK (sub IN ('none', 'to', 'from', 'both')),"
    "  ask INTEGER NOT NULL DEFAULT 0 CHECK (ask IN (0, 1)),"
    "  pending_in INTEGER NOT NULL DEFAULT 0 CHECK (pending_in IN (0, 1)),"
    "  approved INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),"
    "  hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),"
    "  ver INTEGER NOT NULL DEFAULT 0 CHECK (ver >= 0),"
    "  deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
    "  PRIMARY KEY (jid, contact)"
    ");"
    "CREATE INDEX roster_by_ver ON roster (jid, ver);"
    "CREATE TABLE roster_pending ("
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  contact TEXT NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL,"
    "  PRIMARY KEY (jid, contact)"
    ");"
    "CREATE TABLE last_presence ("
    "  jid TEXT PRIMARY KEY NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  stanza TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL"
    ");"
    "CREATE TABLE offline_messages ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  stanza TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL"
    ");"
    "CREATE INDEX offline_messages_by_jid ON offline_messages (jid, id);",

    /* 3: keyed per-user data (vCard, private XML storage, blocking and
     * privacy lists): one text value per (jid, kind, key). The primary
     * key's index serves the lookups by (jid, kind), in key order, and the
     * cascade from users. */
    "CREATE TABLE user_data ("
    "  jid TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL,"
    "  PRIMARY KEY (jid, kind, key)"
    ");",
};

const char *const *migrations_sqlite(int *count)
{
    *count = (int)(sizeof migrations_sqlite_list / sizeof migrations_sqlite_list[0]);
    return migrations_sqlite_list;
}
