/*
 * privacy.c - privacy lists and the blocklist on them (see privacy.h).
 *
 * An item matches per XEP-0016 section 2.1 (and XEP-0191 section 6):
 *   jid   user@domain/resource: that resource only; user@domain: any of
 *         its resources; domain/resource: that resource of the domain;
 *         domain: the domain, anything at it, and its subdomains
 *   group the other's bare JID is in the user's roster in that group
 *   subscription  the roster state toward the other's bare JID (none,
 *         to, from, both; a JID outside the roster is "none")
 *   no type       everything (fall-through)
 * Items are kept sorted by their order; the first one that matches and
 * applies to the stanza's kind (an item without kinds applies to all)
 * decides; when none does, the stanza is allowed.
 */
#include "privacy.h"

#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "log.h"
#include "sm_storage.h"

#define PRIV_BLOCKLIST_NAME "blocklist"

enum { PT_ANY, PT_JID, PT_GROUP, PT_SUB };

typedef struct priv_item {
    int type;
    char *value;                   /* jid (normalized), group, subscription; NULL for PT_ANY */
    char *local, *domain, *resource; /* a jid item's parts, NULL when absent */
    int deny;
    unsigned long long order;
    unsigned kinds;                /* SM_PRIV_*, 0 = all */
} priv_item;

typedef struct priv_list {
    char *name;
    priv_item *items;
    size_t n;
} priv_list;

struct sm_privacy {
    priv_list *lists;
    size_t n;
    char *def;                     /* default list name, or NULL */
};

const char *const sm_privacy_kinds[] = {"privacy", "privacy.default", NULL};

static const struct {
    const char *name;
    unsigned bit;
} priv_kind_names[] = {
    {"message", SM_PRIV_MESSAGE}, {"iq", SM_PRIV_IQ}, {"presence-in", SM_PRIV_PRES_IN},
    {"presence-out", SM_PRIV_PRES_OUT},
};

static const char *const priv_type_names[] = {"none", "jid", "group", "subscription"};

static void item_clear(priv_item *it)
{
    free(it->value);
    free(it->local);
    free(it->domain);
    free(it->resource);
    memset(it, 0, sizeof *it);
}

static void list_clear(priv_list *l)
{
    for (size_t i = 0; i < l->n; i++) item_clear(&l->items[i]);
    free(l->items);
    free(l->name);
    memset(l, 0, sizeof *l);
}

void sm_privacy_free(sm_user *u)
{
    struct sm_privacy *p = u->privacy;
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) list_clear(&p->lists[i]);
    free(p->lists);
    free(p->def);
    free(p);
    u->privacy = NULL;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* Fill a jid item from its (normalized) value. 0/-1. */
static int item_set_jid(priv_item *it, const char *value)
{
    jid_t j;
    if (jid_parse(value, &j) < 0) return -1;
    it->type = PT_JID;
    it->value = strdup(value);
    it->local = dup_or_null(j.local);
    it->domain = dup_or_null(j.domain);
    it->resource = dup_or_null(j.resource);
    return it->value && it->domain ? 0 : -1;
}

static int item_cmp(const void *a, const void *b)
{
    const priv_item *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Parse one stored list (JSON). 0/-1. */
static int list_from_json(priv_list *l, const char *name, const char *text)
{
    json_t *j = json_loads(text, 0, NULL), *items = json_object_get(j, "items");
    l->name = strdup(name);
    l->n = 0;
    l->items = calloc(json_array_size(items) + 1, sizeof *l->items);
    int rc = l->name && l->items && json_is_array(items) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < json_array_size(items); i++) {
        json_t *o = json_array_get(items, i), *kinds = json_object_get(o, "kinds");
        priv_item *it = &l->items[l->n];
        const char *type = json_string_value(json_object_get(o, "type")) ?: "none";
        const char *value = json_string_value(json_object_get(o, "value"));
        it->deny = strcmp(json_string_value(json_object_get(o, "action")) ?: "", "deny") == 0;
        it->order = (unsigned long long)json_integer_value(json_object_get(o, "order"));
        for (size_t k = 0; k < json_array_size(kinds); k++)
            for (size_t m = 0; m < sizeof priv_kind_names / sizeof priv_kind_names[0]; m++)
                if (strcmp(json_string_value(json_array_get(kinds, k)) ?: "", priv_kind_names[m].name) == 0)
                    it->kinds |= priv_kind_names[m].bit;
        if (strcmp(type, "jid") == 0) rc = value ? item_set_jid(it, value) : -1;
        else if (strcmp(type, "group") == 0 || strcmp(type, "subscription") == 0) {
            it->type = type[0] == 'g' ? PT_GROUP : PT_SUB;
            it->value = value ? strdup(value) : NULL;
            rc = it->value ? 0 : -1;
        }
        l->n++;
    }
    json_decref(j);
    if (rc == 0) qsort(l->items, l->n, sizeof *l->items, item_cmp);
    return rc;
}

