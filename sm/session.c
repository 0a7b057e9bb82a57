/*
 * session.c - users and sessions of this shard, mirrored into Redis (see
 * session.h).
 *
 * sm->users maps a bare JID to its sm_user; each user keeps its sessions
 * in a short singly linked list (a user has at most
 * sm.max_sessions_per_user of them, so lookups by resource are linear).
 * Every change is written through to Redis when it is up; when it comes
 * back after an outage, sm_session_resync rewrites everything.
 */
#include "session.h"
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "mod.h"
#include "sm_redis.h"

sm_user *sm_user_find(sm_t *sm, const char *bare)
{
    return hmap_get(&sm->users, bare);
}

sm_user *sm_user_open(sm_t *sm, const char *bare)
{
    sm_user *u = sm_user_find(sm, bare);
    if (u) return u;
    u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->bare = strdup(bare);
    if (!u->bare || hmap_put(&sm->users, bare, u) < 0) {
        free(u->bare);
        free(u);
        return NULL;
    }
    sm_redis_sess_clear(sm->redis, bare);
    return u;
}

void sm_user_release(sm_t *sm, sm_user **up)
{
    sm_user *u = *up;
    if (!u || u->sessions || u->busy || u->load == SM_LOADING || u->work_head) return;
    sm_load_clear(u);
    hmap_del(&sm->users, u->bare);
    free(u->bare);
    free(u);
    *up = NULL;
}

sm_session *sm_session_find(const sm_user *u, const char *resource)
{
    for (sm_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (strcmp(s->resource, resource) == 0) return s;
    return NULL;
}

sm_session *sm_session_find_jid(sm_t *sm, const jid_t *j)
{
    char bare[SM_JID_MAX];
    if (!jid_has_resource(j) || jid_bare(j, bare, sizeof bare) < 0) return NULL;
    return sm_session_find(sm_user_find(sm, bare), j->resource);
}

/* The Redis value of a session (malloc'd JSON), or NULL. */
static char *session_json(const sm_session *s)
{
    json_t *o = json_pack("{s:s, s:I, s:i, s:b}", "c2s", s->c2s, "conn", (json_int_t)s->conn,
                          "prio", s->prio, "avail", s->avail);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

void sm_session_save(sm_t *sm, const sm_session *s)
{
    if (!sm_redis_up(sm->redis)) return;
    char *v = session_json(s);
    if (v) sm_redis_sess_set(sm->redis, s->user->bare, s->resource, v);
    free(v);
}

static void session_free(sm_session *s)
{
    xml_node_free(&s->presence);
    free(s->resource);
    free(s->full);
    free(s->privacy_active);
    free(s->caps);
    free(s);
}

sm_session *sm_session_add(sm_t *sm, sm_user *u, const char *resource, const char *c2s, uint64_t conn)
{
    sm_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->user = u;
    s->resource = strdup(resource);
    if (s->resource && asprintf(&s->full, "%s/%s", u->bare, resource) < 0) s->full = NULL;
    if (!s->resource || !s->full) {
        session_free(s);
        return NULL;
    }
    snprintf(s->c2s, sizeof s->c2s, "%s", c2s);
    s->conn = conn;
    s->next = u->sessions;
    u->sessions = s;
    u->nsessions++;
    sm->nsessions++;
    sm_session_save(sm, s);
    log_msg(LOG_INFO, sm->trace, "session started jid=%s c2s=%s conn=%llu", s->full, s->c2s,
            (unsigned long long)s->conn);
    sm_mod_session_start(sm, s);
    return s;
}

/* Take s out of its user's list. */
static void session_unlink(sm_session *s)
{
    for (sm_session **pp = &s->user->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            s->user->nsessions--;
            return;
        }
    }
}

void sm_session_end(sm_t *sm, sm_session *s, const char *reason)
{
    sm_mod_session_end(sm, s, reason);
    session_unlink(s);
    sm->nsessions--;
    sm_redis_sess_del(sm->redis, s->user->bare, s->resource);
    log_msg(LOG_INFO, sm->trace, "session ended jid=%s reason=%s", s->full, reason);
    session_free(s);
}

void sm_session_resync(sm_t *sm)
{
    size_t pos = 0;
    void *v;
    unsigned n = 0;
    while (hmap_next(&sm->users, &pos, NULL, &v)) {
        sm_user *u = v;
        sm_redis_sess_clear(sm->redis, u->bare);
        for (sm_session *s = u->sessions; s; s = s->next, n++) sm_session_save(sm, s);
    }
    if (n) log_info("redis: rewrote %u sessions", n);
}

int sm_session_is_stale(sm_t *sm, const char *bare)
{
    return sm_owns(sm, bare) && !sm_user_find(sm, bare);
}

void sm_session_free_all(sm_t *sm)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&sm->users, &pos, NULL, &v)) {
        sm_user *u = v;
        while (u->sessions) {
            sm_session *s = u->sessions;
            u->sessions = s->next;
            session_free(s);
        }
        sm_load_clear(u);
        free(u->bare);
        free(u);
    }
    hmap_free(&sm->users);
    sm->nsessions = 0;
}
