/*
 * mod_presence.c - presence exchange (RFC 6121 section 4) for this
 * shard's users; the subscription states it reads are kept by
 * mod_subscription.c in the users' rosters (sm_user.roster).
 *
 * Outbound, from a session:
 *   no 'to', available    initial presence (the session was not available):
 *                         broadcast from the session's full JID to every
 *                         contact with a 'from' subscription and to the
 *                         user's available resources (the sender too), the
 *                         other resources' presence to the new session, and
 *                         a probe from the bare JID to every contact with a
 *                         'to' subscription; an update: the same broadcast,
 *                         nothing else (4.2.2, 4.4.2)
 *   no 'to', unavailable  the broadcast above, the sender included, then
 *                         unavailable to every JID holding directed
 *                         presence from the session; the last unavailable
 *                         of the user is stored ("presence.last") (4.5.2)
 *   with 'to'             directed presence (4.6.3): routed as it is; an
 *                         available one is remembered in the session's list
 *                         unless the target gets the broadcasts anyway (a
 *                         'from' contact while the session is available);
 *                         an unavailable one takes the target off the list
 *   probe, error          routed as they are when they have a 'to'
 *   subscription types    left to mod_subscription and the default routing
 * A session ending while available or holding directed presence (logout,
 * connection loss, replacement) sends the unavailable broadcast for it.
 *
 * Inbound, for a loaded local user: probes are answered here (4.3.2, see
 * presence_probe); an unavailable from someone takes them off the user's
 * directed lists; everything else goes on to the delivery rules.
 *
 * Choices where the RFC leaves room: a probe for an account that has
 * never been online (no session, no stored unavailable) is answered with
 * a bare <presence type='unavailable'/> without <delay/>; an unauthorized
 * prober gets type='unsubscribed' (4.3.2 rule 1) unless it holds directed
 * presence, which it gets confirmed as mere presence (4.6.6); a probe to
 * a full JID answers mere presence for that resource only, unavailable
 * when it is not available.
 */
#include "presence.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "deliver.h"
#include "log.h"
#include "mod.h"
#include "route.h"
#include "session.h"
#include "sm_storage.h"
#include "privacy.h"
#include "session.h"
#include "stanza.h"

/* Presence types (RFC 6121 4.7.1); PT_BAD for anything else. */
typedef enum presence_type {
    PT_AVAILABLE, PT_UNAVAILABLE, PT_PROBE, PT_ERROR, PT_SUBSCRIPTION, PT_BAD
} presence_type;

/* A list of JIDs (owned copies), so that routing cannot pull a roster or
 * a directed list from under the loop that walks it. */
typedef struct jid_list {
    char **v;
    size_t n;
} jid_list;

static presence_type presence_type_of(const xml_node *st)
{
    static const struct { const char *name; presence_type t; } types[] = {
        {"unavailable", PT_UNAVAILABLE}, {"probe", PT_PROBE}, {"error", PT_ERROR},
        {"subscribe", PT_SUBSCRIPTION}, {"subscribed", PT_SUBSCRIPTION},
        {"unsubscribe", PT_SUBSCRIPTION}, {"unsubscribed", PT_SUBSCRIPTION},
    };
    const char *type = xml_attr_get(st, "type");
    if (!type) return PT_AVAILABLE;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].name) == 0) return types[i].t;
    return PT_BAD;
}

int sm_presence_priority(const xml_node *st)
{
    xml_node *p = xml_child(st, "priority", NS_CLIENT);
    char *txt = p ? xml_text(p) : NULL, *end = NULL;
    long v = txt ? strtol(txt, &end, 10) : 0;
    int ok = txt && end != txt && strspn(end, " \t\r\n") == strlen(end);
    free(txt);
    if (!ok) return 0;
    return v < SM_PRIO_MIN ? SM_PRIO_MIN : v > SM_PRIO_MAX ? SM_PRIO_MAX : (int)v;
}