static json_t *list_to_json(const priv_list *l)
{
    json_t *items = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const priv_item *it = &l->items[i];
        json_t *o = json_pack("{s:s, s:s, s:I}", "type", priv_type_names[it->type], "action",
                              it->deny ? "deny" : "allow", "order", (json_int_t)it->order);
        if (it->value) json_object_set_new(o, "value", json_string(it->value));
        json_t *kinds = json_array();
        for (size_t m = 0; m < sizeof priv_kind_names / sizeof priv_kind_names[0]; m++)
            if (it->kinds & priv_kind_names[m].bit) json_array_append_new(kinds, json_string(priv_kind_names[m].name));
        json_object_set_new(o, "kinds", kinds);
        json_array_append_new(items, o);
    }
    return json_pack("{s:o}", "items", items);
}

static struct sm_privacy *privacy_get(sm_user *u)
{
    if (!u->privacy) u->privacy = calloc(1, sizeof *u->privacy);
    return u->privacy;
}

static priv_list *list_find(const struct sm_privacy *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n; i++)
        if (strcmp(p->lists[i].name, name) == 0) return &p->lists[i];
    return NULL;
}

int sm_privacy_load(sm_user *u, const json_t *data)
{
    sm_privacy_free(u);
    json_t *lists = json_object_get(data, "privacy");
    const char *def = json_string_value(json_object_get(json_object_get(data, "privacy.default"), ""));
    if (json_object_size(lists) == 0 && !def) return 0;
    struct sm_privacy *p = privacy_get(u);
    if (!p) return -1;
    p->lists = calloc(json_object_size(lists) + 1, sizeof *p->lists);
    if (!p->lists) return -1;
    const char *name;
    json_t *v;
    json_object_foreach(lists, name, v) {
        if (list_from_json(&p->lists[p->n], name, json_string_value(v) ?: "") < 0) {
            log_warn("privacy list '%s' of %s is damaged; ignored", name, u->bare);
            list_clear(&p->lists[p->n]);
            continue;
        }
        p->n++;
    }
    p->def = dup_or_null(def);
    return 0;
}

/* ---- matching ---- */

static int domain_matches(const char *item_domain, const char *domain)
{
    size_t n = strlen(item_domain), m = strlen(domain);
    if (strcmp(item_domain, domain) == 0) return 1;
    return m > n && domain[m - n - 1] == '.' && strcmp(domain + m - n, item_domain) == 0;
}

static int jid_item_matches(const priv_item *it, const jid_t *o)
{
    if (it->local) {
        if (strcmp(it->local, o->local) != 0 || strcmp(it->domain, o->domain) != 0) return 0;
        return !it->resource || strcmp(it->resource, o->resource) == 0;
    }
    if (it->resource) return !o->local[0] && strcmp(it->domain, o->domain) == 0 && strcmp(it->resource, o->resource) == 0;
    return domain_matches(it->domain, o->domain);
}

static int item_matches(const sm_user *u, const priv_item *it, const jid_t *o)
{
    char bare[SM_JID_MAX];
    const sm_contact *c = NULL;
    if (it->type == PT_ANY) return 1;
    if (it->type == PT_JID) return jid_item_matches(it, o);
    if (jid_bare(o, bare, sizeof bare) >= 0) c = sm_roster_find(u, bare);
    if (c && c->hidden) c = NULL;
    if (it->type == PT_GROUP) {
        for (size_t i = 0; c && i < c->ngroups; i++)
            if (strcmp(c->groups[i], it->value) == 0) return 1;
        return 0;
    }
    static const char *const subs[] = {"none", "to", "from", "both"};
    return strcmp(subs[c ? c->sub & 3 : 0], it->value) == 0;
}

