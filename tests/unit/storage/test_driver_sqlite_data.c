/*
 * test_driver_sqlite_data.c - tests of each user's data in the SQLite
 * driver (storage-workers/driver_sqlite_data.c): migration 2 on an
 * existing version-1 database, rosters (versions, tombstones, hidden rows,
 * changes since a version, limits), pending requests, last presence,
 * offline messages, user_load, and the cascade of an account's data on
 * delete. Each test works in its own temporary directory
 * (sqlite_fixture.h).
 */
#include "sqlite_fixture.h"

/* Collects what a driver callback reports, as text joined by ','. */
typedef struct acc {
    char text[2048];
    int n;           /* rows seen */
    int stop_after;  /* return -1 after this many (0 = never) */
} acc;

static void acc_add(acc *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void acc_add(acc *a, const char *fmt, ...)
{
    size_t len = strlen(a->text);
    va_list ap;
    if (len && len + 1 < sizeof a->text) a->text[len++] = ',', a->text[len] = '\0';
    va_start(ap, fmt);
    vsnprintf(a->text + len, sizeof a->text - len, fmt, ap);
    va_end(ap);
    a->n++;
}

/* Items as "contact=ver" plus flags: x deleted, h hidden, a ask, i
 * pending_in, p approved, then ":sub" unless none, "/name" if named and
 * the groups text unless "[]". */
static int item_cb(void *ud, const driver_item *it)
{
    acc *a = ud;
    char extra[600] = "";
    if (it->sub != DRIVER_SUB_NONE) snprintf(extra, sizeof extra, ":%s", driver_sub_name(it->sub));
    if (it->name) snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "/%s", it->name);
    if (strcmp(it->groups, "[]") != 0) snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s", it->groups);
    acc_add(a, "%s=%lld%s%s%s%s%s%s", it->contact, (long long)it->ver, it->deleted ? "x" : "", it->hidden ? "h" : "",
            it->ask ? "a" : "", it->pending_in ? "i" : "", it->approved ? "p" : "", extra);
    return a->stop_after && a->n >= a->stop_after ? -1 : 0;
}

/* Stanzas as "[contact:]stanza@stamp". */
static int stanza_cb(void *ud, const driver_stanza *st)
{
    acc *a = ud;
    acc_add(a, "%s%s%s@%lld", st->contact ? st->contact : "", st->contact ? ":" : "", st->stanza,
            (long long)st->stamp);
    return a->stop_after && a->n >= a->stop_after ? -1 : 0;
}

static driver_item mk_item(const char *contact, driver_sub sub, int hidden)
{
    driver_item it;
    memset(&it, 0, sizeof it);
    it.contact = contact;
    it.groups = "[]";
    it.sub = sub;
    it.hidden = hidden;
    return it;
}

/* The roster rows of jid as roster_since(since) reports them. */
static const char *since_text(void *db, const char *jid, int64_t since, driver_since *out)
{
    static acc a;
    memset(&a, 0, sizeof a);
    if (drv->roster_since(db, jid, since, item_cb, &a, out) != DRIVER_OK) return "(error)";
    return a.text;
}

/* An account without SCRAM records. */

