/*
 * mod_ping.c - XEP-0199 XMPP Ping: a ping to the server (or to the
 * sender's own account, which the server answers for it) gets an empty
 * result.
 */
#include "iq.h"
#include "mod.h"
#include "stanza.h"

static const char *ping_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    return sm_iq_reply(sm, r, iq, NULL) < 0 ? "internal-server-error" : NULL;
}

static const sm_iq_handler ping_iq[] = {
    {"ping", NS_PING, "get", SM_IQ_SERVER | SM_IQ_ACCOUNT, ping_get},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_ping = {
    .name = "ping",
    .iq = ping_iq,
};
