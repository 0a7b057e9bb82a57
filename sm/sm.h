/*
 * sm.h - the session manager shard's shared state: the shard itself, the
 * users it holds and their sessions.
 *
 * One sm_t per process. It owns the user slots that the slot map gives to
 * its node id; for each of those users with at least one session it keeps
 * an sm_user in `users` (bare JID -> sm_user), and each sm_user a short list
 * of sessions (one per bound resource). The in-memory table is
 * authoritative for this shard's users; Redis holds a copy (sess:{bare})
 * for the other processes and for operators.
 *
 * Files: shard.c (start-up, envelope dispatch), session.c (this table),
 * bind.c (BIND_REQ / UNBIND / KICK with the c2s), route.c (outbound
 * processing, forwarding between shards, error replies), deliver.c
 * (inbound delivery rules), iq.c (IQ dispatch), mod.c and mod_*.c
 * (features), sm_redis.c (Redis).
 */
#ifndef XMPP_SM_H
#define XMPP_SM_H

#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "envelope.h"
#include "hmap.h"
#include "jid.h"
#include "loop.h"
#include "slot.h"
#include "xml.h"

/* Room for "local@domain/resource" and its NUL. */
#define SM_JID_MAX (3 * JID_PART_MAX + 3)
#define SM_PRIO_MIN (-128)
#define SM_PRIO_MAX 127

typedef struct sm_redis sm_redis;
typedef struct sm_user sm_user;
typedef struct sm_session sm_session;

struct sm_session {
    sm_user *user;                 /* owning user record */
    sm_session *next;              /* next session of the same user */
    char *resource;                /* resourcepart, normalized */
    char *full;                    /* full JID "local@domain/resource" */
    char c2s[ENV_NODE_MAX + 1];    /* c2s node holding the connection */
    uint64_t conn;                 /* connection id on that c2s node */
    int prio;                      /* presence priority, -128..127 */
    int avail;                     /* sent available presence (and not since unavailable) */
    xml_node *presence;            /* last available presence, owned; NULL if none */
    hmap_t directed;               /* JIDs holding directed available presence from this
                                      session (RFC 6121 4.6); values unused (mod_presence.c) */
    int roster_requested;          /* roster get seen: 1 gets roster pushes, 2 waits for a
                                      roster.since answer, pushes held meanwhile (roster.c) */
    xml_node *roster_held;         /* pushes held while roster_requested == 2, as children */
    unsigned roster_seq;           /* roster gets answered; stale roster.since replies are dropped */
    int blocklist_requested;       /* got the blocklist: receives block/unblock pushes */
    char *privacy_active;          /* XEP-0016 active list of this session, NULL: the default */
    char *caps;                    /* XEP-0115 "<hash> <ver>" of its last presence, NULL if none
                                      (its features: mod_caps.c's cache, Redis caps:<hash>:<ver>) */
};

/* Subscription bits of a roster item (RFC 6121 section 2.1.2.5). */
#define SM_SUB_TO   0x1            /* the user receives the contact's presence */
#define SM_SUB_FROM 0x2            /* the contact receives the user's presence */

/* One roster row of a user, as stored (see storage-workers/README.md). */
typedef struct sm_contact {
    char *jid;                     /* contact's normalized bare JID (key) */
    char *name;                    /* handle, NULL if none */
    char **groups;                 /* group names */
    size_t ngroups;
    unsigned sub;                  /* SM_SUB_* */
    unsigned ask : 1;              /* pending out: the user asked to subscribe */
    unsigned pending_in : 1;       /* pending in: the contact asked, no answer yet */
    unsigned approved : 1;         /* pre-approved (RFC 6121 section 3.4) */
    unsigned hidden : 1;           /* state only; not an item of the user's roster */
    unsigned long long ver;        /* roster version of the row's last change */
} sm_contact;