static void test_migrate_v1_to_v2(void)
{
    fresh_dir();
    /* a database exactly as the previous release left it */
    int count = 0;
    const char *const *list = migrations_sqlite(&count);
    CHECK(count >= 2);
    sqlite3 *conn = NULL;
    CHECK_INT(sqlite3_open_v2(dbpath, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, "PRAGMA journal_mode=WAL;"
                           "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL);"
                           "INSERT INTO schema_version VALUES (1, 1000);", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, list[0], NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_exec(conn, "INSERT INTO users VALUES ('old@localhost', 1234);"
                           "INSERT INTO user_scram VALUES ('old@localhost', 'SCRAM-SHA-256', X'0102', 4096,"
                           " zeroblob(32), zeroblob(32));", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(conn);
    CHECK_INT(raw_int("SELECT count(*) FROM pragma_table_info('users')"), 2);

    void *db = open_db(0);
    int v = 0;
    CHECK_INT(drv->migrate(db, &v), DRIVER_OK);
    CHECK_INT(v, SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT applied FROM schema_version WHERE version = 1"), 1000);
    CHECK_INT(raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                      " ('roster', 'roster_pending', 'last_presence', 'offline_messages')"), 4);
    /* the old account is intact and has the new per-user state */
    driver_user got;
    CHECK_INT(drv->user_get(db, "old@localhost", &got), DRIVER_OK);
    CHECK_INT(got.created, 1234);
    CHECK_INT(got.has, DRIVER_HAS(SCRAM_SHA256));
    CHECK_INT(raw_int("SELECT roster_ver + roster_pruned_ver FROM users WHERE jid = 'old@localhost'"), 0);
    driver_load l;
    driver_load_cb cb = {.item = item_cb, .pending = stanza_cb, .presence = stanza_cb};
    acc a;
    memset(&a, 0, sizeof a);
    cb.ud = &a;
    CHECK_INT(drv->user_load(db, "old@localhost", &cb, &l), DRIVER_OK);
    CHECK_INT(l.roster_ver, 0);
    CHECK_INT(l.offline_count, 0);
    CHECK_INT(a.n, 0);
    driver_item it = mk_item("friend@localhost", DRIVER_SUB_NONE, 0);
    int64_t ver = -1;
    CHECK_INT(drv->roster_put(db, "old@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 1);
    /* a new account after the migration gets the defaults too */
    add_user(db, "new@localhost");
    CHECK_INT(raw_int("SELECT roster_ver FROM users WHERE jid = 'new@localhost'"), 0);
    drv->close(&db);
    /* and running again changes nothing */
    db = open_db(1);
    CHECK_INT(raw_int("SELECT count(*) FROM schema_version"), SCHEMA_VERSION);
    CHECK_INT(raw_int("SELECT count(*) FROM roster"), 1);
    drv->close(&db);
    cleanup_dir();
}

static void test_roster_put_versions(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_since since;
    int64_t ver = -1;
    driver_item it = mk_item("bob@localhost", DRIVER_SUB_NONE, 0);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_NOT_FOUND);
    add_user(db, "alice@localhost");
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 1);
    it.name = "Bob";
    it.groups = "[\"Friends\",\"Work\"]";
    it.sub = DRIVER_SUB_TO;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 2);
    CHECK_STR(since_text(db, "alice@localhost", 0, &since), "bob@localhost=2:to/Bob[\"Friends\",\"Work\"]");
    /* bump = 0 keeps the row's version and the user's */
    it.pending_in = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 0, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 2);
    CHECK_STR(since_text(db, "alice@localhost", 0, &since), "bob@localhost=2i:to/Bob[\"Friends\",\"Work\"]");
    /* a new row without bump is at version 0 */
    driver_item h = mk_item("stranger.example", DRIVER_SUB_NONE, 1);
    h.pending_in = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &h, 0, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 2);
    CHECK_INT(raw_int("SELECT ver FROM roster WHERE contact = 'stranger.example'"), 0);
    CHECK_INT(raw_int("SELECT roster_ver FROM users WHERE jid = 'alice@localhost'"), 2);
    /* the hidden row is not a change a client can see */
    CHECK_STR(since_text(db, "alice@localhost", 0, &since), "bob@localhost=2i:to/Bob[\"Friends\",\"Work\"]");
    /* name back to none */
    it.name = NULL;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(raw_int("SELECT name IS NULL FROM roster WHERE contact = 'bob@localhost'"), 1);
    /* versions are per user */
    add_user(db, "carol@localhost");
    CHECK_INT(drv->roster_put(db, "carol@localhost", &it, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 1);
    /* a bad item never reaches the database */
    it.groups = NULL;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_ERROR);
    it.groups = "[]";
    it.sub = (driver_sub)7;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &it, 1, -1, &ver), DRIVER_ERROR);
    CHECK_INT(raw_int("SELECT roster_ver FROM users WHERE jid = 'alice@localhost'"), 3);
    drv->close(&db);
    cleanup_dir();
}

