/*
 * slot.h - the user slot: which sm shard owns a bare JID.
 *
 * slot = FNV-1a-32(normalized bare JID bytes) mod 1024. The same function
 * (with a different modulus) picks a storage worker for a key and a router
 * for a destination, so one user's traffic keeps one path.
 */
#ifndef XMPP_SLOT_H
#define XMPP_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define SLOT_COUNT 1024

uint32_t slot_fnv1a(const void *data, size_t len);
/* Slot of a normalized bare JID string. */
unsigned slot_of(const char *bare_jid);

#endif
