/*
 * hmap.h - string-keyed hash map (open addressing, linear probing,
 * backward-shift deletion). Keys are copied; values are borrowed pointers
 * the caller owns.
 */
#ifndef XMPP_HMAP_H
#define XMPP_HMAP_H

#include <stddef.h>

typedef struct hmap_entry {
    char *key;      /* NULL when empty */
    void *value;
    unsigned hash;
} hmap_entry;

typedef struct hmap {
    hmap_entry *slots;
    size_t cap;     /* power of two */
    size_t count;
} hmap_t;

#define HMAP_INIT {NULL, 0, 0}

void *hmap_get(const hmap_t *m, const char *key);
/* Insert or replace. Returns 0/-1 (allocation failure). */
int hmap_put(hmap_t *m, const char *key, void *value);
/* Remove and return the value (NULL if absent). */
void *hmap_del(hmap_t *m, const char *key);
/* Iterate: start with *pos = 0; returns 0 at the end. Do not modify the
 * map while iterating. */
int hmap_next(const hmap_t *m, size_t *pos, const char **key, void **value);
void hmap_free(hmap_t *m);

#endif