static void jid_list_add(jid_list *l, const char *jid)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return;
    l->v = v;
    if ((l->v[l->n] = strdup(jid))) l->n++;
}

static void jid_list_free(jid_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* The roster row of `bare` if it is a roster item (not a hidden state
 * row) with the subscription bit `bit`, else NULL. */
static const sm_contact *presence_contact(const sm_user *u, const char *bare, unsigned bit)
{
    const sm_contact *c = hmap_get(&u->roster, bare);
    return c && !c->hidden && (c->sub & bit) ? c : NULL;
}

/* The contacts of u with subscription bit `bit`, u itself left out. */
static void presence_contacts(const sm_user *u, unsigned bit, jid_list *out)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&u->roster, &pos, NULL, &v)) {
        const sm_contact *c = v;
        if (!c->hidden && (c->sub & bit) && strcmp(c->jid, u->bare) != 0) jid_list_add(out, c->jid);
    }
}

/* Non-zero if `to` names an account of our domain, into *j. */
static int presence_local_jid(const sm_t *sm, const char *to, jid_t *j)
{
    return to && jid_parse(to, j) == 0 && jid_has_local(j) && strcmp(j->domain, sm->domain) == 0;
}

/* Non-zero if the privacy lists of the local user `from` (a bare or
 * full JID) keep its presence from `to` (presence-out, blocking). */
static int presence_denied_out(sm_t *sm, const char *from, const jid_t *to)
{
    char bare[SM_JID_MAX], to_bare[SM_JID_MAX];
    size_t n = from ? strcspn(from, "/") : 0;
    if (n == 0 || n >= sizeof bare) return 0;
    memcpy(bare, from, n);
    bare[n] = '\0';
    const sm_user *u = sm_user_find(sm, bare);
    if (!u || !u->privacy || (jid_bare(to, to_bare, sizeof to_bare) >= 0 && strcmp(to_bare, bare) == 0)) return 0;
    const sm_session *s = from[n] == '/' ? sm_session_find(u, from + n + 1) : NULL;
    return sm_privacy_denies(u, s, to, SM_PRIV_PRES_OUT);
}

/* Route a copy of st from `from` (NULL: keep st's) to `to` through the
 * inbound path. JIDs of other domains are skipped (no s2s), and so are
 * those the sender's privacy lists keep its presence from. */
static void presence_send(sm_t *sm, const xml_node *st, const char *from, const char *to)
{
    jid_t j;
    if (!presence_local_jid(sm, to, &j)) {
        log_msg(LOG_DEBUG, sm->trace, "presence to %s not sent: not an account here", to ? to : "-");
        return;
    }
    if (presence_denied_out(sm, from ? from : xml_attr_get(st, "from"), &j)) {
        log_msg(LOG_DEBUG, sm->trace, "presence to %s not sent: privacy list", to);
        return;
    }
    xml_node *c = xml_node_copy(st);
    if (c && (!from || xml_attr_set(c, "from", from) == 0) && xml_attr_set(c, "to", to) == 0)
        sm_route_inbound(sm, c, &j);
    xml_node_free(&c);
}

/* Send <presence type=type from=from to=to id=id/> (type and id may be
 * NULL). */
static void presence_send_simple(sm_t *sm, const char *type, const char *from, const char *to, const char *id)
{
    xml_node *p = xml_node_new("presence", NS_CLIENT);
    if (p && (!type || xml_attr_set(p, "type", type) == 0) && (!id || xml_attr_set(p, "id", id) == 0))
        presence_send(sm, p, from, to);
    xml_node_free(&p);
}

/* ---- directed presence (4.6) ---- */

static void directed_add(sm_session *s, const char *jid)
{
    if (!hmap_get(&s->directed, jid) && hmap_put(&s->directed, jid, s) < 0)
        log_warn("%s: cannot remember directed presence to %s", s->full, jid);
}

