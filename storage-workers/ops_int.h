/*
 * ops_int.h - what the storage protocol's files share (ops.c runs the
 * operations, ops_args.c builds replies and checks arguments); not for
 * use outside storage-workers/ops*.c.
 */
#ifndef XMPP_STORAGE_OPS_INT_H
#define XMPP_STORAGE_OPS_INT_H

#include <stdint.h>
#include <jansson.h>

#include "driver.h"
#include "jid.h"
#include "ops.h"
#include "scram.h"

#define OPS_BARE_MAX (2 * JID_PART_MAX + 1)   /* local@domain */
#define OPS_STANZA_MAX 262144                 /* bytes of a stored stanza */
#define OPS_NAME_MAX 1023                     /* bytes of a roster item name */
#define OPS_GROUP_MAX 1023                    /* bytes of a roster group name */
#define OPS_GROUPS_MAX 64                     /* groups of one roster item */
#define OPS_KIND_MAX 64                       /* bytes of a keyed-data kind */
#define OPS_KINDS_MAX 32                      /* kinds one user.load may ask for */
#define OPS_KEY_MAX 3072                      /* bytes of a keyed-data key */
#define OPS_VALUE_MAX 1048576                 /* bytes of a keyed-data value */

/* ---- replies ---- */
json_t *ops_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
json_t *ops_status(const ops_ctx *c, driver_status s, const char *op, const char *jid);

/* ---- argument checks: each returns its value or 0, or NULL/-1 with *fail set ---- */
const char *ops_arg_jid(const json_t *req, json_t **fail);
const char *ops_contact(const json_t *v, const char *what, json_t **fail);
const char *ops_arg_stanza(const json_t *req, json_t **fail);
const char *ops_kind(const json_t *v, const char *what, json_t **fail);
const char *ops_arg_text(const json_t *req, const char *name, size_t max, int optional, json_t **fail);
int ops_arg_kinds(const json_t *req, const char *kinds[OPS_KINDS_MAX + 1], json_t **fail);
int ops_arg_count(const json_t *req, const char *key, int optional, int64_t *out, json_t **fail);
int ops_arg_bool(const json_t *obj, const char *key, const char *what, int *out, json_t **fail);
const char *ops_arg_domain(const json_t *req, json_t **fail);
int ops_arg_scram(const json_t *req, driver_user *u, json_t **fail);
int ops_arg_item(const json_t *req, driver_item *it, char **groups, json_t **fail);

#endif