static void test_roster_limit(void)
{
    fresh_dir();
    void *db = open_db(1);
    int64_t ver = -1;
    add_user(db, "alice@localhost");
    driver_item a = mk_item("a@localhost", DRIVER_SUB_NONE, 0), b = mk_item("b@localhost", DRIVER_SUB_NONE, 0),
                c = mk_item("c@localhost", DRIVER_SUB_NONE, 0);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &a, 1, 2, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &b, 1, 2, &ver), DRIVER_OK);
    CHECK_INT(ver, 2);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, 2, &ver), DRIVER_LIMIT);
    CHECK_INT(raw_int("SELECT count(*) FROM roster WHERE contact = 'c@localhost'"), 0);
    CHECK_INT(raw_int("SELECT roster_ver FROM users"), 2);   /* rolled back */
    /* updating a visible row is fine at the limit, and so is a lower limit */
    a.sub = DRIVER_SUB_FROM;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &a, 1, 2, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &a, 1, 1, &ver), DRIVER_OK);
    CHECK_INT(ver, 4);
    /* hidden rows do not count and may always be stored */
    c.hidden = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 0, 2, &ver), DRIVER_OK);
    /* but making one visible is adding a row */
    c.hidden = 0;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, 2, &ver), DRIVER_LIMIT);
    /* no limit */
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(ver, 5);
    /* tombstones do not count; reviving one counts */
    CHECK_INT(drv->roster_del(db, "alice@localhost", "c@localhost", &ver), DRIVER_OK);
    CHECK_INT(drv->roster_del(db, "alice@localhost", "b@localhost", &ver), DRIVER_OK);
    CHECK_INT(ver, 7);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, 2, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &b, 1, 2, &ver), DRIVER_LIMIT);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &b, 1, 0, &ver), DRIVER_LIMIT);
    drv->close(&db);
    cleanup_dir();
}

static void test_roster_del_and_since(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_since since;
    int64_t ver = -1;
    CHECK_INT(drv->roster_del(db, "alice@localhost", "b@localhost", &ver), DRIVER_NOT_FOUND);
    CHECK_INT(drv->roster_since(db, "alice@localhost", 0, item_cb, NULL, &since), DRIVER_NOT_FOUND);
    add_user(db, "alice@localhost");
    CHECK_STR(since_text(db, "alice@localhost", 0, &since), "");
    CHECK_INT(since.ver, 0);
    CHECK_INT(since.complete, 1);
    driver_item a = mk_item("a@localhost", DRIVER_SUB_BOTH, 0), b = mk_item("b@localhost", DRIVER_SUB_NONE, 0),
                c = mk_item("c@localhost", DRIVER_SUB_FROM, 0);
    b.ask = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &a, 1, -1, &ver), DRIVER_OK);   /* 1 */
    CHECK_INT(drv->roster_put(db, "alice@localhost", &b, 1, -1, &ver), DRIVER_OK);   /* 2 */
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, -1, &ver), DRIVER_OK);   /* 3 */
    CHECK_INT(drv->roster_del(db, "alice@localhost", "b@localhost", &ver), DRIVER_OK);   /* 4 */
    CHECK_INT(ver, 4);
    a.approved = 1;
    a.sub = DRIVER_SUB_TO;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &a, 1, -1, &ver), DRIVER_OK);   /* 5 */
    /* the tombstone is cleared of state and is not listed by user_load */
    CHECK_INT(raw_int("SELECT deleted + ask + (sub = 'none') + (name IS NULL) FROM roster"
                      " WHERE contact = 'b@localhost'"), 3);
    CHECK_STR(since_text(db, "alice@localhost", 0, &since), "c@localhost=3:from,b@localhost=4x,a@localhost=5p:to");
    CHECK_INT(since.ver, 5);
    CHECK_INT(since.complete, 1);
    CHECK_STR(since_text(db, "alice@localhost", 3, &since), "b@localhost=4x,a@localhost=5p:to");
    CHECK_STR(since_text(db, "alice@localhost", 4, &since), "a@localhost=5p:to");
    CHECK_STR(since_text(db, "alice@localhost", 5, &since), "");
    CHECK_INT(since.complete, 1);
    /* a version from the future: the full visible roster */
    CHECK_STR(since_text(db, "alice@localhost", 6, &since), "a@localhost=5p:to,c@localhost=3:from");
    CHECK_INT(since.complete, 0);
    CHECK_INT(since.ver, 5);
    /* a tombstone cannot be deleted again */
    CHECK_INT(drv->roster_del(db, "alice@localhost", "b@localhost", &ver), DRIVER_NOT_FOUND);
    CHECK_INT(drv->roster_del(db, "alice@localhost", "zz@localhost", &ver), DRIVER_NOT_FOUND);
    CHECK_INT(raw_int("SELECT roster_ver FROM users"), 5);
    /* reviving a tombstone */
    b.ask = 0;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &b, 1, -1, &ver), DRIVER_OK);   /* 6 */
    CHECK_STR(since_text(db, "alice@localhost", 4, &since), "a@localhost=5p:to,b@localhost=6");
    /* a row that goes hidden left the client's roster: a removal */
    c.hidden = 1;
    c.sub = DRIVER_SUB_NONE;
    c.pending_in = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &c, 1, -1, &ver), DRIVER_OK);   /* 7 */
    CHECK_STR(since_text(db, "alice@localhost", 6, &since), "c@localhost=7x");
    /* deleting it keeps the removal (it is at a version > 0), without a bump */
    CHECK_INT(drv->roster_del(db, "alice@localhost", "c@localhost", &ver), DRIVER_OK);
    CHECK_INT(ver, 7);
    CHECK_STR(since_text(db, "alice@localhost", 6, &since), "c@localhost=7x");
    CHECK_INT(raw_int("SELECT deleted FROM roster WHERE contact = 'c@localhost'"), 1);
    /* a hidden row that was never visible is simply deleted */
    driver_item h = mk_item("h@localhost", DRIVER_SUB_NONE, 1);
    h.approved = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &h, 0, -1, &ver), DRIVER_OK);
    CHECK_STR(since_text(db, "alice@localhost", 0, &since),
              "a@localhost=5p:to,b@localhost=6,c@localhost=7x");
    CHECK_INT(drv->roster_del(db, "alice@localhost", "h@localhost", &ver), DRIVER_OK);
    CHECK_INT(ver, 7);
    CHECK_INT(raw_int("SELECT count(*) FROM roster WHERE contact = 'h@localhost'"), 0);
    /* pruned tombstones: a client older than the pruned version gets the full roster */
    CHECK_INT(raw_exec("UPDATE users SET roster_pruned_ver = 4 WHERE jid = 'alice@localhost'"), 0);
    CHECK_STR(since_text(db, "alice@localhost", 3, &since), "a@localhost=5p:to,b@localhost=6");
    CHECK_INT(since.complete, 0);
    CHECK_STR(since_text(db, "alice@localhost", 4, &since), "a@localhost=5p:to,b@localhost=6,c@localhost=7x");
    CHECK_INT(since.complete, 1);
    /* a callback that stops is an error */
    acc a2;
    memset(&a2, 0, sizeof a2);
    a2.stop_after = 1;
    CHECK_INT(drv->roster_since(db, "alice@localhost", 0, item_cb, &a2, &since), DRIVER_ERROR);
    CHECK(strstr(drv->last_error(db), "stopped") != NULL);
    CHECK_STR(since_text(db, "alice@localhost", 6, &since), "c@localhost=7x");   /* still usable */
    drv->close(&db);
    cleanup_dir();
}