/* Take `jid` off the directed lists of all of u's sessions. */
static void directed_forget(sm_user *u, const char *jid)
{
    for (sm_session *s = u->sessions; s; s = s->next) hmap_del(&s->directed, jid);
}

/* Send unavailable (st, from the session) to every JID on s's directed
 * list and empty it. With `broadcast` set, the 'from' contacts already got
 * st and are skipped. */
static void directed_flush(sm_t *sm, sm_session *s, const xml_node *st, int broadcast)
{
    jid_list l = {0};
    size_t pos = 0;
    const char *key;
    while (hmap_next(&s->directed, &pos, &key, NULL)) jid_list_add(&l, key);
    hmap_free(&s->directed);
    for (size_t i = 0; i < l.n; i++) {
        jid_t j;
        char bare[SM_JID_MAX];
        if (jid_parse(l.v[i], &j) < 0 || jid_bare(&j, bare, sizeof bare) < 0) continue;
        if (broadcast && presence_contact(s->user, bare, SM_SUB_FROM)) continue;
        presence_send(sm, st, s->full, l.v[i]);
    }
    jid_list_free(&l);
}

/* Directed presence from s to `to` (already checked to be a JID): note
 * it, then let the default routing send it. */
static void presence_directed(sm_t *sm, sm_session *s, const jid_t *to, presence_type t)
{
    char bare[SM_JID_MAX], full[SM_JID_MAX];
    if (!jid_has_local(to) || strcmp(to->domain, sm->domain) != 0) return;
    if (jid_bare(to, bare, sizeof bare) < 0 || jid_full(to, full, sizeof full) < 0) return;
    if (strcmp(bare, s->user->bare) == 0) return;    /* own resources get the broadcasts */
    if (t == PT_UNAVAILABLE) hmap_del(&s->directed, full);
    else if (!(s->avail && presence_contact(s->user, bare, SM_SUB_FROM))) directed_add(s, full);
}

/* ---- broadcasts (4.2, 4.4, 4.5) ---- */

/* st (from the session s) to every 'from' contact of s's user. */
static void presence_to_contacts(sm_t *sm, const sm_session *s, const xml_node *st)
{
    jid_list l = {0};
    presence_contacts(s->user, SM_SUB_FROM, &l);
    for (size_t i = 0; i < l.n; i++) presence_send(sm, st, s->full, l.v[i]);
    jid_list_free(&l);
}

/* Store st as u's last unavailable presence if no session of u is still
 * available: the stanza from the bare JID, without 'to'. */
static void presence_store_last(sm_t *sm, sm_user *u, const xml_node *st)
{
    for (const sm_session *o = u->sessions; o; o = o->next)
        if (o->avail) return;
    if (u->load != SM_LOADED || !u->exists) return;
    xml_node *c = xml_node_copy(st);
    buf_t b = BUF_INIT;
    if (c && xml_attr_set(c, "from", u->bare) == 0) {
        xml_attr_del(c, "to");
        if (xml_serialize(c, NULL, &b) == 0) {
            json_t *req = json_pack("{s:s, s:s, s:s%}", "op", "presence.last", "jid", u->bare, "stanza",
                                    b.data, b.len);
            if (req && sm_storage_call(sm, u->bare, req, NULL, NULL) == 0) {
                free(u->last_unavail);
                u->last_unavail = strdup(b.data);
                u->last_unavail_stamp = (long long)time(NULL);
            }
        }
    }
    buf_free(&b);
    xml_node_free(&c);
}

/* The session s stops being available with the unavailable presence st
 * (from s). `graceful`: the client said so, the session stays (its new
 * state is saved, and it gets st too); else the session is ending. */
