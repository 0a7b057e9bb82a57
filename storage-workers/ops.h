/*
 * ops.h - the storage protocol: one JSON request in, one JSON reply out.
 *
 * A request is an object {"op": "<name>", ...arguments}; the reply is
 * {"ok": true, ...results} or {"ok": false, "code": C, "error": text} with
 * C one of "not-found", "exists", "limit", "bad-request", "internal". The
 * operations, their arguments and results are listed in README.md beside
 * this file. Arguments are checked strictly: a missing or mistyped
 * argument, an argument the op does not take, or a JID that is not a
 * normalized bare JID with a localpart is a bad-request, and the driver is
 * not called.
 *
 * This module knows nothing of the bus: worker.c feeds it envelope bodies;
 * unit tests call it directly.
 */
#ifndef XMPP_STORAGE_OPS_H
#define XMPP_STORAGE_OPS_H

#include <stddef.h>
#include <jansson.h>

#include "driver.h"

/* The database the operations run against (borrowed, not owned). */
typedef struct ops_ctx {
    const driver_t *drv;   /* driver vtable */
    void *db;              /* handle from drv->open, already migrated */
} ops_ctx;

/* Run one request. Returns a new reply object the caller releases with
 * json_decref, or NULL only when memory runs out. op receives the request's
 * op name for logs ("?" when there is none); opsz may be 0 to skip it. */
json_t *ops_execute(const ops_ctx *c, const json_t *req, char *op, size_t opsz);

/* Parse body (len bytes of JSON text, not NUL-terminated) and run it as
 * ops_execute does. Text that is not a JSON object is answered with a
 * bad-request reply, never with NULL. */
json_t *ops_handle(const ops_ctx *c, const char *body, size_t len, char *op, size_t opsz);

/* Non-zero if reply is {"ok": true, ...}. */
int ops_reply_ok(const json_t *reply);
/* The "code" of a failed reply, or NULL. */
const char *ops_reply_code(const json_t *reply);

#endif
