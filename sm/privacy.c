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

#include <stdio.h>
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

unsigned sm_privacy_kind_in(const xml_node *st)
{
    return strcmp(st->name, "message") == 0 ? SM_PRIV_MESSAGE
           : strcmp(st->name, "iq") == 0    ? SM_PRIV_IQ
                                            : SM_PRIV_PRES_IN;
}

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

int sm_privacy_denies(const sm_user *u, const sm_session *s, const jid_t *other, unsigned kind)
{
    const priv_list *l = s && s->privacy_active ? list_find(u->privacy, s->privacy_active) : default_list(u);
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

int sm_privacy_block_fits(const sm_t *sm, const sm_user *u, size_t n)
{
    const priv_list *l = default_list(u);
    return (l ? l->n : 0) + n <= sm->max_privacy_items;
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

/* ---- the XEP-0016 protocol ---- */

int sm_privacy_has(const sm_user *u, const char *name)
{
    return list_find(u->privacy, name) != NULL;
}

const char *sm_privacy_default(const sm_user *u)
{
    return u->privacy ? u->privacy->def : NULL;
}

void sm_privacy_names(const sm_user *u, void (*fn)(void *ud, const char *name), void *ud)
{
    for (size_t i = 0; u->privacy && i < u->privacy->n; i++) fn(ud, u->privacy->lists[i].name);
}

xml_node *sm_privacy_list_xml(const sm_user *u, const char *name)
{
    const priv_list *l = list_find(u->privacy, name);
    if (!l) return NULL;
    xml_node *x = xml_node_new("list", NS_PRIVACY);
    if (!x || xml_attr_set(x, "name", l->name) < 0) goto fail;
    for (size_t i = 0; i < l->n; i++) {
        const priv_item *it = &l->items[i];
        char order[24];
        snprintf(order, sizeof order, "%llu", it->order);
        xml_node *e = xml_add_child(x, "item", NS_PRIVACY);
        if (!e || (it->type != PT_ANY && (xml_attr_set(e, "type", priv_type_names[it->type]) < 0 ||
                                          xml_attr_set(e, "value", it->value) < 0)) ||
            xml_attr_set(e, "action", it->deny ? "deny" : "allow") < 0 || xml_attr_set(e, "order", order) < 0)
            goto fail;
        for (size_t m = 0; m < sizeof priv_kind_names / sizeof priv_kind_names[0]; m++)
            if ((it->kinds & priv_kind_names[m].bit) && !xml_add_child(e, priv_kind_names[m].name, NS_PRIVACY)) goto fail;
    }
    return x;
fail:
    xml_node_free(&x);
    return NULL;
}

/* Non-zero if some roster item of u is in group g. */
static int roster_has_group(const sm_user *u, const char *g)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&u->roster, &pos, NULL, &v)) {
        const sm_contact *c = v;
        for (size_t i = 0; !c->hidden && i < c->ngroups; i++)
            if (strcmp(c->groups[i], g) == 0) return 1;
    }
    return 0;
}