static void test_pending_presence(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_stanza p = {"bob@localhost", "<presence type='subscribe'/>", 200};
    CHECK_INT(drv->pending_put(db, "alice@localhost", &p), DRIVER_NOT_FOUND);
    CHECK_INT(drv->presence_last(db, "alice@localhost", &p), DRIVER_NOT_FOUND);
    CHECK_INT(drv->pending_del(db, "alice@localhost", "bob@localhost"), DRIVER_OK);
    add_user(db, "alice@localhost");
    CHECK_INT(drv->pending_put(db, "alice@localhost", &p), DRIVER_OK);
    driver_stanza q = {"carol.example", "<presence type='subscribe'><status>hi</status></presence>", 100};
    CHECK_INT(drv->pending_put(db, "alice@localhost", &q), DRIVER_OK);
    p.stanza = "<presence type='subscribe'><nick xmlns='http://jabber.org/protocol/nick'>B</nick></presence>";
    p.stamp = 0;   /* now */
    CHECK_INT(drv->pending_put(db, "alice@localhost", &p), DRIVER_OK);   /* replaces */
    CHECK_INT(raw_int("SELECT count(*) FROM roster_pending"), 2);
    CHECK(raw_int("SELECT stamp FROM roster_pending WHERE contact = 'bob@localhost'") > 1600000000);
    driver_stanza pres = {NULL, "<presence type='unavailable'/>", 300};
    CHECK_INT(drv->presence_last(db, "alice@localhost", &pres), DRIVER_OK);
    pres.stanza = "<presence type='unavailable'><status>bye</status></presence>";
    CHECK_INT(drv->presence_last(db, "alice@localhost", &pres), DRIVER_OK);
    CHECK_INT(raw_int("SELECT count(*) FROM last_presence"), 1);

    driver_load l;
    acc pend, last;
    memset(&pend, 0, sizeof pend);
    memset(&last, 0, sizeof last);
    driver_load_cb cb = {.pending = stanza_cb, .ud = &pend};
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK(strncmp(pend.text, "carol.example:<presence type='subscribe'><status>hi</status></presence>@100,"
                  "bob@localhost:<presence type='subscribe'><nick", 110) == 0);
    cb.pending = NULL;
    cb.presence = stanza_cb;
    cb.ud = &last;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_STR(last.text, "<presence type='unavailable'><status>bye</status></presence>@300");
    CHECK_INT(drv->pending_del(db, "alice@localhost", "bob@localhost"), DRIVER_OK);
    CHECK_INT(drv->pending_del(db, "alice@localhost", "bob@localhost"), DRIVER_OK);
    CHECK_INT(raw_int("SELECT count(*) FROM roster_pending"), 1);
    drv->close(&db);
    cleanup_dir();
}

