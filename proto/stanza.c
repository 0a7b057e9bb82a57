/*
 * stanza.c - stanza error table and reply builders (see stanza.h).
 */
#include "stanza.h"

#include <string.h>

static const struct { const char *cond, *type; } stanza_errors[] = {
    {"bad-request", "modify"},
    {"conflict", "cancel"},
    {"feature-not-implemented", "cancel"},
    {"forbidden", "auth"},
    {"gone", "cancel"},
    {"internal-server-error", "cancel"},
    {"item-not-found", "cancel"},
    {"jid-malformed", "modify"},
    {"not-acceptable", "modify"},
    {"not-allowed", "cancel"},
    {"not-authorized", "auth"},
    {"policy-violation", "modify"},
    {"recipient-unavailable", "wait"},
    {"redirect", "modify"},
    {"registration-required", "auth"},
    {"remote-server-not-found", "cancel"},
    {"remote-server-timeout", "wait"},
    {"resource-constraint", "wait"},
    {"service-unavailable", "cancel"},
    {"subscription-required", "auth"},
    {"undefined-condition", "cancel"},
    {"unexpected-request", "wait"},
};

const char *stanza_error_type(const char *condition)
{
    for (size_t i = 0; i < sizeof stanza_errors / sizeof stanza_errors[0]; i++)
        if (strcmp(stanza_errors[i].cond, condition) == 0) return stanza_errors[i].type;
    return NULL;
}

int stanza_is_error_or_result(const xml_node *st)
{
    const char *type = xml_attr_get(st, "type");
    if (!type) return 0;
    if (strcmp(type, "error") == 0) return 1;
    return strcmp(st->name, "iq") == 0 && strcmp(type, "result") == 0;
}

/* New stanza named like orig with from/to swapped and the same id. */
static xml_node *stanza_reply_base(const xml_node *orig)
{
    xml_node *r = xml_node_new(orig->name, orig->ns);
    if (!r) return NULL;
    const char *from = xml_attr_get(orig, "from"), *to = xml_attr_get(orig, "to");
    const char *id = xml_attr_get(orig, "id");
    if ((from && xml_attr_set(r, "to", from) < 0) || (to && xml_attr_set(r, "from", to) < 0) ||
        (id && xml_attr_set(r, "id", id) < 0)) {
        xml_node_free(&r);
    }
    return r;
}

xml_node *stanza_error_reply(const xml_node *orig, const char *condition, const char *text)
{
    const char *etype = stanza_error_type(condition);
    xml_node *r = stanza_reply_base(orig);
    if (!r || !etype) {
        xml_node_free(&r);
        return NULL;
    }
    xml_attr_set(r, "type", "error");
    int is_iq = strcmp(orig->name, "iq") == 0;
    for (const xml_node *c = orig->first; c; c = c->next) {
        if (!c->name) continue;
        if (strcmp(c->name, "error") == 0 && strcmp(c->ns, orig->ns) == 0) continue;
        xml_node *copy = xml_node_copy(c);
        if (copy) xml_append(r, copy);
        if (is_iq) break;
    }
    xml_node *e = xml_add_child(r, "error", orig->ns);
    if (!e || xml_attr_set(e, "type", etype) < 0 || !xml_add_child(e, condition, NS_STANZAS)) {
        xml_node_free(&r);
        return NULL;
    }
    if (text) {
        xml_node *t = xml_add_child(e, "text", NS_STANZAS);
        if (t) xml_add_text(t, text, strlen(text));
    }
    return r;
}

xml_node *stanza_iq_result(const xml_node *iq)
{
    xml_node *r = stanza_reply_base(iq);
    if (r && xml_attr_set(r, "type", "result") < 0) xml_node_free(&r);
    return r;
}
