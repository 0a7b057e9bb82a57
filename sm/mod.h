/*
 * mod.h - sm feature modules (sm/mod_<feature>.c) and their hooks.
 *
 * A module is a constant sm_module with the hooks it needs (the others
 * NULL) and an optional table of IQ handlers. The modules and their order
 * are one C array in mod.c, never configuration: hooks run in that order,
 * and the first module that answers SM_HANDLED ends the walk.
 *
 * Hooks:
 *   init/fini       shard start and stop
 *   session_start   a resource was bound (after it is in the table)
 *   session_end     a session is about to be removed (still in the table)
 *   out             outbound stanza from a local session, before the
 *                   default routing; `to` is NULL when the stanza has none
 *   in              inbound stanza for a local user, before the default
 *                   delivery rules; `u` is NULL if the user has no session
 *   undelivered     a chat/normal message found no resource to go to,
 *                   before it is bounced (offline storage goes here)
 * IQ handlers answer get/set requests addressed to the server or to the
 * sender's own account (see iq.h).
 */
#ifndef XMPP_SM_MOD_H
#define XMPP_SM_MOD_H

#include "sm.h"

enum { SM_PASS = 0, SM_HANDLED = 1 };

/* Where an IQ handler applies (sm_iq_handler.flags). */
#define SM_IQ_ACCOUNT 0x1   /* to the sender's bare JID, or without 'to' */
#define SM_IQ_SERVER  0x2   /* to the server's domain, or without 'to' */
#define SM_IQ_OTHERS  0x4   /* to an account's bare JID from anyone else: the
                               server answers on the account's behalf */

/* Who asked and for whom (iq.h). */
typedef struct sm_iq_req {
    sm_session *s;      /* the asking session (SM_IQ_ACCOUNT, SM_IQ_SERVER); NULL
                           for SM_IQ_OTHERS, whose asker may be on any shard */
    sm_user *owner;     /* the account addressed, loaded (SM_IQ_ACCOUNT: s's
                           user; SM_IQ_OTHERS); NULL for SM_IQ_SERVER */
    unsigned target;    /* the SM_IQ_* it was dispatched as */
} sm_iq_req;

/* Answer iq (type get or set) whose only child is payload. Returns NULL
 * when it replied (sm_iq_reply) or will reply later (sm_iq_send_result,
 * sm_route_bounce), or a stanza error condition ("bad-request") that the
 * dispatcher sends back. */
typedef const char *(*sm_iq_fn)(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload);

typedef struct sm_iq_handler {
    const char *element;   /* payload local name */
    const char *ns;        /* payload namespace */
    const char *type;      /* "get" or "set" */
    unsigned flags;        /* SM_IQ_* targets it answers for */
    sm_iq_fn fn;
} sm_iq_handler;

typedef struct sm_module {
    const char *name;
    int (*init)(sm_t *sm);                                        /* 0/-1 */
    void (*fini)(sm_t *sm);
    void (*session_start)(sm_t *sm, sm_session *s);
    void (*session_end)(sm_t *sm, sm_session *s, const char *reason);
    int (*out)(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to);
    int (*in)(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u);
    int (*undelivered)(sm_t *sm, xml_node *st, const jid_t *to);
    const sm_iq_handler *iq;   /* terminated by an entry with element NULL */
    const char *const *features; /* disco#info features of the server besides
                                    its IQ namespaces (NULL-terminated, or NULL) */
} sm_module;

/* Run every module's init in order; on a failure, fini the ones already
 * started and return -1. */
int sm_mod_init(sm_t *sm);
void sm_mod_fini(sm_t *sm);
void sm_mod_session_start(sm_t *sm, sm_session *s);
void sm_mod_session_end(sm_t *sm, sm_session *s, const char *reason);
/* SM_HANDLED if a module took the stanza, else SM_PASS. */
int sm_mod_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to);
int sm_mod_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u);
int sm_mod_undelivered(sm_t *sm, xml_node *st, const jid_t *to);
/* The handler for a payload (name, ns) and IQ type, or NULL. */
const sm_iq_handler *sm_mod_iq_find(const char *name, const char *ns, const char *type);
/* Call fn for every disco#info feature of `target` (SM_IQ_SERVER or
 * SM_IQ_OTHERS): the namespace of each IQ handler that answers there and
 * the modules' own features (server only), each once, in sorted order. */
void sm_mod_features(unsigned target, void (*fn)(void *ud, const char *feature), void *ud);

/* The domain's disco#info <query/> (mod_disco.c), e.g. for its caps. */
xml_node *sm_disco_server_info(void);

/* The modules (defined in their files). */
extern const sm_module mod_offline;
extern const sm_module mod_presence;
extern const sm_module mod_roster;
extern const sm_module mod_subscription;
extern const sm_module mod_ping;
extern const sm_module mod_disco;
extern const sm_module mod_info;
extern const sm_module mod_vcard;
extern const sm_module mod_private;
extern const sm_module mod_blocking;
extern const sm_module mod_privacy;
extern const sm_module mod_caps;
extern const sm_module mod_register;

#endif
