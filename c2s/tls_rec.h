/*
 * tls_rec.h - the TLS 1.3 record layer that replaces OpenSSL's SSL object
 * of a connection once its handshake is over.
 *
 * An SSL object costs about 12 KiB for as long as the connection lives,
 * although after a TLS 1.3 handshake all it still does is protect records
 * with two traffic secrets. tls_rec keeps just those (about 200 bytes) and
 * does the record protection itself with OpenSSL's AEAD ciphers: the
 * handshake still runs in OpenSSL, and a connection whose state cannot be
 * taken over exactly (TLS 1.2, an unknown suite, bytes OpenSSL buffered)
 * simply keeps its SSL object.
 *
 * Handled after the take-over: application data, close_notify and
 * user_canceled (other alerts end the connection), KeyUpdate in both
 * directions (also split across records, and ours before a write key has
 * protected TLS_REC_REKEY_RECORDS records). Anything else (post-handshake
 * authentication, renegotiation attempts, change_cipher_spec, malformed,
 * oversized or unauthentic records) is a fatal error; the caller closes
 * the connection.
 *
 * Output is kept in the caller's buf_t: ciphertext ready to be written at
 * its head (tls_rec_sealed() bytes), plaintext not yet protected after it.
 */
#ifndef XMPP_TLS_REC_H
#define XMPP_TLS_REC_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "buf.h"

typedef struct tls_rec tls_rec;

/* Install the keylog and message callbacks on ctx that record what a
 * take-over needs. */
void tls_rec_ctx_setup(SSL_CTX *ctx);
/* Start recording the traffic secrets and record counts of ssl (before
 * its handshake). Uses the SSL's app data. 0/-1. */
int tls_rec_attach(SSL *ssl);
/* After a completed handshake: the record layer for the connection, or
 * NULL if the SSL object must stay (then nothing else changes). Either
 * way the capture state attached to ssl is released. The caller frees
 * ssl after a successful take-over, without SSL_shutdown. */
tls_rec *tls_rec_take_over(SSL *ssl);
/* Release what tls_rec_attach allocated for ssl (no take-over). */
void tls_rec_detach(SSL *ssl);
void tls_rec_free(tls_rec **r);

/* Plaintext of one record; return non-zero to stop reading (the rest of
 * the input is dropped). */
typedef int (*tls_rec_data_fn)(void *ud, char *data, size_t len);

enum { TLS_REC_OK = 0, TLS_REC_CLOSED = 1, TLS_REC_ERROR = -1 };

/* Open the records in data (bytes read from the socket; decrypted in
 * place), keeping an incomplete record for the next call. Returns
 * TLS_REC_OK, TLS_REC_CLOSED after a close_notify, or TLS_REC_ERROR. */
int tls_rec_input(tls_rec *r, char *data, size_t len, tls_rec_data_fn fn, void *ud);
/* Protect the plaintext of out (after the sealed head) into records, with
 * a KeyUpdate first if the peer asked for one or the write key is worn.
 * 0/-1 (out of memory: out unchanged, but the connection cannot go on). */
int tls_rec_seal(tls_rec *r, buf_t *out);
/* Bytes at the head of out that are ciphertext. */
size_t tls_rec_sealed(const tls_rec *r);
/* n bytes of ciphertext were written (and consumed from out). */
void tls_rec_wrote(tls_rec *r, size_t n);
/* Non-zero if a record must be sent even without plaintext (KeyUpdate). */
int tls_rec_wants_write(const tls_rec *r);

/* Records protected with one write key before tls_rec_seal updates it
 * (RFC 8446 section 5.5: AES-GCM keys are good for about 2^24.5 records). */
#define TLS_REC_REKEY_RECORDS (1ull << 24)

/* For unit tests: set the sequence number of the current read (write = 0)
 * or write (write = 1) key, to reach the limits without 2^24 records. */
void tls_rec_set_seq(tls_rec *r, int write, uint64_t seq);

#endif
