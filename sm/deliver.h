/*
 * deliver.h - inbound processing at the target's shard (RFC 6121 section
 * 8.5) and delivery to the c2s holding a session (STANZA_DELIVER).
 */
#ifndef XMPP_SM_DELIVER_H
#define XMPP_SM_DELIVER_H

#include "sm.h"

/* Apply the delivery rules to st addressed to `to`, a JID of a user whose
 * slot this shard holds. st stays the caller's (hooks may modify it). */
void sm_deliver_inbound(sm_t *sm, xml_node *st, const jid_t *to);
/* Send st, serialized with xmlns='jabber:client' on its root, to the
 * connection of session s. 0/-1. */
int sm_deliver(sm_t *sm, const sm_session *s, const xml_node *st);
/* Which of a user's sessions sm_deliver_user sends to. */
typedef enum sm_deliver_sel {
    SM_SEL_AVAILABLE,   /* every available session */
    SM_SEL_NONNEG,      /* available, priority >= 0 */
    SM_SEL_TOP,         /* available with the highest priority >= 0 (all if tied) */
} sm_deliver_sel;

/* Send st (serialized once) to the sessions of u chosen by sel, except
 * `skip` (may be NULL). Returns how many envelopes were sent. */
unsigned sm_deliver_user(sm_t *sm, const sm_user *u, const xml_node *st, sm_deliver_sel sel,
                         const sm_session *skip);
/* A STANZA_DELIVER we sent came back UNROUTABLE: the connection's c2s is
 * gone, so the session is dropped as if unbound. */
void sm_deliver_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len);

/* Inbound processing of st (addressed by its 'to') for the loaded local
 * user u: the modules' `in` hooks, then the delivery rules. */
void sm_deliver_loaded(sm_t *sm, sm_user *u, xml_node *st);

/* Append a XEP-0203 <delay xmlns='urn:xmpp:delay' stamp='YYYY-MM-DDThh:mm:ssZ'/>
 * (UTC) for the unix time `when` to st, with from='...' unless from is
 * NULL. 0/-1. */
int sm_deliver_delay(xml_node *st, const char *from, long long when);

#endif
