/*
 * config.h - the cluster configuration file.
 *
 * One YAML file describes the whole cluster; every process loads it and
 * picks its own part by role and node id. The YAML is loaded into a jansson
 * tree (mappings -> objects, sequences -> arrays, plain scalars that look
 * like integers/booleans/null -> those types, everything else -> strings).
 * Lookups take dotted paths ("c2s.port"). See docs/configuration.md.
 */
#ifndef XMPP_CONFIG_H
#define XMPP_CONFIG_H

#include <jansson.h>

typedef struct config {
    json_t *root;          /* whole document (an object) */
    char *path;            /* file it was loaded from */
} config_t;

/* Load a YAML file. On error returns NULL and writes a message (with line
 * and column) into err. */
config_t *config_load(const char *path, char *err, size_t errsz);
/* Load YAML from a string (tests). */
config_t *config_load_string(const char *yaml, char *err, size_t errsz);
void config_free(config_t **c);

/* Value at a dotted path, or NULL. */
json_t *config_get(const config_t *c, const char *path);
const char *config_str(const config_t *c, const char *path, const char *def);
long long config_int(const config_t *c, const char *path, long long def);
int config_bool(const config_t *c, const char *path, int def);
/* The string at path as a file path: absolute paths are returned as they
 * are, relative ones are taken relative to the config file's directory.
 * malloc'd (caller frees); NULL if the key is missing and def is NULL. */
char *config_file_path(const config_t *c, const char *path, const char *def);

#endif
