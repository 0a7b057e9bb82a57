/*
 * mod.c - the list of sm modules and the hook runners (see mod.h).
 *
 * The order below is the order hooks run in: roster, subscription,
 * offline, caps, presence, ping, disco, info, vcard, private, blocking,
 * privacy, register. Offline runs before presence so that its outbound hook still
 * sees the session's state before a presence changes it (availability,
 * priority); presence keeps that state and ends the walk for broadcast
 * presence, so caps, which reads the caps of that presence, comes first.
 */
#include "mod.h"

#include <stdlib.h>
#include <string.h>

static const sm_module *const sm_modules[] = {
    &mod_roster,
    &mod_subscription,
    &mod_offline,
    &mod_caps,
    &mod_presence,
    &mod_ping,
    &mod_disco,
    &mod_info,
    &mod_vcard,
    &mod_private,
    &mod_blocking,
    &mod_privacy,
    &mod_register,
};

#define SM_NMODULES (sizeof sm_modules / sizeof sm_modules[0])

int sm_mod_init(sm_t *sm)
{
    for (size_t i = 0; i < SM_NMODULES; i++) {
        if (!sm_modules[i]->init || sm_modules[i]->init(sm) == 0) continue;
        while (i-- > 0)
            if (sm_modules[i]->fini) sm_modules[i]->fini(sm);
        return -1;
    }
    return 0;
}

void sm_mod_fini(sm_t *sm)
{
    for (size_t i = SM_NMODULES; i-- > 0;)
        if (sm_modules[i]->fini) sm_modules[i]->fini(sm);
}

void sm_mod_session_start(sm_t *sm, sm_session *s)
{
    for (size_t i = 0; i < SM_NMODULES; i++)
        if (sm_modules[i]->session_start) sm_modules[i]->session_start(sm, s);
}

void sm_mod_session_end(sm_t *sm, sm_session *s, const char *reason)
{
    for (size_t i = 0; i < SM_NMODULES; i++)
        if (sm_modules[i]->session_end) sm_modules[i]->session_end(sm, s, reason);
}

int sm_mod_out(sm_t *sm, sm_session *s, xml_node *st, const jid_t *to)
{
    for (size_t i = 0; i < SM_NMODULES; i++)
        if (sm_modules[i]->out && sm_modules[i]->out(sm, s, st, to) == SM_HANDLED) return SM_HANDLED;
    return SM_PASS;
}

int sm_mod_in(sm_t *sm, xml_node *st, const jid_t *to, sm_user *u)
{
    for (size_t i = 0; i < SM_NMODULES; i++)
        if (sm_modules[i]->in && sm_modules[i]->in(sm, st, to, u) == SM_HANDLED) return SM_HANDLED;
    return SM_PASS;
}

int sm_mod_undelivered(sm_t *sm, xml_node *st, const jid_t *to)
{
    for (size_t i = 0; i < SM_NMODULES; i++)
        if (sm_modules[i]->undelivered && sm_modules[i]->undelivered(sm, st, to) == SM_HANDLED)
            return SM_HANDLED;
    return SM_PASS;
}

static int feature_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sm_mod_features(unsigned target, void (*fn)(void *ud, const char *feature), void *ud)
{
    const char *all[256];
    size_t n = 0;
    for (size_t i = 0; i < SM_NMODULES; i++) {
        for (const sm_iq_handler *h = sm_modules[i]->iq; h && h->element; h++)
            if ((h->flags & target) && n < sizeof all / sizeof all[0]) all[n++] = h->ns;
        for (const char *const *f = sm_modules[i]->features; target == SM_IQ_SERVER && f && *f; f++)
            if (n < sizeof all / sizeof all[0]) all[n++] = *f;
    }
    qsort(all, n, sizeof all[0], feature_cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(all[i], all[i - 1]) != 0) fn(ud, all[i]);
}

const sm_iq_handler *sm_mod_iq_find(const char *name, const char *ns, const char *type)
{
    for (size_t i = 0; i < SM_NMODULES; i++) {
        for (const sm_iq_handler *h = sm_modules[i]->iq; h && h->element; h++) {
            if (strcmp(h->element, name) == 0 && strcmp(h->ns, ns) == 0 && strcmp(h->type, type) == 0)
                return h;
        }
    }
    return NULL;
}
