/*
 * sm_storage.h - storage requests from the sm to the storage workers.
 *
 * A request for a user goes to that user's worker (bus_storage_node), so
 * all writes for one user stay in order. Nothing blocks: the callback runs
 * when the reply arrives, or with reply == NULL after a timeout, an
 * unroutable bounce, or at shutdown.
 */
#ifndef XMPP_SM_STORAGE_H
#define XMPP_SM_STORAGE_H

#include <jansson.h>

#include "sm.h"

/* reply is the parsed JSON reply (borrowed; NULL on failure). */
typedef void (*sm_storage_cb)(sm_t *sm, void *ud, json_t *reply);

/* Send req (its reference is stolen) for the user `bare`. cb may be NULL
 * for writes whose failure is only logged: those go one-way (no request
 * id, no reply; the worker logs a failure). Returns 0, or -1 if it could
 * not be sent (cb is not called then). */
int sm_storage_call(sm_t *sm, const char *bare, json_t *req, sm_storage_cb cb, void *ud);
/* Non-zero if reply says ok. */
int sm_storage_ok(const json_t *reply);

#endif
