/*
 * sasl.h - the client side of SASL PLAIN and SCRAM-SHA-1/-256 for the
 * load generator, with SCRAM keys cached per user.
 *
 * A login benchmark must measure the server, not the generator's PBKDF2.
 * SaltedPassword only depends on (password, salt, iterations), so each
 * user's slot keeps ClientKey, StoredKey and ServerKey for the salt and
 * iteration count the server last announced for that user; a login whose
 * salt matches the cache costs the client three HMACs and no PBKDF2.
 * Misses are counted (sasl_cache_misses) so a run can show that the
 * measured phase did none.
 */
#ifndef BENCH_SASL_H
#define BENCH_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum sasl_mech { SASL_PLAIN = 0, SASL_SCRAM_SHA1, SASL_SCRAM_SHA256 } sasl_mech;

#define SASL_MAX_HASH 32
#define SASL_MAX_SALT 64
#define SASL_NONCE_LEN 24

/* Cached keys of one user. */
typedef struct sasl_keys {
    unsigned char salt[SASL_MAX_SALT];      /* salt the keys were derived with */
    uint8_t salt_len;                       /* 0: nothing cached */
    uint32_t iter;                          /* iteration count */
    unsigned char client_key[SASL_MAX_HASH];
    unsigned char stored_key[SASL_MAX_HASH];
    unsigned char server_key[SASL_MAX_HASH];
} sasl_keys;

/* Exchange state of one login in progress (a few dozen bytes). */
typedef struct sasl_state {
    char cnonce[SASL_NONCE_LEN + 1];        /* client nonce, printable */
    unsigned char server_sig[SASL_MAX_HASH];/* expected ServerSignature */
    uint8_t step;                           /* 0 new, 1 sent first, 2 sent final */
} sasl_state;

/* Mechanism name as offered in <mechanism/>; parse one back (0/-1). */
const char *sasl_mech_name(sasl_mech m);
int sasl_mech_parse(const char *s, sasl_mech *m);

/* Prepare the shared password (SASLprep). Returns a malloc'd string, or
 * NULL if it fails preparation. */
char *sasl_prepare_password(const char *password);

/* The initial response for <auth/>, base64-encoded, appended to out.
 * user is the node part (the authcid). 0/-1. */
int sasl_initial(sasl_mech m, sasl_state *st, const char *user, const char *password, buf_t *out);
/* Answer a SCRAM challenge (the base64 text of <challenge/>): append the
 * base64 client-final to out, using and refreshing *keys. *missed is set
 * to 1 when PBKDF2 had to run. 0/-1. */
int sasl_challenge(sasl_mech m, sasl_state *st, sasl_keys *keys, const char *user,
                   const char *password, const char *b64, size_t b64_len, buf_t *out,
                   int *missed);
/* Check the additional data of <success/> (base64, may be empty for
 * PLAIN). 0 if the server proved it knows the keys (or PLAIN), -1 if not. */
int sasl_success(sasl_mech m, const sasl_state *st, const char *b64, size_t b64_len);

#endif
