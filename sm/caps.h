/*
 * caps.h - XEP-0115 verification strings (mod_caps.c), also used for the
 * server's own caps (shard.c, advertised by c2s in stream features).
 */
#ifndef XMPP_SM_CAPS_H
#define XMPP_SM_CAPS_H

#include "xml.h"

#define SM_CAPS_VER_MAX 89      /* base64 of a SHA-512 and its NUL */
#define SM_CAPS_NODE "urn:xmppd"  /* the node of the server's own caps */

/* The ver of a disco#info <query/> for hash "sha-1" or "sha-256" into
 * out. 0, or -1 (unknown hash, or a query whose string must not be
 * used: duplicate identities or features). */
int sm_caps_ver(const xml_node *query, const char *hash, char out[SM_CAPS_VER_MAX]);

#endif
