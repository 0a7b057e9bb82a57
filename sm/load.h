/*
 * load.h - a user's stored state (roster, pending subscription requests,
 * last unavailable presence, offline count) read from storage before any
 * stanza of or to that user is processed.
 *
 * Every stanza a shard processes for a user passes the gate: if the
 * user's state is loaded it goes on at once; otherwise it is queued on
 * the user, one "user.load" storage request is made, and when the reply
 * arrives the queue is replayed in arrival order, so a user's stanzas
 * are never reordered by the wait. If the load fails, queued messages
 * and IQs get an error reply and presence is dropped.
 *
 * The state of a user without sessions is dropped as soon as its queue is
 * processed (sm_user_release); sessions keep it loaded.
 */
#ifndef XMPP_SM_LOAD_H
#define XMPP_SM_LOAD_H

#include "sm.h"

/* Outbound stanza st from local session s. Returns 0 if the caller should
 * process it now (the user is loaded), 1 if a copy was queued (or the
 * stanza was refused with an error reply); st stays the caller's. */
int sm_load_gate_out(sm_t *sm, sm_session *s, const xml_node *st);
/* The same for an inbound stanza to the local user u (opened by the
 * caller, who releases it afterwards). */
int sm_load_gate_in(sm_t *sm, sm_user *u, const xml_node *st);
/* Start loading u if it is not loaded or loading (e.g. on bind). */
void sm_load_start(sm_t *sm, sm_user *u);
/* Free u's stored state and queue (queued stanzas are dropped). */
void sm_load_clear(sm_user *u);

/* The roster row for a contact bare JID, or NULL. */
sm_contact *sm_roster_find(const sm_user *u, const char *contact);
/* Build a contact from a storage item object; NULL if malformed. */
sm_contact *sm_contact_from_json(const json_t *item);
/* The storage item object for c (new reference). */
json_t *sm_contact_to_json(const sm_contact *c);
void sm_contact_free(sm_contact *c);

#endif
