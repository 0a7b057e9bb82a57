/*
 * presence.h - presence services that other sm modules use (implemented
 * in mod_presence.c).
 */
#ifndef XMPP_SM_PRESENCE_H
#define XMPP_SM_PRESENCE_H

#include "sm.h"

/* Send the current presence of every available session of u to `to` (a
 * bare or full JID), each from that session's full JID (RFC 6121 3.1.5,
 * after a subscription is approved). */
void sm_presence_send_current(sm_t *sm, sm_user *u, const char *to);
/* Send presence type='unavailable' from every available session of u to
 * `to` (RFC 6121 3.2.2 / 3.3.2, after a subscription is cancelled). `to`
 * also leaves the sessions' directed-presence lists: it has been told. */
void sm_presence_send_unavailable(sm_t *sm, sm_user *u, const char *to);
/* Send a probe from u's bare JID to the contact's bare JID (RFC 6121 4.3),
 * e.g. after the contact approved u's subscription. */
void sm_presence_probe(sm_t *sm, sm_user *u, const char *contact);

/* The <priority/> of an available presence: 0 when absent or not an
 * integer, clamped to -128..127 (RFC 6121 4.7.2.3). */
int sm_presence_priority(const xml_node *st);

#endif
