/*
 * migrations.h - numbered schema migrations, one list per driver.
 *
 * Each list is an array of SQL scripts; script i brings the schema from
 * version i to version i + 1. The arrays are static and never freed.
 */
#ifndef XMPP_STORAGE_MIGRATIONS_H
#define XMPP_STORAGE_MIGRATIONS_H

/* The SQLite migrations; *count receives their number. */
const char *const *migrations_sqlite(int *count);

#endif