static void presence_went_away(sm_t *sm, sm_session *s, const xml_node *st, int graceful)
{
    int was = s->avail;
    s->avail = 0;
    s->prio = 0;
    xml_node_free(&s->presence);
    if (graceful) sm_session_save(sm, s);
    if (was) {
        presence_to_contacts(sm, s, st);
        sm_deliver_user(sm, s->user, st, SM_SEL_AVAILABLE, NULL);
        if (graceful) sm_deliver(sm, s, st);
    }
    directed_flush(sm, s, st, was);
    if (was) presence_store_last(sm, s->user, st);
}

/* What a new presence session needs besides the broadcast: the other
 * resources' presence, and probes to the contacts it is subscribed to. */
static void presence_initial(sm_t *sm, sm_session *s)
{
    for (const sm_session *o = s->user->sessions; o; o = o->next)
        if (o != s && o->avail && o->presence) sm_deliver(sm, s, o->presence);
    jid_list l = {0};
    presence_contacts(s->user, SM_SUB_TO, &l);
    for (size_t i = 0; i < l.n; i++) sm_presence_probe(sm, s->user, l.v[i]);
    jid_list_free(&l);
}

static void presence_available(sm_t *sm, sm_session *s, const xml_node *st)
{
    int initial = !s->avail;
    xml_node *copy = xml_node_copy(st);
    s->prio = sm_presence_priority(st);
    s->avail = 1;
    xml_node_free(&s->presence);
    s->presence = copy;
    sm_session_save(sm, s);
    presence_to_contacts(sm, s, st);
    sm_deliver_user(sm, s->user, st, SM_SEL_AVAILABLE, NULL);
    if (initial) presence_initial(sm, s);
}

static int presence_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    if (strcmp(st->name, "presence") != 0) return SM_PASS;
    presence_type t = presence_type_of(st);
    if (t == PT_SUBSCRIPTION) return SM_PASS;
    if (t == PT_BAD) {
        sm_route_bounce(sm, st, "bad-request");
        return SM_HANDLED;
    }
    if (to) {
        if (t == PT_AVAILABLE || t == PT_UNAVAILABLE) presence_directed(sm, s, to, t);
        return SM_PASS;
    }
    if (t == PT_AVAILABLE) presence_available(sm, s, st);
    else if (t == PT_UNAVAILABLE) presence_went_away(sm, s, st, 1);
    else log_msg(LOG_DEBUG, sm->trace, "ignored presence type=%s without 'to' from %s",
                 xml_attr_get(st, "type"), s->full);
    return SM_HANDLED;
}

/* ---- probes (4.3.2, 4.6.6) ---- */

/* The probe's answer for an unauthorized prober that holds directed
 * presence from sessions of u (only the one of a full-JID probe): mere
 * available presence from each. Returns how many were sent. */
static unsigned probe_directed(sm_t *sm, sm_user *u, const jid_t *to, const char *from, const char *from_bare)
{
    unsigned n = 0;
    for (sm_session *s = u->sessions; s; s = s->next) {
        if (jid_has_resource(to) && strcmp(s->resource, to->resource) != 0) continue;
        if (!hmap_get(&s->directed, from) && !hmap_get(&s->directed, from_bare)) continue;
        presence_send_simple(sm, NULL, s->full, from, NULL);
        n++;
    }
    return n;
}

/* No session of u is available: the stored last unavailable with a
 * <delay/> of its time, or a bare unavailable; from the bare JID, with
 * the probe's id. */
static void probe_offline(sm_t *sm, sm_user *u, const char *from, const char *id)
{
    xml_node *p = u->last_unavail ? xml_parse_document(u->last_unavail, strlen(u->last_unavail)) : NULL;
    if (!p || strcmp(p->name, "presence") != 0) {
        xml_node_free(&p);
        presence_send_simple(sm, "unavailable", u->bare, from, id);
        return;
    }
    if (id) xml_attr_set(p, "id", id);
    else xml_attr_del(p, "id");
    if (sm_deliver_delay(p, NULL, u->last_unavail_stamp) == 0) presence_send(sm, p, u->bare, from);
    xml_node_free(&p);
}

