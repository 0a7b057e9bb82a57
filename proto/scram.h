/*
 * scram.h - SCRAM (RFC 5802, RFC 7677) records, server and client
 * exchanges, and PLAIN verification against a SCRAM record.
 *
 * Passwords are never stored: an account holds, per hash, the salt, the
 * iteration count, StoredKey and ServerKey. Passwords are prepared with
 * SASLprep (libidn's stringprep "SASLprep" profile) before hashing.
 * All crypto is OpenSSL (PKCS5_PBKDF2_HMAC, HMAC, EVP digests, RAND_bytes).
 */
#ifndef XMPP_SCRAM_H
#define XMPP_SCRAM_H

#include <stddef.h>
#include "buf.h"

typedef enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1 } scram_hash;

#define SCRAM_MAX_HASH 32
#define SCRAM_MAX_SALT 64
#define SCRAM_DEFAULT_ITER 4096

/* Digest length of h (20 or 32). */
size_t scram_hash_len(scram_hash h);
/* SASL mechanism name ("SCRAM-SHA-1", "SCRAM-SHA-256"). */
const char *scram_mech_name(scram_hash h);

typedef struct scram_record {
    scram_hash hash;                        /* which hash the keys use */
    unsigned char salt[SCRAM_MAX_SALT];     /* raw salt bytes */
    size_t salt_len;                        /* bytes of salt */
    unsigned iter;                          /* PBKDF2 iteration count */
    unsigned char stored_key[SCRAM_MAX_HASH]; /* H(ClientKey) */
    unsigned char server_key[SCRAM_MAX_HASH]; /* HMAC(SaltedPassword, "Server Key") */
} scram_record;

/* Derive a record from a password. salt == NULL makes a random 16-byte
 * salt. Returns 0, or -1 (e.g. the password fails SASLprep). */
int scram_make_record(scram_hash h, const char *password, const unsigned char *salt,
                      size_t salt_len, unsigned iter, scram_record *out);
/* Check a cleartext password (SASL PLAIN) against a record. 1 if it
 * matches, 0 if not. Constant-time comparison. */
int scram_check_password(const scram_record *rec, const char *password);

/* ---- server side of one exchange ---- */

typedef enum scram_status {
    SCRAM_OK = 0,
    SCRAM_ERR_MALFORMED,     /* <malformed-request/> */
    SCRAM_ERR_NOT_AUTHORIZED,/* <not-authorized/> */
    SCRAM_ERR_UNSUPPORTED    /* e.g. channel binding requested: <not-authorized/>
                                with "channel-bindings-not-supported" or
                                <invalid-authzid/> for an authzid other than
                                the user; see scram_server_detail */
} scram_status;

typedef struct scram_server scram_server;

scram_server *scram_server_new(scram_hash h);
void scram_server_free(scram_server **s);
/* Parse client-first-message (already base64-decoded). On SCRAM_OK,
 * *username points to the SASLprep'd username owned by s. An authzid, if
 * present, is available from scram_server_authzid(). */
scram_status scram_server_client_first(scram_server *s, const char *msg, size_t len,
                                       const char **username);
const char *scram_server_authzid(const scram_server *s); /* NULL if none */
/* Produce server-first-message into out (raw, caller base64-encodes).
 * rec == NULL (unknown user) makes a deterministic fake salt from the
 * username so the exchange proceeds and fails at the proof. */
scram_status scram_server_first(scram_server *s, const scram_record *rec, buf_t *out);
/* Verify client-final-message; on SCRAM_OK writes server-final-message
 * ("v=...") into out. */
scram_status scram_server_client_final(scram_server *s, const char *msg, size_t len, buf_t *out);
/* Text for logs about the last failure. */
const char *scram_server_detail(const scram_server *s);

/* ---- for tests only ---- */

/* Use snonce (printable ASCII without ',') as the server nonce instead of a
 * random one, so that published test vectors can be reproduced. Must be
 * called before scram_server_first. Never use outside tests. 0/-1. */
int scram_server_set_nonce(scram_server *s, const char *snonce);

/* ---- client side (tests, load generator, xmppctl) ---- */

typedef struct scram_client scram_client;
/* nonce may be NULL for a random one. */
scram_client *scram_client_new(scram_hash h, const char *user, const char *password, const char *nonce);
void scram_client_free(scram_client **c);
int scram_client_first(scram_client *c, buf_t *out);
/* Given server-first, write client-final into out. 0/-1. */
int scram_client_final(scram_client *c, const char *server_first, size_t len, buf_t *out);
/* Verify server-final; 0 if the server signature is right, -1 otherwise. */
int scram_client_verify(scram_client *c, const char *server_final, size_t len);

/* ---- base64 (standard alphabet, with padding) ---- */
int scram_b64_encode(const unsigned char *in, size_t len, buf_t *out);
/* Strict decode: rejects whitespace, bad characters and bad padding. 0/-1. */
int scram_b64_decode(const char *in, size_t len, buf_t *out);

#endif
