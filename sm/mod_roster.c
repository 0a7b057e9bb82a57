/*
 * mod_roster.c - RFC 6121 section 2 rosters. For now a roster get answers
 * an empty roster; storage, set, pushes and versioning come with the
 * roster issue and live here.
 */
#include "iq.h"
#include "mod.h"
#include "stanza.h"

static const char *roster_get(sm_t *sm, sm_session *s, const xml_node *iq, const xml_node *payload)
{
    xml_node *q = xml_node_new("query", NS_ROSTER);
    if (!q) return "internal-server-error";
    return sm_iq_reply(sm, s, iq, q) < 0 ? "internal-server-error" : NULL;
}

static const sm_iq_handler roster_iq[] = {
    {"query", NS_ROSTER, "get", SM_IQ_ACCOUNT, roster_get},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_roster = {
    .name = "roster",
    .iq = roster_iq,
};