/* An authorized probe: each available resource's last presence (the
 * original id kept), or the offline answer; for a full JID only that
 * resource, as mere presence. */
static void probe_authorized(sm_t *sm, sm_user *u, const jid_t *to, const char *from, const char *id)
{
    if (jid_has_resource(to)) {
        sm_session *s = sm_session_find(u, to->resource);
        char full[SM_JID_MAX];
        if (s && s->avail) presence_send_simple(sm, NULL, s->full, from, id);
        else if (jid_full(to, full, sizeof full) >= 0) presence_send_simple(sm, "unavailable", full, from, id);
        return;
    }
    unsigned n = 0;
    for (sm_session *s = u->sessions; s; s = s->next) {
        if (!s->avail || !s->presence) continue;
        presence_send(sm, s->presence, s->full, from);
        n++;
    }
    if (n == 0) probe_offline(sm, u, from, id);
}

/* Answer the probe st to `to` (an account of this shard, u). The server
 * must not reveal presence to whoever is not subscribed (section 11). */
static void presence_probe(sm_t *sm, const xml_node *st, const jid_t *to, sm_user *u)
{
    const char *from = xml_attr_get(st, "from"), *id = xml_attr_get(st, "id");
    char bare[SM_JID_MAX];
    jid_t fj;
    if (!from || jid_parse(from, &fj) < 0 || jid_bare(&fj, bare, sizeof bare) < 0) return;
    int authorized = u->exists && (strcmp(bare, u->bare) == 0 || presence_contact(u, bare, SM_SUB_FROM));
    if (authorized) probe_authorized(sm, u, to, from, id);
    else if (!u->exists || !probe_directed(sm, u, to, from, bare))
        presence_send_simple(sm, "unsubscribed", u->bare, from, id);
}

static int presence_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    if (!u || strcmp(st->name, "presence") != 0) return SM_PASS;
    presence_type t = presence_type_of(st);
    if (t == PT_PROBE) {
        presence_probe(sm, st, to, u);
        return SM_HANDLED;
    }
    const char *from = xml_attr_get(st, "from");
    if (t == PT_UNAVAILABLE && from) directed_forget(u, from);
    return SM_PASS;
}

/* ---- session end, shutdown, services for other modules ---- */

static void presence_session_end(sm_t *sm, sm_session *s, const char *reason)
{
    if (s->avail || s->directed.count) {
        xml_node *p = xml_node_new("presence", NS_CLIENT);
        if (p && xml_attr_set(p, "from", s->full) == 0 && xml_attr_set(p, "type", "unavailable") == 0)
            presence_went_away(sm, s, p, 0);
        xml_node_free(&p);
    }
    hmap_free(&s->directed);
}

/* Sessions still in the table at shutdown are freed without hooks. */
static void presence_fini(sm_t *sm)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&sm->users, &pos, NULL, &v))
        for (sm_session *s = ((sm_user *)v)->sessions; s; s = s->next) hmap_free(&s->directed);
}

void sm_presence_send_current(sm_t *sm, sm_user *u, const char *to)
{
    for (sm_session *s = u->sessions; s; s = s->next)
        if (s->avail && s->presence) presence_send(sm, s->presence, s->full, to);
}

void sm_presence_send_unavailable(sm_t *sm, sm_user *u, const char *to)
{
    for (sm_session *s = u->sessions; s; s = s->next)
        if (s->avail) presence_send_simple(sm, "unavailable", s->full, to, NULL);
    directed_forget(u, to);
}

void sm_presence_probe(sm_t *sm, sm_user *u, const char *contact)
{
    presence_send_simple(sm, "probe", u->bare, contact, NULL);
}

const sm_module mod_presence = {
    .name = "presence",
    .fini = presence_fini,
    .session_end = presence_session_end,
    .out = presence_out,
    .in = presence_in,
};
