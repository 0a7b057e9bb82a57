/*
 * driver.c - the list of storage drivers.
 *
 * A new backend adds its vtable to driver_table; nothing else in the
 * storage worker knows which drivers exist. Also the names of the
 * subscription states, shared by the drivers and the protocol.
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

static const char *const driver_sub_names[] = {
    [DRIVER_SUB_NONE] = "none",
    [DRIVER_SUB_TO] = "to",
    [DRIVER_SUB_FROM] = "from",
    [DRIVER_SUB_BOTH] = "both",
};

const char *driver_sub_name(driver_sub sub)
{
    return (unsigned)sub < sizeof driver_sub_names / sizeof driver_sub_names[0] ? driver_sub_names[sub] : NULL;
}

int driver_sub_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof driver_sub_names / sizeof driver_sub_names[0]; i++) {
        if (strcmp(driver_sub_names[i], name) == 0) return (int)i;
    }
    return -1;
}
