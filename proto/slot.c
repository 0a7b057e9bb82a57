/*
 * slot.c - FNV-1a hashing of bare JIDs into the 1024 user slots.
 */
#include "slot.h"

#include <string.h>

uint32_t slot_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

unsigned slot_of(const char *bare_jid)
{
    return slot_fnv1a(bare_jid, strlen(bare_jid)) % SLOT_COUNT;
}
