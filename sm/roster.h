/*
 * roster.h - a loaded user's roster rows (sm_user.roster) as the roster
 * and subscription modules change them: the <item/> form, persistence
 * through the storage workers, roster pushes (RFC 6121 section 2.1.6) and
 * stored inbound subscription requests.
 *
 * Memory is authoritative and changes first; the storage write follows.
 * All writes for one user go to one worker in order, so the version the
 * store assigns to a bumping write is predictable (u->roster_ver + 1); the
 * reply is checked against it and a mismatch is logged.
 *
 * A row is either an item of the roster (hidden == 0) or a hidden row
 * that only keeps state for a contact the user has not added (an inbound
 * request from a stranger). A change the client can see (an item added or
 * removed, its name, groups, subscription, ask or approved) bumps the
 * roster version and is pushed; a change of pending-in alone is not
 * visible and does neither.
 */
#ifndef XMPP_SM_ROSTER_H
#define XMPP_SM_ROSTER_H

#include "sm.h"

/* Defaults and bounds of the sm.max_roster_* settings. */
#define SM_ROSTER_ITEMS_DEFAULT 1000
#define SM_ROSTER_ITEMS_LIMIT 100000
#define SM_ROSTER_TEXT_DEFAULT 1023     /* name and group bytes; also the storage limit */
#define SM_ROSTER_GROUPS_MAX 64         /* groups of one item (the storage limit) */

/* Non-zero if c is an item of the user's roster (not a hidden row). */
int sm_roster_visible(const sm_contact *c);
/* The SM_SUB_* bits u has with contact (0 when there is no row). */
unsigned sm_roster_sub(const sm_user *u, const char *contact);
/* Number of items (hidden rows not counted). */
size_t sm_roster_count(const sm_user *u);
/* A new hidden row for contact with no state, in u->roster (the caller
 * made sure there was none). NULL on allocation failure. */
sm_contact *sm_roster_add(sm_user *u, const char *contact);

/* The <item/> of c (jid, name, subscription, ask, approved, groups). NULL
 * on allocation failure. */
xml_node *sm_roster_item(const sm_contact *c);
/* <item jid='contact' subscription='remove'/>. */
xml_node *sm_roster_item_removed(const char *contact);

/* Write c to storage. bump != 0 (a visible change): c->ver and
 * u->roster_ver become the next version first. max > 0 makes the store
 * refuse a new item past max items. */
void sm_roster_store(sm_t *sm, sm_user *u, sm_contact *c, int bump, unsigned max);
/* Take c out of u->roster, free it and delete its row in storage. Returns
 * the new roster version if c was an item (the removal is a visible
 * change, to be pushed), else 0. */
unsigned long long sm_roster_delete(sm_t *sm, sm_user *u, sm_contact *c);

/* Push item (taken) with version ver to every session of u that asked for
 * the roster (held for those still waiting for a roster.since answer). */
void sm_roster_push(sm_t *sm, sm_user *u, xml_node *item, unsigned long long ver);
/* The push of item (taken) with version ver to session s; NULL on
 * allocation failure. */
xml_node *sm_roster_push_iq(const sm_session *s, xml_node *item, unsigned long long ver);
/* Free s's held pushes. */
void sm_roster_held_free(sm_session *s);

/* Keep st (a subscribe from contact) as u's pending request, in memory
 * and in storage; the first one stays when there is one already. */
void sm_roster_pending_put(sm_t *sm, sm_user *u, const char *contact, const xml_node *st);
/* Forget the pending request of contact, if any. */
void sm_roster_pending_del(sm_t *sm, sm_user *u, const char *contact);

/* Route <presence type='type'/> from u's bare JID to contact (a bare JID)
 * by the inbound path; id may be NULL. */
void sm_roster_send(sm_t *sm, const sm_user *u, const char *contact, const char *type, const char *id);

#endif