int sm_privacy_jid_covers(const char *item, const char *jid)
{
    priv_item it = {0};
    jid_t o;
    int hit = item_set_jid(&it, item) == 0 && jid_parse(jid, &o) == 0 && jid_item_matches(&it, &o);
    item_clear(&it);
    return hit;
}

static const priv_list *default_list(const sm_user *u)
{
    return u->privacy ? list_find(u->privacy, u->privacy->def) : NULL;
}

int sm_privacy_denies(const sm_user *u, const jid_t *other, unsigned kind)
{
    const priv_list *l = default_list(u);
    for (size_t i = 0; l && i < l->n; i++) {
        const priv_item *it = &l->items[i];
        if ((!it->kinds || (it->kinds & kind)) && item_matches(u, it, other)) return it->deny;
    }
    return 0;
}

static int is_block_item(const priv_item *it)
{
    return it->type == PT_JID && it->deny && it->kinds == 0;
}

int sm_privacy_blocked(const sm_user *u, const jid_t *other)
{
    const priv_list *l = default_list(u);
    for (size_t i = 0; l && i < l->n; i++)
        if (is_block_item(&l->items[i]) && jid_item_matches(&l->items[i], other)) return 1;
    return 0;
}

void sm_privacy_blocklist(const sm_user *u, void (*fn)(void *ud, const char *jid), void *ud)
{
    const priv_list *l = default_list(u);
    for (size_t i = 0; l && i < l->n; i++)
        if (is_block_item(&l->items[i])) fn(ud, l->items[i].value);
}

/* ---- blocking ---- */

/* The request that stores list l of u. */
static json_t *list_store_req(const sm_user *u, const priv_list *l)
{
    json_t *j = list_to_json(l);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    json_t *req = text ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "data.put", "jid", u->bare, "kind", "privacy",
                                   "key", l->name, "value", text)
                       : NULL;
    free(text);
    return req;
}

/* The default list, created (empty, named "blocklist", stored as the
 * default) when the user has none. */
static priv_list *default_list_make(sm_t *sm, sm_user *u)
{
    struct sm_privacy *p = privacy_get(u);
    priv_list *l = p ? list_find(p, p->def) : NULL;
    if (l || !p) return l;
    priv_list *grown = realloc(p->lists, (p->n + 1) * sizeof *p->lists);
    if (!grown) return NULL;
    p->lists = grown;
    l = list_find(p, PRIV_BLOCKLIST_NAME);
    if (!l) {
        l = &p->lists[p->n++];
        memset(l, 0, sizeof *l);
        l->name = strdup(PRIV_BLOCKLIST_NAME);
    }
    free(p->def);
    p->def = strdup(l->name);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "data.put", "jid", u->bare, "kind", "privacy.default",
                            "key", "", "value", l->name);
    sm_storage_call(sm, u->bare, req, NULL, NULL);
    return l;
}

json_t *sm_privacy_block(sm_t *sm, sm_user *u, char **jids, size_t n)
{
    priv_list *l = default_list_make(sm, u);
    if (!l) return NULL;
    priv_item *items = calloc(l->n + n + 1, sizeof *items);
    if (!items) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int have = 0;
        for (size_t m = 0; m < l->n && !have; m++) have = is_block_item(&l->items[m]) && !strcmp(l->items[m].value, jids[i]);
        if (!have && item_set_jid(&items[k], jids[i]) == 0) items[k++].deny = 1;
        else if (!have) item_clear(&items[k]);
    }
    if (l->n) memcpy(items + k, l->items, l->n * sizeof *items);   /* blocked items come first (XEP-0191 section 5) */
    free(l->items);
    l->items = items;
    l->n += k;
    for (size_t i = 0; i < l->n; i++) l->items[i].order = i + 1;
    return list_store_req(u, l);
}

json_t *sm_privacy_unblock(sm_t *sm, sm_user *u, char **jids, size_t n)
{
    priv_list *l = (priv_list *)default_list(u);
    if (!l) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        int drop = 0;
        if (is_block_item(&l->items[i])) {
            drop = n == 0;
            for (size_t m = 0; m < n && !drop; m++) drop = strcmp(l->items[i].value, jids[m]) == 0;
        }
        if (drop) item_clear(&l->items[i]);
        else l->items[k++] = l->items[i];
    }
    if (k == l->n) return NULL;
    l->n = k;
    return list_store_req(u, l);
}
