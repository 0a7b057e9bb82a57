/*
 * mod_subscription.c - presence subscriptions (RFC 6121 section 3): the
 * state tables of Appendix A, row by row.
 *
 * Outbound (out hook): presence of type subscribe, subscribed, unsubscribe
 * or unsubscribed from a local session to an account of our domain is
 * stamped with the user's bare JID, addressed to the contact's bare JID,
 * changes the user's row for the contact by table A.2.x and goes to the
 * contact by the inbound path when the row says so. Inbound (in hook): the
 * same four types addressed to a local user, bare or full JID (processed
 * as if to the bare JID), change the row by table A.3.x, are delivered
 * when the row says so, and may be answered on the user's behalf.
 * Stanzas for an account that does not exist are ignored (8.5.1).
 *
 * Each table maps the nine states of A.1 to a new state and the actions
 * of that row (flags below). What the tables leave to the implementation:
 *   - a roster push goes out when the item's visible state (subscription,
 *     ask, approved, being an item at all) changes; a row without visible
 *     change (e.g. a re-sent subscribe) pushes nothing;
 *   - pre-approval (3.4) is supported: outbound subscribed in None, None +
 *     Pending Out or To sets approved (creating the item if needed) and is
 *     not routed; an inbound subscribe then gets the pre-approved rows;
 *   - an inbound subscribe that needs approval is stored (pending.put)
 *     whether or not the user is online, and delivered to each session
 *     when it sends initial presence until it is answered (3.1.3);
 *   - inbound subscribed/unsubscribe/unsubscribed go to the sessions that
 *     asked for the roster or are available; subscribe to the available
 *     ones;
 *   - after approving (or auto-approving, and when answering a re-sent
 *     subscribe with subscribed) the user's current presence goes to the
 *     contact; when the contact's subscription ends, unavailable does.
 * Order, so that local hand-overs (which run to completion before
 * sm_route_inbound returns) never see or undo a half-made change: state
 * and storage first, then outbound: push, route; inbound: deliver, push,
 * replies.
 */
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "load.h"
#include "log.h"
#include "mod.h"
#include "presence.h"
#include "roster.h"
#include "route.h"
#include "stanza.h"

/* The subscription states of RFC 6121 A.1 (user's view of one contact). */
enum {
    S_NONE, S_NONE_PO, S_NONE_PI, S_NONE_POPI, S_TO, S_TO_PI, S_FROM, S_FROM_PO, S_BOTH, S_COUNT
};

static const struct {
    unsigned sub, ask, pin;        /* the row fields of the state */
    const char *name;
} sub_states[S_COUNT] = {
    [S_NONE] = {0, 0, 0, "None"},
    [S_NONE_PO] = {0, 1, 0, "None+PendingOut"},
    [S_NONE_PI] = {0, 0, 1, "None+PendingIn"},
    [S_NONE_POPI] = {0, 1, 1, "None+PendingOut+In"},
    [S_TO] = {SM_SUB_TO, 0, 0, "To"},
    [S_TO_PI] = {SM_SUB_TO, 0, 1, "To+PendingIn"},
    [S_FROM] = {SM_SUB_FROM, 0, 0, "From"},
    [S_FROM_PO] = {SM_SUB_FROM, 1, 0, "From+PendingOut"},
    [S_BOTH] = {SM_SUB_TO | SM_SUB_FROM, 0, 0, "Both"},
};

/* Actions of a table row. */
#define SEND      0x01   /* outbound: route to the contact; inbound: deliver to the user */
#define ITEM      0x02   /* outbound: the contact becomes an item of the roster */
#define APPROVE   0x04   /* set the pre-approval (3.4.2 rule 3/4) */
#define UNAPPROVE 0x08   /* cancel a pre-approval (3.2.2 rule 2) */
#define REPLY_SUB 0x10   /* inbound: answer subscribed on the user's behalf */
#define REPLY_UNS 0x20   /* inbound: answer unsubscribed on the user's behalf */
#define PRESENCE  0x40   /* then send the user's current presence to the contact */
#define UNAVAIL   0x80   /* first send unavailable from the user's resources to the contact */

typedef struct sub_row {
    unsigned char next;            /* new state */
    unsigned char act;             /* actions */
} sub_row;

