/*
 * config.c - load the cluster YAML file into a jansson tree (libyaml's
 * event parser) and look values up by dotted path.
 *
 * Anchors, aliases and tags are rejected: the cluster file is plain data.
 * Plain (unquoted) scalars become integers, booleans or null when they
 * look like one; quoted scalars are always strings.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 32

typedef struct cfg_parse {
    yaml_parser_t parser;
    char *err;
    size_t errsz;
} cfg_parse;

static void cfg_error(cfg_parse *p, const yaml_mark_t *m, const char *what)
{
    snprintf(p->err, p->errsz, "line %zu column %zu: %s", m->line + 1, m->column + 1, what);
}

static json_t *cfg_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (n == 0 || !strcmp(v, "~") || !strcmp(v, "null")) return json_null();
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) return json_true();
        if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) return json_false();
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 10);
        if (*end == '\0' && errno == 0 && end != v) return json_integer(i);
    }
    return json_stringn(v, n);
}

static json_t *cfg_node(cfg_parse *p, yaml_event_t *ev, int depth);

/* Parse events until the end of the collection opened by `open`. */
static json_t *cfg_collection(cfg_parse *p, int is_map, int depth)
{
    json_t *out = is_map ? json_object() : json_array();
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p->parser, &ev)) {
            cfg_error(p, &p->parser.problem_mark, p->parser.problem ? p->parser.problem : "parse error");
            json_decref(out);
            return NULL;
        }
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return out;
        }
        if (!is_map) {
            json_t *v = cfg_node(p, &ev, depth + 1);
            yaml_event_delete(&ev);
            if (!v) { json_decref(out); return NULL; }
            json_array_append_new(out, v);
            continue;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            cfg_error(p, &ev.start_mark, "mapping keys must be plain scalars");
            yaml_event_delete(&ev);
            json_decref(out);
            return NULL;
        }
        char *key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
        yaml_mark_t mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (!yaml_parser_parse(&p->parser, &ev)) {
            cfg_error(p, &p->parser.problem_mark, p->parser.problem ? p->parser.problem : "parse error");
            free(key);
            json_decref(out);
            return NULL;
        }
        json_t *v = cfg_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (v && json_object_get(out, key)) {
            cfg_error(p, &mark, "duplicate key");
            json_decref(v);
            v = NULL;
        }
        if (!v) { free(key); json_decref(out); return NULL; }
        json_object_set_new(out, key, v);
        free(key);
    }
}

static json_t *cfg_node(cfg_parse *p, yaml_event_t *ev, int depth)
{
    if (depth > CONFIG_MAX_DEPTH) {
        cfg_error(p, &ev->start_mark, "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor || (ev->data.scalar.tag && !ev->data.scalar.plain_implicit &&
                                       !ev->data.scalar.quoted_implicit)) break;
        return cfg_scalar(ev);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor) break;
        return cfg_collection(p, 1, depth);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor) break;
        return cfg_collection(p, 0, depth);
    default:
        break;
    }
    cfg_error(p, &ev->start_mark, "anchors, aliases and tags are not supported");
    return NULL;
}

/* Parse a whole stream: exactly one document whose root is a mapping. */
static json_t *cfg_parse_stream(cfg_parse *p)
{
    json_t *root = NULL;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p->parser, &ev)) {
            cfg_error(p, &p->parser.problem_mark, p->parser.problem ? p->parser.problem : "parse error");
            json_decref(root);
            return NULL;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) { yaml_event_delete(&ev); break; }
        if (t == YAML_MAPPING_START_EVENT && !root) {
            root = cfg_node(p, &ev, 0);
            yaml_event_delete(&ev);
            if (!root) return NULL;
            continue;
        }
        if (t != YAML_STREAM_START_EVENT && t != YAML_DOCUMENT_START_EVENT && t != YAML_DOCUMENT_END_EVENT) {
            cfg_error(p, &ev.start_mark, root ? "only one document is allowed" : "the top level must be a mapping");
            yaml_event_delete(&ev);
            json_decref(root);
            return NULL;
        }
        yaml_event_delete(&ev);
    }
    if (!root) root = json_object();
    return root;
}

static config_t *config_from(FILE *f, const char *s, const char *path, char *err, size_t errsz)
{
    cfg_parse p = {.err = err, .errsz = errsz};
    if (!yaml_parser_initialize(&p.parser)) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    if (f) yaml_parser_set_input_file(&p.parser, f);
    else yaml_parser_set_input_string(&p.parser, (const unsigned char *)s, strlen(s));
    json_t *root = cfg_parse_stream(&p);
    yaml_parser_delete(&p.parser);
    if (!root) return NULL;
    config_t *c = calloc(1, sizeof *c);
    c->root = root;
    c->path = strdup(path ? path : "");
    return c;
}

config_t *config_load(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char inner[400];
    config_t *c = config_from(f, NULL, path, inner, sizeof inner);
    fclose(f);
    if (!c) snprintf(err, errsz, "%s: %s", path, inner);
    return c;
}

config_t *config_load_string(const char *yaml, char *err, size_t errsz)
{
    return config_from(NULL, yaml, NULL, err, errsz);
}

void config_free(config_t **c)
{
    if (!c || !*c) return;
    json_decref((*c)->root);
    free((*c)->path);
    free(*c);
    *c = NULL;
}

json_t *config_get(const config_t *c, const char *path)
{
    json_t *cur = c->root;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[128];
        if (n >= sizeof key || !json_is_object(cur)) return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n + (dot ? 1 : 0);
    }
    return cur;
}

const char *config_str(const config_t *c, const char *path, const char *def)
{
    json_t *v = config_get(c, path);
    return json_is_string(v) ? json_string_value(v) : def;
}

long long config_int(const config_t *c, const char *path, long long def)
{
    json_t *v = config_get(c, path);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

int config_bool(const config_t *c, const char *path, int def)
{
    json_t *v = config_get(c, path);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

char *config_file_path(const config_t *c, const char *path, const char *def)
{
    const char *v = config_str(c, path, def);
    if (!v) return NULL;
    if (v[0] == '/' || !c->path[0]) return strdup(v);
    const char *slash = strrchr(c->path, '/');
    if (!slash) return strdup(v);
    size_t dl = (size_t)(slash - c->path);
    char *out = malloc(dl + 1 + strlen(v) + 1);
    if (!out) return NULL;
    memcpy(out, c->path, dl);
    out[dl] = '/';
    strcpy(out + dl + 1, v);
    return out;
}