/* One <item/> into it. NULL or the condition. */
static const char *item_from_xml(const sm_user *u, const xml_node *e, priv_item *it)
{
    const char *type = xml_attr_get(e, "type"), *value = xml_attr_get(e, "value");
    const char *action = xml_attr_get(e, "action"), *order = xml_attr_get(e, "order");
    char *end = NULL;
    if (strcmp(e->name, "item") != 0 || strcmp(e->ns, NS_PRIVACY) != 0) return "bad-request";
    if (!action || (strcmp(action, "allow") != 0 && strcmp(action, "deny") != 0)) return "bad-request";
    if (!order || !*order || *order == '-' || *order == '+') return "bad-request";
    it->order = strtoull(order, &end, 10);
    if (*end) return "bad-request";
    it->deny = action[0] == 'd';
    for (const xml_node *k = xml_child(e, NULL, NULL); k; k = xml_child_next(e, k, NULL, NULL)) {
        unsigned bit = 0;
        for (size_t m = 0; m < sizeof priv_kind_names / sizeof priv_kind_names[0]; m++)
            if (strcmp(k->name, priv_kind_names[m].name) == 0 && strcmp(k->ns, NS_PRIVACY) == 0) bit = priv_kind_names[m].bit;
        if (!bit) return "bad-request";
        it->kinds |= bit;
    }
    if (!type) return value ? "bad-request" : NULL;
    if (!value) return "bad-request";
    if (strcmp(type, "jid") == 0) {
        jid_t j;
        char norm[SM_JID_MAX];
        if (jid_parse(value, &j) < 0 || jid_full(&j, norm, sizeof norm) < 0) return "jid-malformed";
        return item_set_jid(it, norm) < 0 ? "internal-server-error" : NULL;
    }
    if (strcmp(type, "group") == 0) {
        if (!roster_has_group(u, value)) return "item-not-found";
        it->type = PT_GROUP;
    } else if (strcmp(type, "subscription") == 0) {
        if (strcmp(value, "none") && strcmp(value, "to") && strcmp(value, "from") && strcmp(value, "both"))
            return "bad-request";
        it->type = PT_SUB;
    } else {
        return "bad-request";
    }
    it->value = strdup(value);
    return it->value ? NULL : "internal-server-error";
}

const char *sm_privacy_put(const sm_t *sm, sm_user *u, const xml_node *list, json_t **req)
{
    const char *name = xml_attr_get(list, "name");
    priv_list nl = {0};
    const char *cond = NULL;
    *req = NULL;
    if (!name || !*name) return "bad-request";
    if (xml_child_count(list) > sm->max_privacy_items ||
        (!list_find(u->privacy, name) && u->privacy && u->privacy->n >= sm->max_privacy_lists))
        return "policy-violation";
    nl.items = calloc(xml_child_count(list) + 1, sizeof *nl.items);
    nl.name = strdup(name);
    if (!nl.items || !nl.name) cond = "internal-server-error";
    for (const xml_node *e = xml_child(list, NULL, NULL); !cond && e; e = xml_child_next(list, e, NULL, NULL)) {
        cond = item_from_xml(u, e, &nl.items[nl.n]);
        for (size_t i = 0; !cond && i < nl.n; i++)
            if (nl.items[i].order == nl.items[nl.n].order) cond = "bad-request";   /* orders must be unique */
        nl.n++;
    }
    struct sm_privacy *p = cond ? NULL : privacy_get(u);
    if (!cond && !p) cond = "internal-server-error";
    if (cond) {
        list_clear(&nl);
        return cond;
    }
    qsort(nl.items, nl.n, sizeof *nl.items, item_cmp);
    priv_list *old = list_find(p, name);
    if (!old) {
        priv_list *grown = realloc(p->lists, (p->n + 1) * sizeof *p->lists);
        if (!grown) {
            list_clear(&nl);
            return "internal-server-error";
        }
        p->lists = grown;
        old = &p->lists[p->n++];
        memset(old, 0, sizeof *old);
    }
    list_clear(old);
    *old = nl;
    *req = list_store_req(u, old);
    return NULL;
}

json_t *sm_privacy_remove(sm_user *u, const char *name)
{
    struct sm_privacy *p = u->privacy;
    priv_list *l = list_find(p, name);
    if (!l) return NULL;
    list_clear(l);
    *l = p->lists[--p->n];
    return json_pack("{s:s, s:s, s:s, s:s}", "op", "data.del", "jid", u->bare, "kind", "privacy", "key", name);
}

json_t *sm_privacy_set_default(sm_user *u, const char *name)
{
    struct sm_privacy *p = privacy_get(u);
    if (!p) return NULL;
    free(p->def);
    p->def = dup_or_null(name);
    if (!name) return json_pack("{s:s, s:s, s:s}", "op", "data.del", "jid", u->bare, "kind", "privacy.default");
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "data.put", "jid", u->bare, "kind", "privacy.default", "key",
                     "", "value", name);
}
