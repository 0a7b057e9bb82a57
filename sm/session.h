/*
 * session.h - the shard's table of users and sessions, and its copy in
 * Redis (sess:{bare} hash: resource -> {"c2s","conn","prio","avail"}).
 *
 * A user record exists while the user has sessions, plus the moment
 * between sm_user_open and the first sm_session_add; callers that open a
 * user and end up adding nothing call sm_user_release.
 */
#ifndef XMPP_SM_SESSION_H
#define XMPP_SM_SESSION_H

#include "sm.h"

/* The record of a bare JID, or NULL if it has no session here. */
sm_user *sm_user_find(sm_t *sm, const char *bare);
/* Find or create the record. A new record also clears the user's Redis
 * key, so sessions of an earlier run cannot linger. NULL on allocation
 * failure. */
sm_user *sm_user_open(sm_t *sm, const char *bare);
/* Free the record if it has no sessions left (then *up is NULL). */
void sm_user_release(sm_t *sm, sm_user **up);

/* The session bound to resource, or NULL. */
sm_session *sm_session_find(const sm_user *u, const char *resource);
/* The session of a full JID, or NULL (also when j has no resource). */
sm_session *sm_session_find_jid(sm_t *sm, const jid_t *j);
/* Record a new session (the caller made sure the resource is free),
 * write it to Redis, log it and run the session_start hooks. NULL on
 * allocation failure. */
sm_session *sm_session_add(sm_t *sm, sm_user *u, const char *resource, const char *c2s, uint64_t conn);
/* Run the session_end hooks, remove the session from the table and from
 * Redis, log `session ended jid=... reason=...` and free it. The user
 * record stays (see sm_user_release). */
void sm_session_end(sm_t *sm, sm_session *s, const char *reason);
/* Write the session's current state to Redis (after presence changes). */
void sm_session_save(sm_t *sm, const sm_session *s);

/* Rewrite every user's Redis key from the table (after a reconnection). */
void sm_session_resync(sm_t *sm);
/* Non-zero if a sess:{bare} key found in Redis belongs to this shard's
 * slots but the user has no session here. */
int sm_session_is_stale(sm_t *sm, const char *bare);
/* Free the whole table without hooks, Redis writes or logs (shutdown). */
void sm_session_free_all(sm_t *sm);

#endif