typedef struct sub_table {
    const char *name;              /* for logs: "out subscribe" */
    int out;                       /* 1: outbound (A.2), 0: inbound (A.3) */
    sub_row rows[S_COUNT];         /* by existing state */
} sub_table;

#define ROW(from, to, act) [from] = {to, act}

/* A.2.1 outbound subscribe (table 2): always routed. */
static const sub_table out_subscribe = {"out subscribe", 1, {
    ROW(S_NONE, S_NONE_PO, SEND | ITEM),       ROW(S_NONE_PO, S_NONE_PO, SEND | ITEM),
    ROW(S_NONE_PI, S_NONE_POPI, SEND | ITEM),  ROW(S_NONE_POPI, S_NONE_POPI, SEND | ITEM),
    ROW(S_TO, S_TO, SEND | ITEM),              ROW(S_TO_PI, S_TO_PI, SEND | ITEM),
    ROW(S_FROM, S_FROM_PO, SEND | ITEM),       ROW(S_FROM_PO, S_FROM_PO, SEND | ITEM),
    ROW(S_BOTH, S_BOTH, SEND | ITEM),
}};

/* A.2.2 outbound unsubscribe (table 3): always routed. */
static const sub_table out_unsubscribe = {"out unsubscribe", 1, {
    ROW(S_NONE, S_NONE, SEND),                 ROW(S_NONE_PO, S_NONE, SEND),
    ROW(S_NONE_PI, S_NONE_PI, SEND),           ROW(S_NONE_POPI, S_NONE_PI, SEND),
    ROW(S_TO, S_NONE, SEND),                   ROW(S_TO_PI, S_NONE_PI, SEND),
    ROW(S_FROM, S_FROM, SEND),                 ROW(S_FROM_PO, S_FROM, SEND),
    ROW(S_BOTH, S_FROM, SEND),
}};

/* A.2.3 outbound subscribed (table 4, 3.4.2): approval or pre-approval. */
static const sub_table out_subscribed = {"out subscribed", 1, {
    ROW(S_NONE, S_NONE, ITEM | APPROVE),       ROW(S_NONE_PO, S_NONE_PO, ITEM | APPROVE),
    ROW(S_NONE_PI, S_FROM, SEND | ITEM | PRESENCE),
    ROW(S_NONE_POPI, S_FROM_PO, SEND | ITEM | PRESENCE),
    ROW(S_TO, S_TO, ITEM | APPROVE),           ROW(S_TO_PI, S_BOTH, SEND | ITEM | PRESENCE),
    ROW(S_FROM, S_FROM, 0),                    ROW(S_FROM_PO, S_FROM_PO, 0),
    ROW(S_BOTH, S_BOTH, 0),
}};

/* A.2.4 outbound unsubscribed (table 5, 3.2.2). */
static const sub_table out_unsubscribed = {"out unsubscribed", 1, {
    ROW(S_NONE, S_NONE, UNAPPROVE),            ROW(S_NONE_PO, S_NONE_PO, UNAPPROVE),
    ROW(S_NONE_PI, S_NONE, SEND),              ROW(S_NONE_POPI, S_NONE_PO, SEND),
    ROW(S_TO, S_TO, UNAPPROVE),                ROW(S_TO_PI, S_TO, SEND),
    ROW(S_FROM, S_NONE, SEND | UNAVAIL),       ROW(S_FROM_PO, S_NONE_PO, SEND | UNAVAIL),
    ROW(S_BOTH, S_TO, SEND | UNAVAIL),
}};

/* A.3.1 inbound subscribe (table 6). */
static const sub_table in_subscribe = {"in subscribe", 0, {
    ROW(S_NONE, S_NONE_PI, SEND),              ROW(S_NONE_PO, S_NONE_POPI, SEND),
    ROW(S_NONE_PI, S_NONE_PI, 0),              ROW(S_NONE_POPI, S_NONE_POPI, 0),
    ROW(S_TO, S_TO_PI, SEND),                  ROW(S_TO_PI, S_TO_PI, 0),
    ROW(S_FROM, S_FROM, REPLY_SUB | PRESENCE), ROW(S_FROM_PO, S_FROM_PO, REPLY_SUB | PRESENCE),
    ROW(S_BOTH, S_BOTH, REPLY_SUB | PRESENCE),
}};