static void test_offline(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_stanza m = {NULL, "<message>1</message>", 0};
    int64_t n = -1;
    acc a;
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 10, &n), DRIVER_NOT_FOUND);
    CHECK_INT(drv->offline_pop(db, "alice@localhost", stanza_cb, &a), DRIVER_NOT_FOUND);
    add_user(db, "alice@localhost");
    add_user(db, "bob@localhost");
    CHECK_INT(drv->offline_pop(db, "alice@localhost", stanza_cb, &a), DRIVER_OK);
    CHECK_INT(a.n, 0);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 3, &n), DRIVER_OK);
    CHECK_INT(n, 1);
    CHECK(raw_int("SELECT stamp FROM offline_messages") > 1600000000);
    m.stanza = "<message>2</message>";
    m.stamp = 50;
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 3, &n), DRIVER_OK);
    m.stanza = "<message>b</message>";
    CHECK_INT(drv->offline_put(db, "bob@localhost", &m, 3, &n), DRIVER_OK);
    CHECK_INT(n, 1);
    m.stanza = "<message>3</message>";
    m.stamp = 40;   /* arrival order, not stamp order */
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 3, &n), DRIVER_OK);
    CHECK_INT(n, 3);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 3, &n), DRIVER_LIMIT);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 0, &n), DRIVER_LIMIT);
    CHECK_INT(raw_int("SELECT count(*) FROM offline_messages WHERE jid = 'alice@localhost'"), 3);
    driver_load l;
    driver_load_cb cb = {.item = NULL};
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    CHECK_INT(l.offline_count, 3);
    /* a pop whose callback stops deletes nothing */
    a.stop_after = 2;
    CHECK_INT(drv->offline_pop(db, "alice@localhost", stanza_cb, &a), DRIVER_ERROR);
    CHECK_INT(raw_int("SELECT count(*) FROM offline_messages WHERE jid = 'alice@localhost'"), 3);
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->offline_pop(db, "alice@localhost", stanza_cb, &a), DRIVER_OK);
    CHECK(strncmp(a.text, "<message>1</message>@", 21) == 0);
    CHECK(strstr(a.text, ",<message>2</message>@50,<message>3</message>@40") != NULL);
    CHECK_INT(a.n, 3);
    CHECK_INT(raw_int("SELECT count(*) FROM offline_messages WHERE jid = 'alice@localhost'"), 0);
    CHECK_INT(raw_int("SELECT count(*) FROM offline_messages WHERE jid = 'bob@localhost'"), 1);
    memset(&a, 0, sizeof a);
    CHECK_INT(drv->offline_pop(db, "alice@localhost", stanza_cb, &a), DRIVER_OK);
    CHECK_INT(a.n, 0);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 3, &n), DRIVER_OK);
    CHECK_INT(n, 1);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, -1, &n), DRIVER_OK);   /* no limit */
    drv->close(&db);
    cleanup_dir();
}

