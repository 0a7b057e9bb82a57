/*
 * mod_register.c - XEP-0077 In-Band Registration for accounts that are
 * logged in (registration itself, before authentication, is c2s's).
 *
 *   get                       <registered/> and the username
 *   set <username/><password/> change the password: the username must be
 *                             the account's own (localpart or bare JID),
 *                             the password non-empty (an empty one never
 *                             replaces the old: <bad-request/>); new SCRAM
 *                             records are derived here (PBKDF2, 4096
 *                             iterations, a few milliseconds) and stored
 *   set <remove/>             cancel the account: it is deleted with
 *                             everything it owns, the request is answered,
 *                             contacts get unsubscribe/unsubscribed for the
 *                             subscriptions it had, and every session ends
 *                             with a <not-authorized/> stream error (§3.2)
 * <remove/> must be the only child (<bad-request/>). The data-form
 * variants of the XEP are not offered.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "bind.h"
#include "iq.h"
#include "load.h"
#include "log.h"
#include "mod.h"
#include "route.h"
#include "scram_json.h"
#include "session.h"
#include "sm_storage.h"
#include "stanza.h"

#define NS_REGISTER "jabber:iq:register"

static const char *register_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    const char *bare = r->s->user->bare;
    size_t n = strcspn(bare, "@");
    xml_node *q = xml_node_new("query", NS_REGISTER);
    xml_node *u = q && xml_add_child(q, "registered", NS_REGISTER) ? xml_add_child(q, "username", NS_REGISTER) : NULL;
    if (!u || xml_add_text(u, bare, n) < 0) {
        xml_node_free(&q);
        return "internal-server-error";
    }
    return sm_iq_reply(sm, r, iq, q) < 0 ? "internal-server-error" : NULL;
}

static const char *register_passwd(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    const char *bare = r->s->user->bare;
    char *user = xml_text(xml_child(payload, "username", NS_REGISTER));
    char *pw = xml_text(xml_child(payload, "password", NS_REGISTER));
    size_t n = strcspn(bare, "@");
    const char *cond = NULL, *err = NULL;
    if (!user || !pw || !*pw || xml_child_count(payload) != 2) cond = "bad-request";
    else if (strcmp(user, bare) != 0 && (strlen(user) != n || strncmp(user, bare, n) != 0)) cond = "bad-request";
    json_t *scram = cond ? NULL : scram_records_json(pw, SCRAM_JSON_ITERATIONS, &err);
    if (!cond && !scram) cond = "not-acceptable";
    if (pw) OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
    free(user);
    if (cond) return cond;
    json_t *req = json_pack("{s:s, s:s, s:o}", "op", "user.passwd", "jid", bare, "scram", scram);
    log_info("password change requested by %s", r->s->full);
    return sm_iq_storage(sm, iq, bare, req, sm_iq_stored) < 0 ? "internal-server-error" : NULL;
}

/* Presence of `type` from u's bare JID to contact. */
static void register_tell(sm_t *sm, const sm_user *u, const char *contact, const char *type)
{
    jid_t to;
    xml_node *p = xml_node_new("presence", NS_CLIENT);
    if (p && jid_parse(contact, &to) == 0 && xml_attr_set(p, "type", type) == 0 &&
        xml_attr_set(p, "from", u->bare) == 0 && xml_attr_set(p, "to", contact) == 0)
        sm_route_inbound(sm, p, &to);
    xml_node_free(&p);
}

static const char *register_removed(sm_t *sm, const xml_node *iq, json_t *reply, xml_node **payload)
{
    if (!sm_storage_ok(reply)) return "internal-server-error";
    jid_t from;
    char bare[SM_JID_MAX];
    const char *f = xml_attr_get(iq, "from");
    sm_user *u = f && jid_parse(f, &from) == 0 && jid_bare(&from, bare, sizeof bare) >= 0 ? sm_user_find(sm, bare) : NULL;
    if (!u) return NULL;
    /* answer first (the sessions are about to be closed), then undo the
     * subscriptions and end every session */
    sm_iq_send_result(sm, iq, NULL);
    *payload = NULL;
    size_t pos = 0;
    const char *key;
    void *v;
    while (hmap_next(&u->roster, &pos, &key, &v)) {
        const sm_contact *c = v;
        if (c->sub & SM_SUB_TO) register_tell(sm, u, key, "unsubscribe");
        if (c->sub & SM_SUB_FROM) register_tell(sm, u, key, "unsubscribed");
    }
    u->exists = 0;
    for (const sm_session *s = u->sessions; s; s = s->next) sm_bind_kick(sm, s, "not-authorized");
    log_info("account %s cancelled in-band", u->bare);
    return sm_iq_answered;
}

static const char *register_remove(sm_t *sm, const sm_iq_req *r, const xml_node *iq)
{
    const char *bare = r->s->user->bare;
    json_t *req = json_pack("{s:s, s:s}", "op", "user.delete", "jid", bare);
    return sm_iq_storage(sm, iq, bare, req, register_removed) < 0 ? "internal-server-error" : NULL;
}

static const char *register_set(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    if (xml_child(payload, "remove", NS_REGISTER))
        return xml_child_count(payload) == 1 ? register_remove(sm, r, iq) : "bad-request";
    return register_passwd(sm, r, iq, payload);
}

static const sm_iq_handler register_iq[] = {
    {"query", NS_REGISTER, "get", SM_IQ_SERVER | SM_IQ_ACCOUNT, register_get},
    {"query", NS_REGISTER, "set", SM_IQ_SERVER | SM_IQ_ACCOUNT, register_set},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_register = {
    .name = "register",
    .iq = register_iq,
};