/* A.3.1 note [1] and 3.4.2: inbound subscribe when the user pre-approved
 * the contact (approved is only set in None, None + Pending Out, To). */
static const sub_table in_subscribe_approved = {"in subscribe (pre-approved)", 0, {
    ROW(S_NONE, S_FROM, REPLY_SUB | PRESENCE), ROW(S_NONE_PO, S_FROM_PO, REPLY_SUB | PRESENCE),
    ROW(S_NONE_PI, S_NONE_PI, 0),              ROW(S_NONE_POPI, S_NONE_POPI, 0),
    ROW(S_TO, S_BOTH, REPLY_SUB | PRESENCE),   ROW(S_TO_PI, S_TO_PI, 0),
    ROW(S_FROM, S_FROM, REPLY_SUB | PRESENCE), ROW(S_FROM_PO, S_FROM_PO, REPLY_SUB | PRESENCE),
    ROW(S_BOTH, S_BOTH, REPLY_SUB | PRESENCE),
}};

/* A.3.2 inbound unsubscribe (table 7). */
static const sub_table in_unsubscribe = {"in unsubscribe", 0, {
    ROW(S_NONE, S_NONE, 0),                    ROW(S_NONE_PO, S_NONE_PO, 0),
    ROW(S_NONE_PI, S_NONE, SEND | REPLY_UNS),  ROW(S_NONE_POPI, S_NONE_PO, SEND | REPLY_UNS),
    ROW(S_TO, S_TO, 0),                        ROW(S_TO_PI, S_TO, SEND | REPLY_UNS),
    ROW(S_FROM, S_NONE, SEND | REPLY_UNS | UNAVAIL),
    ROW(S_FROM_PO, S_NONE_PO, SEND | REPLY_UNS | UNAVAIL),
    ROW(S_BOTH, S_TO, SEND | REPLY_UNS | UNAVAIL),
}};

/* A.3.3 inbound subscribed (table 8). */
static const sub_table in_subscribed = {"in subscribed", 0, {
    ROW(S_NONE, S_NONE, 0),                    ROW(S_NONE_PO, S_TO, SEND),
    ROW(S_NONE_PI, S_NONE_PI, 0),              ROW(S_NONE_POPI, S_TO_PI, SEND),
    ROW(S_TO, S_TO, 0),                        ROW(S_TO_PI, S_TO_PI, 0),
    ROW(S_FROM, S_FROM, 0),                    ROW(S_FROM_PO, S_BOTH, SEND),
    ROW(S_BOTH, S_BOTH, 0),
}};

/* A.3.4 inbound unsubscribed (table 9). */
static const sub_table in_unsubscribed = {"in unsubscribed", 0, {
    ROW(S_NONE, S_NONE, 0),                    ROW(S_NONE_PO, S_NONE, SEND),
    ROW(S_NONE_PI, S_NONE_PI, 0),              ROW(S_NONE_POPI, S_NONE_PI, SEND),
    ROW(S_TO, S_NONE, SEND),                   ROW(S_TO_PI, S_NONE_PI, SEND),
    ROW(S_FROM, S_FROM, 0),                    ROW(S_FROM_PO, S_FROM, SEND),
    ROW(S_BOTH, S_FROM, SEND),
}};

/* The tables by presence type, outbound and inbound. */
static const struct {
    const char *type;
    const sub_table *out, *in, *in_approved;
} sub_types[] = {
    {"subscribe", &out_subscribe, &in_subscribe, &in_subscribe_approved},
    {"subscribed", &out_subscribed, &in_subscribed, NULL},
    {"unsubscribe", &out_unsubscribe, &in_unsubscribe, NULL},
    {"unsubscribed", &out_unsubscribed, &in_unsubscribed, NULL},
};

#define SUB_NTYPES (sizeof sub_types / sizeof sub_types[0])

/* Index in sub_types of a presence type, or -1. */
static int sub_type(const char *type)
{
    for (size_t i = 0; type && i < SUB_NTYPES; i++)
        if (strcmp(sub_types[i].type, type) == 0) return (int)i;
    return -1;
}

