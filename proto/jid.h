/*
 * jid.h - JID parsing and normalization (RFC 7622).
 *
 * Parts are prepared with the stringprep profiles of libidn (nodeprep,
 * nameprep, resourceprep), which is the normalization XMPP servers
 * interoperate on. Each part must be 1..1023 bytes after preparation; the
 * localpart and resourcepart are optional. A domain may be an IPv4 or
 * bracketed IPv6 literal; a trailing dot on the domain is removed.
 */
#ifndef XMPP_JID_H
#define XMPP_JID_H

#include <stddef.h>

#define JID_PART_MAX 1023

typedef struct jid {
    char local[JID_PART_MAX + 1];    /* "" when absent */
    char domain[JID_PART_MAX + 1];   /* never empty after a successful parse */
    char resource[JID_PART_MAX + 1]; /* "" when absent */
} jid_t;

/* Parse and normalize s. Returns 0, or -1 if s is not a valid JID (the
 * caller answers with <jid-malformed/>); *out is unspecified on -1. */
int jid_parse(const char *s, jid_t *out);
/* Prepare one part in place-independent buffers; out must hold
 * JID_PART_MAX + 1 bytes. 0/-1. */
int jid_nodeprep(const char *in, char *out);
int jid_nameprep(const char *in, char *out);
int jid_resourceprep(const char *in, char *out);
/* Write "local@domain" (or "domain") into out of size outsz. Returns the
 * length, or -1 if it does not fit. */
int jid_bare(const jid_t *j, char *out, size_t outsz);
/* Write the full form "local@domain/resource" (parts present only). */
int jid_full(const jid_t *j, char *out, size_t outsz);
/* Non-zero if the JID has a localpart / resourcepart. */
static inline int jid_has_local(const jid_t *j) { return j->local[0] != '\0'; }
static inline int jid_has_resource(const jid_t *j) { return j->resource[0] != '\0'; }
/* Non-zero if a and b have equal bare parts (both already normalized). */
int jid_bare_eq(const jid_t *a, const jid_t *b);

#endif
