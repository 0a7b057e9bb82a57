/*
 * privacy.h - the one mechanism behind XEP-0016 privacy lists and
 * XEP-0191 blocking: a user's named lists of ordered allow/deny items,
 * one of them the default, evaluated for every stanza to and from the
 * user (privacy.c).
 *
 * The blocklist is not a second store: it is the jid + deny items without
 * stanza kinds (which apply to every kind) of the default list
 * (XEP-0191 section 5). Blocking adds such items in front of the default
 * list, creating a list named "blocklist" as the default when the user
 * has none; unblocking removes them.
 *
 * Stored through the storage workers' keyed data: kind "privacy", key =
 * list name, value = the list as JSON; kind "privacy.default", key "",
 * value = the default list's name. Both come with user.load.
 */
#ifndef XMPP_SM_PRIVACY_H
#define XMPP_SM_PRIVACY_H

#include <jansson.h>

#include "sm.h"

#define NS_PRIVACY "jabber:iq:privacy"
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"

/* Stanza kinds an item filters (XEP-0016 section 2.1); none = all. */
#define SM_PRIV_MESSAGE  0x1
#define SM_PRIV_IQ       0x2
#define SM_PRIV_PRES_IN  0x4
#define SM_PRIV_PRES_OUT 0x8

/* The kind of an inbound stanza: message, iq or presence-in. */
unsigned sm_privacy_kind_in(const xml_node *st);

/* The user.load kinds privacy.c needs (NULL-terminated). */
extern const char *const sm_privacy_kinds[];

/* Take the lists from a user.load reply's "data" object. 0/-1. */
int sm_privacy_load(sm_user *u, const json_t *data);
void sm_privacy_free(sm_user *u);

/* Non-zero if the list that applies denies a stanza of `kind` exchanged
 * with `other` (another entity than u): s's active list when s has one,
 * else u's default list (XEP-0016 business rules 1 and 2; s may be NULL). */
int sm_privacy_denies(const sm_user *u, const sm_session *s, const jid_t *other, unsigned kind);

/* ---- the XEP-0016 protocol (mod_privacy.c) ---- */
/* Non-zero if u has a list of that name. */
int sm_privacy_has(const sm_user *u, const char *name);
/* The default list's name, or NULL. */
const char *sm_privacy_default(const sm_user *u);
/* Call fn for each list name. */
void sm_privacy_names(const sm_user *u, void (*fn)(void *ud, const char *name), void *ud);
/* <list name='...'> with its items, as XEP-0016 shows them, or NULL if
 * there is no such list. */
xml_node *sm_privacy_list_xml(const sm_user *u, const char *name);
/* Create or replace a list from a <list/> element with items. NULL with
 * *req set to the storage request, or an error condition (bad-request:
 * a missing or bad action, order, type or value, or orders that repeat;
 * item-not-found: a group not in the roster; policy-violation: more
 * items than sm.max_privacy_items or lists than sm.max_privacy_lists). */
const char *sm_privacy_put(const sm_t *sm, sm_user *u, const xml_node *list, json_t **req);
/* Remove a list (it exists); returns the storage request. */
json_t *sm_privacy_remove(sm_user *u, const char *name);
/* Make name (an existing list, or NULL for none) the default; returns
 * the storage request. */
json_t *sm_privacy_set_default(sm_user *u, const char *name);
/* Non-zero if `other` is on u's blocklist (a jid + deny item for every
 * kind in the default list matches it): then nothing u sends may reach
 * it (XEP-0191: <not-acceptable/> with <blocked/>). */
int sm_privacy_blocked(const sm_user *u, const jid_t *other);

/* Non-zero if the JID item (as in a jid privacy item) matches jid. */
int sm_privacy_jid_covers(const char *item, const char *jid);
/* Call fn for each JID of u's blocklist, in list order. */
void sm_privacy_blocklist(const sm_user *u, void (*fn)(void *ud, const char *jid), void *ud);
/* Add the JIDs (normalized, distinct) to the blocklist / remove them
 * (n == 0: every blocked JID). The change is in force at once; the
 * lists are written to storage and the returned request (for the last
 * write, to be sent by the caller) carries it, or NULL when nothing
 * changed. sm_privacy_block_fits says whether n more items fit the
 * default list (sm.max_privacy_items). */
int sm_privacy_block_fits(const sm_t *sm, const sm_user *u, size_t n);
json_t *sm_privacy_block(sm_t *sm, sm_user *u, char **jids, size_t n);
json_t *sm_privacy_unblock(sm_t *sm, sm_user *u, char **jids, size_t n);

#endif
