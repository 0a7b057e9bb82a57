/*
 * route.h - stanza routing: outbound processing of what a local session
 * sends (STANZA_OUT), hand-over to the target's shard (locally or as
 * STANZA_IN), and error replies.
 */
#ifndef XMPP_SM_ROUTE_H
#define XMPP_SM_ROUTE_H

#include "sm.h"

/* Envelope handlers (shard.c's dispatch table). */
void sm_route_on_out(sm_t *sm, const env_hdr *h, const char *body, size_t len);
void sm_route_on_in(sm_t *sm, const env_hdr *h, const char *body, size_t len);
/* A STANZA_IN we sent came back UNROUTABLE: answer its sender. */
void sm_route_on_unroutable(sm_t *sm, const env_hdr *h, const char *body, size_t len);

/* Parse an envelope body into a stanza: a message, presence or iq in
 * jabber:client. NULL (logged and counted) otherwise; caller frees. */
xml_node *sm_route_parse(sm_t *sm, const env_hdr *h, const char *body, size_t len);
/* Inbound processing of st for `to` (whose 'to' it carries): locally if
 * this shard holds the target's slot, else sent to that shard as
 * STANZA_IN. st stays the caller's (local hooks may modify it). 0, or -1
 * if it could not be sent (the sender was then answered with
 * <service-unavailable/>). */
int sm_route_inbound(sm_t *sm, xml_node *st, const jid_t *to);
/* Answer st with a stanza error `condition`, sent to st's 'from' by the
 * inbound path. Errors and IQ results are never answered. st stays the
 * caller's. */
void sm_route_bounce(sm_t *sm, const xml_node *st, const char *condition);
/* The same with a human-readable <text/> in the error. */
void sm_route_bounce_text(sm_t *sm, const xml_node *st, const char *condition, const char *text);

/* Outbound processing of st from the local session s, whose user is
 * loaded (see load.h). st stays the caller's. */
void sm_route_out(sm_t *sm, sm_session *s, xml_node *st);

/* The bytes of st for sending: the envelope's own bytes while st is the
 * unchanged stanza being handled, else st serialized into tmp (which the
 * caller frees). 0/-1. */
int sm_stanza_bytes(sm_t *sm, const xml_node *st, buf_t *tmp, const char **data, size_t *len);

#endif
