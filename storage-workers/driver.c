/*
 * driver.c - the list of storage drivers.
 *
 * A new backend adds its vtable to driver_table; nothing else in the
 * storage worker knows which drivers exist.
 */
#include "driver.h"

#include <string.h>

static const driver_t *const driver_table[] = {
    &driver_sqlite,
};

const driver_t *driver_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof driver_table / sizeof driver_table[0]; i++) {
        if (strcmp(driver_table[i]->name, name) == 0) return driver_table[i];
    }
    return NULL;
}
