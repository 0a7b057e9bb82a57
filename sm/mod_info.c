/*
 * mod_info.c - what the server says about itself and, for subscribers,
 * about an account's last logout:
 *
 *   XEP-0092 Software Version   to the domain: name and version (the OS
 *                               is not disclosed; the XEP makes it optional)
 *   XEP-0202 Entity Time        to the domain: UTC, offset +00:00
 *   XEP-0012 Last Activity      to the domain: seconds since this shard
 *                               started; to an account's bare JID: 0 while
 *                               it has an available resource, else the
 *                               seconds since its last unavailable presence
 *                               with that presence's status as text. Only
 *                               the account itself and contacts with a
 *                               'from' or 'both' subscription may ask; anyone
 *                               else gets <forbidden/> (XEP-0012 section 3).
 *                               An account never seen online has nothing
 *                               to tell: <item-not-found/>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iq.h"
#include "load.h"
#include "mod.h"
#include "stanza.h"

#define NS_VERSION "jabber:iq:version"
#define NS_TIME "urn:xmpp:time"
#define NS_LAST "jabber:iq:last"

static xml_node *info_text_child(xml_node *parent, const char *name, const char *ns, const char *text)
{
    xml_node *c = xml_add_child(parent, name, ns);
    if (c && text && xml_add_text(c, text, strlen(text)) < 0) return NULL;
    return c;
}

static const char *info_reply(sm_t *sm, const sm_iq_req *r, const xml_node *iq, xml_node *q, int ok)
{
    if (!ok || !q) {
        xml_node_free(&q);
        return "internal-server-error";
    }
    return sm_iq_reply(sm, r, iq, q) < 0 ? "internal-server-error" : NULL;
}

static const char *version_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    xml_node *q = xml_node_new("query", NS_VERSION);
    int ok = q && info_text_child(q, "name", NS_VERSION, "xmppd") && info_text_child(q, "version", NS_VERSION, XMPPD_VERSION);
    return info_reply(sm, r, iq, q, ok);
}

static const char *time_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    struct timespec ts;
    struct tm tm;
    char utc[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!gmtime_r(&ts.tv_sec, &tm) || strftime(utc, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "internal-server-error";
    snprintf(utc + strlen(utc), sizeof utc - strlen(utc), ".%03ldZ", ts.tv_nsec / 1000000);
    xml_node *t = xml_node_new("time", NS_TIME);
    int ok = t && info_text_child(t, "tzo", NS_TIME, "+00:00") && info_text_child(t, "utc", NS_TIME, utc);
    return info_reply(sm, r, iq, t, ok);
}

static const char *last_get(sm_t *sm, const sm_iq_req *r, const xml_node *iq, const xml_node *payload)
{
    long long now = (long long)time(NULL), seconds;
    char *status = NULL;
    if (r->target == SM_IQ_SERVER) {
        seconds = now - sm->started;
    } else {
        const sm_user *u = r->owner;
        if (!sm_iq_asker_sees_presence(r, iq)) return "forbidden";
        int online = 0;
        for (const sm_session *s = u->sessions; s && !online; s = s->next) online = s->avail;
        if (online) {
            seconds = 0;
        } else if (u->last_unavail) {
            seconds = now > u->last_unavail_stamp ? now - u->last_unavail_stamp : 0;
            xml_node *p = xml_parse_document(u->last_unavail, strlen(u->last_unavail));
            status = xml_text(xml_child(p, "status", NS_CLIENT));
            xml_node_free(&p);
        } else {
            return "item-not-found";
        }
    }
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", seconds);
    xml_node *q = xml_node_new("query", NS_LAST);
    int ok = q && xml_attr_set(q, "seconds", secs) == 0 &&
             (!status || !*status || xml_add_text(q, status, strlen(status)) == 0);
    free(status);
    return info_reply(sm, r, iq, q, ok);
}

static const sm_iq_handler info_iq[] = {
    {"query", NS_VERSION, "get", SM_IQ_SERVER, version_get},
    {"time", NS_TIME, "get", SM_IQ_SERVER, time_get},
    {"query", NS_LAST, "get", SM_IQ_SERVER | SM_IQ_ACCOUNT | SM_IQ_OTHERS, last_get},
    {NULL, NULL, NULL, 0, NULL},
};

const sm_module mod_info = {
    .name = "info",
    .iq = info_iq,
};
