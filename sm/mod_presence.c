/*
 * mod_presence.c - presence of the user's own sessions (RFC 6121 section
 * 4), the part that needs no roster.
 *
 * Presence without 'to' from a session sets its availability and priority
 * (kept in the session and in Redis, with a copy of the last available
 * presence for later probe answers) and is broadcast to the user's
 * available resources, the sender included (4.2.2, 4.4.2; 4.5.2 for
 * unavailable, which goes to the others). When an available session ends
 * without saying so, the others get its unavailable presence.
 *
 * Broadcast to contacts, probes, directed-presence tracking and
 * subscriptions come with rosters: presence_broadcast() is where the
 * contacts are added, and inbound probes are dropped here until then.
 */
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "log.h"
#include "mod.h"
#include "session.h"
#include "stanza.h"

/* The <priority/> of an available presence: 0 when absent or not an
 * integer, clamped to -128..127 (RFC 6121 4.7.2.3). */
static int presence_prio(const xml_node *st)
{
    xml_node *p = xml_child(st, "priority", NS_CLIENT);
    char *txt = p ? xml_text(p) : NULL, *end = NULL;
    long v = txt ? strtol(txt, &end, 10) : 0;
    int ok = txt && end != txt && strspn(end, " \t\r\n") == strlen(end);
    free(txt);
    if (!ok) return 0;
    return v < SM_PRIO_MIN ? SM_PRIO_MIN : v > SM_PRIO_MAX ? SM_PRIO_MAX : (int)v;
}

/* Send a presence of session s to where its broadcasts go. */
static void presence_broadcast(sm_t *sm, const sm_session *s, const xml_node *st)
{
    sm_deliver_user(sm, s->user, st, SM_SEL_AVAILABLE, NULL);
    /* roster issue: also to contacts with a 'from' or 'both' subscription */
}

static void presence_available(sm_t *sm, sm_session *s, const xml_node *st)
{
    xml_node *copy = xml_node_copy(st);
    s->prio = presence_prio(st);
    s->avail = 1;
    xml_node_free(&s->presence);
    s->presence = copy;
    sm_session_save(sm, s);
    presence_broadcast(sm, s, st);
}

static void presence_unavailable(sm_t *sm, sm_session *s, const xml_node *st)
{
    int was = s->avail;
    s->avail = 0;
    xml_node_free(&s->presence);
    sm_session_save(sm, s);
    if (was) presence_broadcast(sm, s, st);
}

static int presence_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (to || strcmp(st->name, "presence") != 0) return SM_PASS;
    const char *type = xml_attr_get(st, "type");
    if (!type) presence_available(sm, s, st);
    else if (strcmp(type, "unavailable") == 0) presence_unavailable(sm, s, st);
    else log_msg(LOG_DEBUG, sm->trace, "ignored presence type=%s without 'to' from %s", type, s->full);
    return SM_HANDLED;
}

static int presence_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    const char *type = xml_attr_get(st, "type");
    if (strcmp(st->name, "presence") != 0 || !type || strcmp(type, "probe") != 0) return SM_PASS;
    log_msg(LOG_DEBUG, sm->trace, "probe from %s dropped (no rosters yet)",
            xml_attr_get(st, "from") ? xml_attr_get(st, "from") : "-");
    return SM_HANDLED;
}

static void presence_session_end(sm_t *sm, sm_session *s, const char *reason)
{
    if (!s->avail) return;
    s->avail = 0;
    xml_node *p = xml_node_new("presence", NS_CLIENT);
    if (p && xml_attr_set(p, "from", s->full) == 0 && xml_attr_set(p, "type", "unavailable") == 0)
        presence_broadcast(sm, s, p);
    xml_node_free(&p);
}

const sm_module mod_presence = {
    .name = "presence",
    .session_end = presence_session_end,
    .out = presence_out,
    .in = presence_in,
};
