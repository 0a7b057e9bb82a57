/*
 * stanza.h - helpers on stanza trees shared by c2s and sm: the RFC 6120
 * stanza error table, error replies, and namespace constants.
 */
#ifndef XMPP_STANZA_H
#define XMPP_STANZA_H

#include "xml.h"

#define NS_CLIENT   "jabber:client"
#define NS_STREAMS  "http://etherx.jabber.org/streams"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS  "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND     "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION  "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER   "jabber:iq:roster"
#define NS_PING     "urn:xmpp:ping"
#define NS_DELAY    "urn:xmpp:delay"

/* Default error type for a defined condition (RFC 6120 section 8.3.3), or
 * NULL if the condition is not defined. */
const char *stanza_error_type(const char *condition);
/* Non-zero if the stanza must never be answered with an error (it is an
 * error itself, or an IQ result). */
int stanza_is_error_or_result(const xml_node *st);
/* Build the error reply to `orig`: same element name and id, from/to
 * swapped, type='error', the original children kept (for iq, only the
 * payload of a get/set), and <error type='...'><condition/></error>
 * appended. text may be NULL. Returns a new tree or NULL. */
xml_node *stanza_error_reply(const xml_node *orig, const char *condition, const char *text);
/* A new <iq type='result'/> answering iq (from/to swapped, same id). */
xml_node *stanza_iq_result(const xml_node *iq);

#endif
