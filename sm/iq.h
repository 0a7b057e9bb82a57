/*
 * iq.h - IQ requests a local session addresses to the server or to its
 * own account, answered by the modules' handler tables (mod.h).
 */
#ifndef XMPP_SM_IQ_H
#define XMPP_SM_IQ_H

#include "sm.h"

/* Handle iq from the local session s; target says what it was addressed
 * to (SM_IQ_ACCOUNT, SM_IQ_SERVER, or both when it had no 'to'). get/set
 * go to the handler of their payload or get an error; result/error are
 * ignored. */
void sm_iq_handle(sm_t *sm, sm_session *s, const xml_node *iq, unsigned target);
/* Answer iq with type='result' (to = its 'from', from = its 'to' if it
 * had one), carrying payload if not NULL; payload is taken in any case.
 * Sent to the session s. 0/-1. */
int sm_iq_reply(sm_t *sm, const sm_session *s, const xml_node *iq, xml_node *payload);

#endif
