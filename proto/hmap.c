/*
 * hmap.c - string-keyed hash map (see hmap.h). FNV-1a hashing, load
 * factor kept under 3/4.
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "slot.h"

static size_t hmap_find(const hmap_t *m, const char *key, unsigned h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *hmap_get(const hmap_t *m, const char *key)
{
    if (!m->cap) return NULL;
    size_t i = hmap_find(m, key, slot_fnv1a(key, strlen(key)));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int hmap_grow(hmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    hmap_entry *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) { m->slots = old; return -1; }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key) continue;
        size_t j = hmap_find(m, old[i].key, old[i].hash);
        m->slots[j] = old[i];
    }
    free(old);
    return 0;
}

int hmap_put(hmap_t *m, const char *key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && hmap_grow(m) < 0) return -1;
    unsigned h = slot_fnv1a(key, strlen(key));
    size_t i = hmap_find(m, key, h);
    if (m->slots[i].key) {
        m->slots[i].value = value;
        return 0;
    }
    char *k = strdup(key);
    if (!k) return -1;
    m->slots[i] = (hmap_entry){k, value, h};
    m->count++;
    return 0;
}

void *hmap_del(hmap_t *m, const char *key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = hmap_find(m, key, slot_fnv1a(key, strlen(key)));
    if (!m->slots[i].key) return NULL;
    void *v = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* backward-shift the following cluster */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key) break;
        size_t home = m->slots[j].hash & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return v;
}

int hmap_next(const hmap_t *m, size_t *pos, const char **key, void **value)
{
    while (*pos < m->cap) {
        hmap_entry *e = &m->slots[(*pos)++];
        if (e->key) {
            if (key) *key = e->key;
            if (value) *value = e->value;
            return 1;
        }
    }
    return 0;
}

void hmap_free(hmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