static void test_user_load(void)
{
    fresh_dir();
    void *db = open_db(1);
    driver_load l = {7, 7};
    acc a;
    memset(&a, 0, sizeof a);
    driver_load_cb cb = {.item = item_cb, .pending = stanza_cb, .presence = stanza_cb, .ud = &a};
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_NOT_FOUND);
    CHECK_INT(a.n, 0);
    CHECK_INT(l.roster_ver + l.offline_count, 0);
    add_user(db, "alice@localhost");
    int64_t ver, n;
    driver_item v = mk_item("v@localhost", DRIVER_SUB_BOTH, 0), h = mk_item("h@localhost", DRIVER_SUB_NONE, 1),
                t = mk_item("t@localhost", DRIVER_SUB_NONE, 0);
    v.name = "Vee";
    h.pending_in = 1;
    CHECK_INT(drv->roster_put(db, "alice@localhost", &v, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &h, 0, -1, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_put(db, "alice@localhost", &t, 1, -1, &ver), DRIVER_OK);
    CHECK_INT(drv->roster_del(db, "alice@localhost", "t@localhost", &ver), DRIVER_OK);
    driver_stanza p = {"h@localhost", "<presence type='subscribe'/>", 10};
    CHECK_INT(drv->pending_put(db, "alice@localhost", &p), DRIVER_OK);
    driver_stanza m = {NULL, "<message/>", 20};
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 5, &n), DRIVER_OK);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 5, &n), DRIVER_OK);
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_OK);
    /* hidden rows are listed, tombstones are not; no presence stored yet */
    CHECK_STR(a.text, "h@localhost=0hi,v@localhost=1:both/Vee,h@localhost:<presence type='subscribe'/>@10");
    CHECK_INT(l.roster_ver, 3);
    CHECK_INT(l.offline_count, 2);
    /* a callback that stops: DRIVER_ERROR, no transaction left open */
    memset(&a, 0, sizeof a);
    a.stop_after = 1;
    CHECK_INT(drv->user_load(db, "alice@localhost", &cb, &l), DRIVER_ERROR);
    CHECK_INT(drv->offline_put(db, "alice@localhost", &m, 5, &n), DRIVER_OK);
    CHECK_INT(n, 3);
    drv->close(&db);
    cleanup_dir();
}

static void test_delete_cascades_all(void)
{
    fresh_dir();
    void *db = open_db(1);
    const char *users[] = {"gone@localhost", "kept@localhost"};
    for (int i = 0; i < 2; i++) {
        int64_t ver, n;
        driver_item it = mk_item("x@localhost", DRIVER_SUB_NONE, 0);
        driver_stanza st = {"y@localhost", "<presence/>", 0};
        add_user(db, users[i]);
        CHECK_INT(drv->roster_put(db, users[i], &it, 1, -1, &ver), DRIVER_OK);
        CHECK_INT(drv->roster_del(db, users[i], "x@localhost", &ver), DRIVER_OK);   /* a tombstone */
        it.contact = "z@localhost";
        CHECK_INT(drv->roster_put(db, users[i], &it, 1, -1, &ver), DRIVER_OK);
        CHECK_INT(drv->pending_put(db, users[i], &st), DRIVER_OK);
        CHECK_INT(drv->presence_last(db, users[i], &st), DRIVER_OK);
        CHECK_INT(drv->offline_put(db, users[i], &st, 10, &n), DRIVER_OK);
    }
    static const char *const tables[] = {"roster", "roster_pending", "last_presence", "offline_messages"};
    char sql[128];
    CHECK_INT(drv->user_delete(db, "gone@localhost"), DRIVER_OK);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE jid = 'gone@localhost'", tables[i]);
        CHECK_INT(raw_int(sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) > 0 FROM %s WHERE jid = 'kept@localhost'", tables[i]);
        CHECK_INT(raw_int(sql), 1);
    }
    /* a new account of the same name starts empty, at roster version 0 */
    add_user(db, "gone@localhost");
    driver_load l;
    acc a;
    memset(&a, 0, sizeof a);
    driver_load_cb cb = {.item = item_cb, .pending = stanza_cb, .presence = stanza_cb, .ud = &a};
    CHECK_INT(drv->user_load(db, "gone@localhost", &cb, &l), DRIVER_OK);
    CHECK_INT(a.n, 0);
    CHECK_INT(l.roster_ver, 0);
    CHECK_INT(l.offline_count, 0);
    drv->close(&db);
    cleanup_dir();
}

static void test_sub_names(void)
{
    CHECK_STR(driver_sub_name(DRIVER_SUB_NONE), "none");
    CHECK_STR(driver_sub_name(DRIVER_SUB_BOTH), "both");
    CHECK(driver_sub_name((driver_sub)4) == NULL);
    CHECK_INT(driver_sub_parse("to"), DRIVER_SUB_TO);
    CHECK_INT(driver_sub_parse("from"), DRIVER_SUB_FROM);
    CHECK_INT(driver_sub_parse("remove"), -1);
    CHECK_INT(driver_sub_parse("To"), -1);
    CHECK_INT(driver_sub_parse(NULL), -1);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    RUN(test_migrate_v1_to_v2);
    RUN(test_roster_put_versions);
    RUN(test_roster_limit);
    RUN(test_roster_del_and_since);
    RUN(test_pending_presence);
    RUN(test_offline);
    RUN(test_user_load);
    RUN(test_delete_cascades_all);
    RUN(test_sub_names);
    return TEST_RESULT();
}