/* Where a user's stored state is (sm_user.load). */
typedef enum sm_load_state {
    SM_UNLOADED = 0,               /* not read yet (or the read failed) */
    SM_LOADING,                    /* user.load is in flight; stanzas wait */
    SM_LOADED                      /* roster and the rest are in memory */
} sm_load_state;

typedef struct sm_work sm_work;    /* a stanza waiting for the user's state (load.c) */

struct sm_user {
    char *bare;                    /* normalized bare JID, key in sm_t.users */
    sm_session *sessions;          /* bound sessions, newest first */
    unsigned nsessions;            /* length of that list */
    /* stored state, valid when load == SM_LOADED (load.c) */
    sm_load_state load;
    int busy;                      /* queued stanzas are being replayed: keep the record */
    int exists;                    /* the account exists */
    hmap_t roster;                 /* contact bare JID -> sm_contact (hidden rows too) */
    unsigned long long roster_ver; /* current roster version */
    hmap_t pending;                /* contact bare JID -> stored subscribe stanza (char *) */
    char *last_unavail;            /* last unavailable presence (XML), NULL if none */
    long long last_unavail_stamp;  /* its time, unix seconds */
    unsigned offline_count;        /* stored offline messages */
    struct sm_privacy *privacy;    /* privacy lists and blocklist (privacy.c), NULL if none */
    sm_work *work_head;            /* stanzas waiting for the load, in order */
    sm_work *work_tail;
    unsigned nwork;
};

typedef struct sm_stats {
    uint64_t out;                  /* STANZA_OUT handled */
    uint64_t in;                   /* STANZA_IN handled */
    uint64_t forwarded;            /* STANZA_IN sent to another shard */
    uint64_t delivered;            /* STANZA_DELIVER sent */
    uint64_t bounced;              /* error replies generated */
    uint64_t dropped;              /* envelopes or stanzas dropped */
} sm_stats;

typedef struct sm {
    const config_t *cfg;           /* cluster config (borrowed) */
    loop_t *loop;                  /* event loop (borrowed) */
    char node[ENV_NODE_MAX + 1];   /* this shard's node id */
    char domain[JID_PART_MAX + 1]; /* served XMPP domain, nameprep'd */
    bus_t *bus;                    /* links to the routers */
    sm_redis *redis;               /* Redis connection */
    hmap_t users;                  /* bare JID -> sm_user */
    unsigned nsessions;            /* sessions in the whole table */
    unsigned max_sessions;         /* per user (sm.max_sessions_per_user) */
    unsigned max_roster_items;     /* visible roster items per user (sm.max_roster_items, mod_roster.c) */
    unsigned max_roster_name;      /* bytes of an item name (sm.max_roster_name) */
    unsigned max_roster_group;     /* bytes of a group name (sm.max_roster_group) */
    unsigned max_offline;          /* offline messages per user (sm.max_offline, mod_offline.c) */
    unsigned max_privacy_lists;    /* privacy lists per user (sm.max_privacy_lists, privacy.c) */
    unsigned max_privacy_items;    /* items per privacy list, blocklist included (sm.max_privacy_items) */
    unsigned char owned[SLOT_COUNT]; /* non-zero for the slots this shard holds */
    uint64_t trace;                /* trace id of the envelope being handled */
    /* The stanza of the envelope being handled and its bytes: while no
     * node anywhere has changed since it was parsed (xml_generation), it
     * is passed on as those bytes instead of being serialized again. */
    const xml_node *cur_st;
    const char *cur_body;
    size_t cur_len;
    unsigned long cur_gen;
    int ready;                     /* "ready" was logged */
    long long started;             /* unix time the shard started (uptime) */
    char caps_ver[89];             /* XEP-0115 sha-1 ver of the domain's disco#info, "" if none */
    uint64_t stats_timer;          /* periodic stats log */
    sm_stats stats;                /* counters */
} sm_t;

/* Non-zero if the bare JID's slot belongs to this shard. */
static inline int sm_owns(const sm_t *sm, const char *bare)
{
    return sm->owned[slot_of(bare)] != 0;
}

#endif
