/*
 * scram_json.h - SCRAM records as the storage protocol carries them:
 * {"SCRAM-SHA-1": {"salt": b64, "iter": n, "stored_key": b64,
 * "server_key": b64}, "SCRAM-SHA-256": {...}}. Used by xmppctl and by
 * the sm (in-band password changes).
 */
#ifndef XMPP_SCRAM_JSON_H
#define XMPP_SCRAM_JSON_H

#include <jansson.h>

#include "scram.h"

#define SCRAM_JSON_ITERATIONS 4096   /* the iteration count records are made with by default */

/* Base64 of p[0..n) as a new JSON string, or NULL. */
json_t *scram_b64_json(const unsigned char *p, size_t n);
/* One record as a JSON object, or NULL. */
json_t *scram_record_json(const scram_record *r);
/* Both records (SHA-1 and SHA-256, fresh salts) for password, or NULL
 * with *err set (SASLprep refused the password, or out of memory). The
 * derived keys are wiped from the stack. */
json_t *scram_records_json(const char *password, unsigned iter, const char **err);

#endif