/* The A.1 state of a row (no row: None). */
static int sub_state(const sm_contact *c)
{
    if (!c) return S_NONE;
    switch (c->sub & (SM_SUB_TO | SM_SUB_FROM)) {
    case 0: return c->ask ? (c->pending_in ? S_NONE_POPI : S_NONE_PO) : (c->pending_in ? S_NONE_PI : S_NONE);
    case SM_SUB_TO: return c->pending_in ? S_TO_PI : S_TO;
    case SM_SUB_FROM: return c->ask ? S_FROM_PO : S_FROM;
    default: return S_BOTH;
    }
}

/* The row fields after a transition (see sub_apply). */
typedef struct sub_after {
    unsigned sub, ask, pin, approved, visible;
} sub_after;

static sub_after sub_next(const sm_contact *c, const sub_row *row)
{
    sub_after a = {sub_states[row->next].sub, sub_states[row->next].ask, sub_states[row->next].pin,
                   c && c->approved, sm_roster_visible(c) || (row->act & ITEM)};
    if (row->act & APPROVE) a.approved = 1;
    if (row->act & UNAPPROVE) a.approved = 0;
    if ((a.sub & SM_SUB_FROM) || a.pin) a.approved = 0;   /* approval is done or answered */
    return a;
}

/* Deliver st to the user: subscribe to the available sessions, the other
 * types to the interested ones (3.1.6, 3.2.3, 3.3.3) and available ones. */
static void sub_deliver(sm_t *sm, sm_user *u, const xml_node *st, int subscribe)
{
    if (subscribe) {
        sm_deliver_user(sm, u, st, SM_SEL_AVAILABLE, NULL);
        return;
    }
    for (sm_session *s = u->sessions; s; s = s->next)
        if (s->avail || s->roster_requested) sm_deliver(sm, s, st);
}

/* Apply row of table t to u's row c for contact (c may be NULL): memory
 * and storage. Returns the item to push (or NULL) and its version. c is
 * not valid afterwards. */
static xml_node *sub_apply(sm_t *sm, sm_user *u, sm_contact *c, const char *contact, const sub_row *row,
                           const xml_node *st, unsigned long long *ver)
{
    sub_after a = sub_next(c, row);
    int was_visible = sm_roster_visible(c), had_pin = c && c->pending_in;
    int vis_change = a.visible && (!was_visible || a.sub != c->sub || a.ask != c->ask || a.approved != c->approved);
    int change = c ? vis_change || a.pin != c->pending_in || a.approved != c->approved || a.sub != c->sub ||
                         a.ask != c->ask
                   : a.visible || a.sub || a.ask || a.pin || a.approved;
    if (had_pin && !a.pin) sm_roster_pending_del(sm, u, contact);
    if (!had_pin && a.pin) sm_roster_pending_put(sm, u, contact, st);
    if (!change) return NULL;
    if (!c && !(c = sm_roster_add(u, contact))) return NULL;
    c->sub = a.sub;
    c->ask = a.ask;
    c->pending_in = a.pin;
    c->approved = a.approved;
    c->hidden = !a.visible;
    if (!a.visible && !a.sub && !a.ask && !a.pin && !a.approved) {
        sm_roster_delete(sm, u, c);      /* a hidden row with nothing left to keep */
        return NULL;
    }
    sm_roster_store(sm, u, c, vis_change, 0);
    *ver = c->ver;
    return vis_change ? sm_roster_item(c) : NULL;
}

/* Process subscription stanza st between u and contact by table t (or
 * t_approved when u pre-approved the contact). s is the sending session
 * of an outbound stanza, NULL for inbound. */
