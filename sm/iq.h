/*
 * iq.h - IQ requests a local session addresses to the server or to its
 * own account, answered by the modules' handler tables (mod.h).
 */
#ifndef XMPP_SM_IQ_H
#define XMPP_SM_IQ_H

#include <jansson.h>

#include "mod.h"
#include "sm.h"

/* Handle iq from the local session s; target says what it was addressed
 * to (SM_IQ_ACCOUNT, SM_IQ_SERVER, or both when it had no 'to'). get/set
 * go to the handler of their payload or get an error; result/error are
 * ignored. */
void sm_iq_handle(sm_t *sm, sm_session *s, const xml_node *iq, unsigned target);
/* Handle iq addressed to the bare JID of the loaded account `owner` by
 * anyone but that account (SM_IQ_OTHERS handlers); get/set without one
 * get <service-unavailable/>. */
void sm_iq_handle_others(sm_t *sm, sm_user *owner, const xml_node *iq);
/* Answer iq with type='result' (to = its 'from', from = its 'to' if it
 * had one), carrying payload if not NULL; payload is taken in any case.
 * Sent to r's session, or routed to the asker. 0/-1. */
int sm_iq_reply(sm_t *sm, const sm_iq_req *r, const xml_node *iq, xml_node *payload);
/* Turns a storage reply (never NULL) into the answer to iq: NULL with
 * *payload set (or left NULL for an empty result), a stanza error
 * condition, or sm_iq_answered when it answered by itself. */
extern const char sm_iq_answered[];
typedef const char *(*sm_iq_storage_fn)(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload);
/* An sm_iq_storage_fn for writes: an empty result once the reply says
 * ok, else <internal-server-error/>. */
const char *sm_iq_stored(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload);
/* Answer iq after a storage round trip: send req (taken) for the user
 * `bare`; fn builds the answer from the reply, which goes to the iq's
 * 'from' wherever it is then. No reply in time or a failed request
 * gives <internal-server-error/>. 0, or -1 if it could not be sent. */
int sm_iq_storage(sm_t *sm, const xml_node *iq, const char *bare, json_t *req, sm_iq_storage_fn fn);
/* Non-zero if the asker of iq may learn r->owner's presence (and what
 * the server tells on its behalf): the account itself, or a contact
 * with a 'from' or 'both' subscription. */
int sm_iq_asker_sees_presence(const sm_iq_req *r, const xml_node *iq);
/* The same, sent to the local session s. 0/-1. */
int sm_iq_reply_session(sm_t *sm, const sm_session *s, const xml_node *iq, xml_node *payload);
/* The same, routed to the iq's 'from' wherever it is (for answers given
 * after a storage round trip, when the session may be gone). 0/-1. */
int sm_iq_send_result(sm_t *sm, const xml_node *iq, xml_node *payload);

#endif