static void sub_process(sm_t *sm, sm_user *u, sm_session *s, const char *contact, const sub_table *t,
                        const sub_table *t_approved, xml_node *st)
{
    sm_contact *c = sm_roster_find(u, contact);
    if (t_approved && c && c->approved) t = t_approved;
    int from = sub_state(c);
    const sub_row *row = &t->rows[from];
    if (t->out && (row->act & ITEM) && !sm_roster_visible(c) && sm_roster_count(u) >= sm->max_roster_items) {
        log_msg(LOG_DEBUG, sm->trace, "sub %s %s->%s refused: roster full", t->name, u->bare, contact);
        if (s) xml_attr_set(st, "from", s->full);
        sm_route_bounce(sm, st, "not-allowed");
        return;
    }
    if (log_enabled(LOG_DEBUG))
        log_msg(LOG_DEBUG, sm->trace, "sub %s %s->%s: %s -> %s%s", t->name, t->out ? u->bare : contact,
                t->out ? contact : u->bare, sub_states[from].name, sub_states[row->next].name,
                (row->act & APPROVE) ? " (pre-approved)"
                : ((row->act & UNAPPROVE) && c && c->approved) ? " (pre-approval cancelled)" : "");
    const char *id = xml_attr_get(st, "id");
    unsigned long long ver = 0;
    xml_node *push = sub_apply(sm, u, c, contact, row, st, &ver);
    jid_t to;
    if (t->out) {
        sm_roster_push(sm, u, push, ver);
        if (row->act & UNAVAIL) sm_presence_send_unavailable(sm, u, contact);
        if ((row->act & SEND) && jid_parse(contact, &to) == 0) sm_route_inbound(sm, st, &to);
    } else {
        if (row->act & SEND) sub_deliver(sm, u, st, t == &in_subscribe);
        sm_roster_push(sm, u, push, ver);
        if (row->act & UNAVAIL) sm_presence_send_unavailable(sm, u, contact);
        if (row->act & REPLY_SUB) sm_roster_send(sm, u, contact, "subscribed", id);
        if (row->act & REPLY_UNS) sm_roster_send(sm, u, contact, "unsubscribed", id);
    }
    if (row->act & PRESENCE) sm_presence_send_current(sm, u, contact);
}

/* Deliver every stored subscription request of s's user to s, which is
 * sending its initial presence (3.1.3 rule 4). */
static void sub_redeliver(sm_t *sm, sm_session *s)
{
    size_t pos = 0;
    const char *contact;
    void *v;
    while (hmap_next(&s->user->pending, &pos, &contact, &v)) {
        const sm_contact *c = sm_roster_find(s->user, contact);
        xml_node *st = c && c->pending_in ? xml_parse_document(v, strlen(v)) : NULL;
        if (st) {
            log_msg(LOG_DEBUG, sm->trace, "pending subscribe from %s to %s", contact, s->full);
            sm_deliver(sm, s, st);
        }
        xml_node_free(&st);
    }
}

/* The bare JID of j into out (SM_JID_MAX). 0/-1. */
static int sub_bare(const jid_t *j, char *out)
{
    return jid_bare(j, out, SM_JID_MAX) < 0 ? -1 : 0;
}

static int sub_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (strcmp(st->name, "presence") != 0) return SM_PASS;
    const char *type = xml_attr_get(st, "type");
    if (!to) {
        if (!type && !s->avail) sub_redeliver(sm, s);
        return SM_PASS;
    }
    int t = sub_type(type);
    char contact[SM_JID_MAX];
    if (t < 0 || !jid_has_local(to) || strcmp(to->domain, sm->domain) != 0 || sub_bare(to, contact) < 0)
        return SM_PASS;   /* not ours, or routing answers it (remote domain) */
    if (xml_attr_set(st, "from", s->user->bare) < 0 || xml_attr_set(st, "to", contact) < 0) return SM_HANDLED;
    sub_process(sm, s->user, s, contact, sub_types[t].out, NULL, st);
    return SM_HANDLED;
}

static int sub_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    if (strcmp(st->name, "presence") != 0) return SM_PASS;
    int t = sub_type(xml_attr_get(st, "type"));
    if (t < 0) return SM_PASS;
    const char *from_s = xml_attr_get(st, "from");
    jid_t from;
    char contact[SM_JID_MAX];
    if (!u || !u->exists || !from_s || jid_parse(from_s, &from) < 0 || sub_bare(&from, contact) < 0) {
        log_msg(LOG_DEBUG, sm->trace, "ignored %s from %s to %s", sub_types[t].type, from_s ? from_s : "-",
                u ? u->bare : "-");
        return SM_HANDLED;
    }
    if (xml_attr_set(st, "from", contact) < 0 || xml_attr_set(st, "to", u->bare) < 0) return SM_HANDLED;
    sub_process(sm, u, NULL, contact, sub_types[t].in, sub_types[t].in_approved, st);
    return SM_HANDLED;
}

const sm_module mod_subscription = {
    .name = "subscription",
    .out = sub_out,
    .in = sub_in,
};
