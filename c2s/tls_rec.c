/*
 * tls_rec.c - the post-handshake TLS 1.3 record layer (see tls_rec.h).
 *
 * Capture: OpenSSL reports each traffic secret through the keylog callback
 * at the moment it installs it (CLIENT_TRAFFIC_SECRET_0 when the server
 * starts reading with it, SERVER_TRAFFIC_SECRET_0 when it starts writing
 * with it), and each record header it reads or writes through the message
 * callback. Counting the record headers after each secret gives the
 * sequence numbers at the end of the handshake (the server's session
 * tickets, for one, are written with the new secret). A take-over also
 * requires that OpenSSL holds no unread bytes.
 *
 * Records (RFC 8446 section 5): the outer type is always
 * application_data, the header is the additional data, the nonce is the
 * traffic IV XOR the 64-bit sequence number, and the plaintext ends with
 * the real content type followed by optional zero padding. Keys and IVs
 * come from the secret with HKDF-Expand-Label (section 7.1); every output
 * used here is no longer than the hash, so HKDF-Expand is one HMAC.
 *
 * The cipher contexts are shared by all connections of the process and
 * keyed again for every record (c2s is single-threaded).
 */
#include "tls_rec.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REC_HDR 5
#define REC_TAG 16
#define REC_IV 12
#define REC_MAX_PLAIN 16384
#define REC_MAX_INNER (REC_MAX_PLAIN + 1) /* content, type and padding */
#define REC_MAX_CIPHER (REC_MAX_PLAIN + 256)
#define SECRET_MAX 48
#define KEY_MAX 32

#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_KEY_UPDATE 24
#define KEY_UPDATE_LEN 5 /* type, 24-bit length 1, request_update */

#define ALERT_CLOSE_NOTIFY 0
#define ALERT_USER_CANCELED 90

typedef struct rec_suite {
    uint16_t id;          /* TLS cipher suite number */
    const char *cipher;   /* OpenSSL cipher name */
    const char *md;       /* hash of the suite */
    size_t key_len;
    size_t hash_len;
} rec_suite;

static const rec_suite suites[] = {
    {0x1301, "AES-128-GCM", "SHA256", 16, 32},
    {0x1302, "AES-256-GCM", "SHA384", 32, 48},
    {0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32},
};
#define NSUITES (sizeof suites / sizeof suites[0])

/* Fetched once per process, per suite. */
static struct {
    EVP_CIPHER *cipher;
    EVP_MD *md;
    EVP_CIPHER_CTX *ctx;
} algs[NSUITES];

typedef struct rec_dir {
    unsigned char secret[SECRET_MAX];
    unsigned char key[KEY_MAX];
    unsigned char iv[REC_IV];
    uint64_t seq;
} rec_dir;

enum { DIR_READ = 0, DIR_WRITE = 1 };

struct tls_rec {
    rec_dir dir[2];          /* read: the client's secret; write: ours */
    buf_t in;                /* an incomplete record, or empty */
    size_t sealed;           /* ciphertext at the head of the output */
    unsigned char suite;     /* index in suites */
    unsigned char have[2];   /* capture: secret seen per direction */
    unsigned char secret_len;
    unsigned char update_due; /* the peer asked for a KeyUpdate */
    unsigned char ku_have;   /* bytes of a KeyUpdate split across records */
};

/* ---- key schedule ---- */

/* HKDF-Expand-Label(secret, label, "", n) for n <= hash length. 0/-1. */
static int expand_label(size_t si, const unsigned char *secret, const char *label, unsigned char *out, size_t n)
{
    unsigned char info[2 + 1 + 6 + 32 + 1 + 1], md[EVP_MAX_MD_SIZE];
    size_t ll = strlen(label), k = 0;
    unsigned int mdlen = 0;
    if (ll > 32 || n > suites[si].hash_len) return -1;
    info[k++] = (unsigned char)(n >> 8);
    info[k++] = (unsigned char)n;
    info[k++] = (unsigned char)(6 + ll);
    memcpy(info + k, "tls13 ", 6);
    k += 6;
    memcpy(info + k, label, ll);
    k += ll;
    info[k++] = 0;    /* empty context */
    info[k++] = 0x01; /* HKDF-Expand block counter */
    if (!HMAC(algs[si].md, secret, (int)suites[si].hash_len, info, k, md, &mdlen) || mdlen < n) return -1;
    memcpy(out, md, n);
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

/* Install secret in d: derive key and IV, restart the sequence. 0/-1. */
static int dir_set(rec_dir *d, size_t si, const unsigned char *secret)
{
    if (secret != d->secret) memcpy(d->secret, secret, suites[si].hash_len);
    d->seq = 0;
    if (expand_label(si, d->secret, "key", d->key, suites[si].key_len) < 0) return -1;
    return expand_label(si, d->secret, "iv", d->iv, REC_IV);
}

/* KeyUpdate: the next secret of d (RFC 8446 section 7.2). 0/-1. */
static int dir_update(rec_dir *d, size_t si)
{
    unsigned char next[SECRET_MAX];
    if (expand_label(si, d->secret, "traffic upd", next, suites[si].hash_len) < 0) return -1;
    memcpy(d->secret, next, suites[si].hash_len);
    OPENSSL_cleanse(next, sizeof next);
    return dir_set(d, si, d->secret);
}

static int suite_ready(size_t si)
{
    if (algs[si].ctx) return 0;
    algs[si].cipher = EVP_CIPHER_fetch(NULL, suites[si].cipher, NULL);
    algs[si].md = EVP_MD_fetch(NULL, suites[si].md, NULL);
    algs[si].ctx = EVP_CIPHER_CTX_new();
    if (algs[si].cipher && algs[si].md && algs[si].ctx) return 0;
    EVP_CIPHER_free(algs[si].cipher);
    EVP_MD_free(algs[si].md);
    EVP_CIPHER_CTX_free(algs[si].ctx);
    algs[si].cipher = NULL;
    algs[si].md = NULL;
    algs[si].ctx = NULL;
    return -1;
}

/* ---- capture during the handshake ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "LABEL <client random> <secret>": the secret's bytes into out. Returns
 * the length, or 0 if the line is not usable. */
static size_t keylog_secret(const char *line, unsigned char *out)
{
    const char *p = strrchr(line, ' ');
    if (!p) return 0;
    size_t hl = strlen(++p);
    if (hl % 2 || hl / 2 > SECRET_MAX || hl == 0) return 0;
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return hl / 2;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void on_keylog(const SSL *ssl, const char *line)
{
    tls_rec *r = SSL_get_app_data(ssl);
    int d;
    if (!r) return;
    if (starts_with(line, "CLIENT_TRAFFIC_SECRET_0 ")) d = DIR_READ;
    else if (starts_with(line, "SERVER_TRAFFIC_SECRET_0 ")) d = DIR_WRITE;
    else return;
    size_t n = keylog_secret(line, r->dir[d].secret);
    if (n == 0 || (r->secret_len && n != r->secret_len)) {
        r->have[d] = 0;
        r->secret_len = 0xff; /* unusable: no take-over */
        return;
    }
    r->secret_len = (unsigned char)n;
    r->have[d] = 1;
    r->dir[d].seq = 0;
}

/* Count the records each direction protected with its captured secret. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
    tls_rec *r = SSL_get_app_data(ssl);
    int d = write_p ? DIR_WRITE : DIR_READ;
    if (r && content_type == SSL3_RT_HEADER && r->have[d]) r->dir[d].seq++;
}

void tls_rec_ctx_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_keylog_callback(ctx, on_keylog);
}

int tls_rec_attach(SSL *ssl)
{
    tls_rec *r = calloc(1, sizeof *r);
    if (!r) return -1;
    SSL_set_app_data(ssl, r);
    SSL_set_msg_callback(ssl, on_msg);
    return 0;
}

void tls_rec_detach(SSL *ssl)
{
    tls_rec *r = SSL_get_app_data(ssl);
    SSL_set_msg_callback(ssl, NULL);
    SSL_set_app_data(ssl, NULL);
    tls_rec_free(&r);
}

static int suite_index(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    uint16_t id = c ? SSL_CIPHER_get_protocol_id(c) : 0;
    for (size_t i = 0; i < NSUITES; i++) {
        if (suites[i].id == id) return (int)i;
    }
    return -1;
}

tls_rec *tls_rec_take_over(SSL *ssl)
{
    tls_rec *r = SSL_get_app_data(ssl);
    int si = suite_index(ssl);
    if (!r || SSL_version(ssl) != TLS1_3_VERSION || si < 0 || !r->have[DIR_READ] || !r->have[DIR_WRITE] ||
        r->secret_len != suites[si].hash_len || SSL_has_pending(ssl) || suite_ready((size_t)si) < 0) {
        tls_rec_detach(ssl);
        return NULL;
    }
    SSL_set_msg_callback(ssl, NULL);
    SSL_set_app_data(ssl, NULL);
    r->suite = (unsigned char)si;
    for (int d = 0; d < 2; d++) {
        uint64_t seq = r->dir[d].seq;
        if (dir_set(&r->dir[d], (size_t)si, r->dir[d].secret) < 0) {
            tls_rec_free(&r);
            return NULL;
        }
        r->dir[d].seq = seq;
    }
    return r;
}

void tls_rec_free(tls_rec **rp)
{
    if (!rp || !*rp) return;
    buf_free(&(*rp)->in);
    OPENSSL_cleanse(*rp, sizeof **rp);
    free(*rp);
    *rp = NULL;
}

/* ---- record protection ---- */

/* Nonce for the current record of d. */
static void make_nonce(const rec_dir *d, unsigned char *nonce)
{
    memcpy(nonce, d->iv, REC_IV);
    for (int i = 0; i < 8; i++) nonce[REC_IV - 1 - i] ^= (unsigned char)(d->seq >> (8 * i));
}

/* Protect type||data (n bytes of data) as one record appended to out.
 * 0/-1. */
static int seal_record(tls_rec *r, buf_t *out, unsigned char type, const char *data, size_t n)
{
    rec_dir *d = &r->dir[DIR_WRITE];
    EVP_CIPHER_CTX *ctx = algs[r->suite].ctx;
    size_t clen = n + 1 + REC_TAG;
    unsigned char nonce[REC_IV], hdr[REC_HDR] = {CT_APPDATA, 0x03, 0x03, (unsigned char)(clen >> 8),
                                                   (unsigned char)clen};
    int l1 = 0, l2 = 0, l3 = 0, l4 = 0;
    if (d->seq == UINT64_MAX || buf_reserve(out, REC_HDR + clen) < 0) return -1;
    unsigned char *p = (unsigned char *)out->data + out->len;
    memcpy(p, hdr, REC_HDR);
    make_nonce(d, nonce);
    if (EVP_CipherInit_ex2(ctx, algs[r->suite].cipher, d->key, nonce, 1, NULL) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &l1, hdr, REC_HDR) != 1 ||
        EVP_EncryptUpdate(ctx, p + REC_HDR, &l2, (const unsigned char *)data, (int)n) != 1 ||
        EVP_EncryptUpdate(ctx, p + REC_HDR + l2, &l3, &type, 1) != 1 ||
        EVP_EncryptFinal_ex(ctx, p + REC_HDR + l2 + l3, &l4) != 1 || (size_t)(l2 + l3 + l4) != n + 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, REC_TAG, p + REC_HDR + n + 1) != 1)
        return -1;
    out->len += REC_HDR + clen;
    out->data[out->len] = '\0';
    d->seq++;
    return 0;
}

/* Our KeyUpdate (update_not_requested), then the new write secret. 0/-1. */
static int seal_key_update(tls_rec *r, buf_t *out)
{
    static const char msg[] = {HS_KEY_UPDATE, 0, 0, 1, 0};
    if (seal_record(r, out, CT_HANDSHAKE, msg, sizeof msg) < 0) return -1;
    r->update_due = 0;
    return dir_update(&r->dir[DIR_WRITE], r->suite);
}

/* Our KeyUpdate if the peer asked for one or the write key has protected
 * as many records as it should (RFC 8446 section 5.5). 0/-1. */
static int seal_key_update_if_due(tls_rec *r, buf_t *out)
{
    if (!r->update_due && r->dir[DIR_WRITE].seq < TLS_REC_REKEY_RECORDS) return 0;
    return seal_key_update(r, out);
}

int tls_rec_seal(tls_rec *r, buf_t *out)
{
    size_t plain = buf_pending(out) - r->sealed;
    if (plain == 0 && !r->update_due) return 0;
    buf_t ct = BUF_INIT;
    const char *p = buf_head(out) + r->sealed;
    size_t records = plain / REC_MAX_PLAIN + 2;
    int rc = buf_reserve(&ct, r->sealed + plain + records * (REC_HDR + 1 + REC_TAG));
    if (rc == 0) rc = buf_append(&ct, buf_head(out), r->sealed);
    if (rc == 0) rc = seal_key_update_if_due(r, &ct);
    while (rc == 0 && plain > 0) {
        size_t n = plain > REC_MAX_PLAIN ? REC_MAX_PLAIN : plain;
        rc = seal_key_update_if_due(r, &ct);
        if (rc == 0) rc = seal_record(r, &ct, CT_APPDATA, p, n);
        p += n;
        plain -= n;
    }
    if (rc < 0) {
        /* Sequence numbers were used: the connection cannot go on. */
        buf_free(&ct);
        return -1;
    }
    buf_free(out);
    *out = ct;
    r->sealed = ct.len;
    return 0;
}

size_t tls_rec_sealed(const tls_rec *r)
{
    return r->sealed;
}

void tls_rec_wrote(tls_rec *r, size_t n)
{
    r->sealed -= n < r->sealed ? n : r->sealed;
}

int tls_rec_wants_write(const tls_rec *r)
{
    return r->update_due;
}

void tls_rec_set_seq(tls_rec *r, int write, uint64_t seq)
{
    r->dir[write ? DIR_WRITE : DIR_READ].seq = seq;
}

/* ---- opening records ---- */

/* Size of the record starting at p (at least REC_HDR bytes), or 0 if its
 * length is not allowed. */
static size_t record_size(const unsigned char *p)
{
    size_t clen = (size_t)p[3] << 8 | p[4];
    if (p[0] != CT_APPDATA || clen < REC_TAG + 1 || clen > REC_MAX_CIPHER) return 0;
    return REC_HDR + clen;
}

/* Decrypt record p (size bytes) in place; returns the inner plaintext
 * length including the content type byte and padding, or -1. */
static long open_record(tls_rec *r, unsigned char *p, size_t size)
{
    rec_dir *d = &r->dir[DIR_READ];
    EVP_CIPHER_CTX *ctx = algs[r->suite].ctx;
    size_t n = size - REC_HDR - REC_TAG;
    unsigned char nonce[REC_IV];
    int l1 = 0, l2 = 0, l3 = 0;
    if (d->seq == UINT64_MAX) return -1;
    make_nonce(d, nonce);
    if (EVP_CipherInit_ex2(ctx, algs[r->suite].cipher, d->key, nonce, 0, NULL) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &l1, p, REC_HDR) != 1 ||
        EVP_DecryptUpdate(ctx, p + REC_HDR, &l2, p + REC_HDR, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, REC_TAG, p + REC_HDR + n) != 1 ||
        EVP_DecryptFinal_ex(ctx, p + REC_HDR + l2, &l3) != 1 || (size_t)(l2 + l3) != n)
        return -1;
    d->seq++;
    return (long)n;
}

/* Byte i of a KeyUpdate: the header, then request_update 0 or 1. */
static int key_update_byte_ok(size_t i, unsigned char c)
{
    static const unsigned char hdr[KEY_UPDATE_LEN - 1] = {HS_KEY_UPDATE, 0, 0, 1};
    return i < sizeof hdr ? c == hdr[i] : c <= 1;
}

/* A handshake record after the handshake. The only message a client may
 * send now is KeyUpdate (no post-handshake authentication is offered, and
 * NewSessionTicket goes the other way). RFC 8446 section 5.1 lets it come
 * in pieces over several records, but a key change follows it, so it must
 * end with its record; and handshake records carry no empty fragments. */
static int handle_handshake(tls_rec *r, const unsigned char *m, size_t n)
{
    if (n == 0) return TLS_REC_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (r->ku_have == KEY_UPDATE_LEN || !key_update_byte_ok(r->ku_have, m[i])) return TLS_REC_ERROR;
        r->ku_have++;
    }
    if (r->ku_have < KEY_UPDATE_LEN) return TLS_REC_OK; /* the rest comes in the next record */
    r->ku_have = 0;
    if (dir_update(&r->dir[DIR_READ], r->suite) < 0) return TLS_REC_ERROR;
    if (m[n - 1] == 1) r->update_due = 1;
    return TLS_REC_OK;
}

/* An alert record (section 6): exactly one alert. Its level is ignored, as
 * TLS 1.3 defines each alert's severity: close_notify ends the stream,
 * user_canceled is a closure alert that a close_notify follows, and every
 * other alert is an error. */
static int handle_alert(const unsigned char *m, size_t n)
{
    if (n != 2) return TLS_REC_ERROR;
    if (m[1] == ALERT_CLOSE_NOTIFY) return TLS_REC_CLOSED;
    return m[1] == ALERT_USER_CANCELED ? TLS_REC_OK : TLS_REC_ERROR;
}

/* Open one complete record and act on its content. */
static int handle_record(tls_rec *r, unsigned char *p, size_t size, tls_rec_data_fn fn, void *ud, int *stop)
{
    long n = open_record(r, p, size);
    /* The limit covers the padding too (section 5.4): record_overflow. */
    if (n < 0 || n > REC_MAX_INNER) return TLS_REC_ERROR;
    unsigned char *m = p + REC_HDR;
    while (n > 0 && m[n - 1] == 0) n--; /* padding */
    if (n == 0) return TLS_REC_ERROR;
    unsigned char type = m[--n];
    /* Nothing may come between the pieces of a handshake message. */
    if (r->ku_have > 0 && type != CT_HANDSHAKE) return TLS_REC_ERROR;
    switch (type) {
    case CT_APPDATA:
        if (n > 0) *stop = fn(ud, (char *)m, (size_t)n);
        return TLS_REC_OK;
    case CT_ALERT:
        return handle_alert(m, (size_t)n);
    case CT_HANDSHAKE:
        return handle_handshake(r, m, (size_t)n);
    default:
        return TLS_REC_ERROR;
    }
}

/* Complete the buffered partial record with bytes from *data. Returns
 * TLS_REC_OK with r->in holding a whole record, 1 if more input is
 * needed, or TLS_REC_ERROR. */
static int fill_pending(tls_rec *r, const char **data, size_t *len)
{
    for (;;) {
        size_t want = REC_HDR;
        if (r->in.len >= REC_HDR) {
            want = record_size((const unsigned char *)r->in.data);
            if (want == 0) return TLS_REC_ERROR;
        }
        if (r->in.len == want) return TLS_REC_OK;
        size_t take = want - r->in.len < *len ? want - r->in.len : *len;
        if (take == 0) return 1;
        if (buf_append(&r->in, *data, take) < 0) return TLS_REC_ERROR;
        *data += take;
        *len -= take;
    }
}

int tls_rec_input(tls_rec *r, char *data, size_t len, tls_rec_data_fn fn, void *ud)
{
    int stop = 0, rc = TLS_REC_OK;
    const char *cdata = data;
    if (r->in.len > 0) {
        rc = fill_pending(r, &cdata, &len);
        if (rc != TLS_REC_OK) return rc == 1 ? TLS_REC_OK : rc;
        rc = handle_record(r, (unsigned char *)r->in.data, r->in.len, fn, ud, &stop);
        buf_free(&r->in);
        data += cdata - data;
    }
    while (rc == TLS_REC_OK && !stop && len > 0) {
        size_t size = len >= REC_HDR ? record_size((unsigned char *)data) : REC_HDR;
        if (size == 0) return TLS_REC_ERROR;
        if (size > len) return buf_append(&r->in, data, len) < 0 ? TLS_REC_ERROR : TLS_REC_OK;
        rc = handle_record(r, (unsigned char *)data, size, fn, ud, &stop);
        data += size;
        len -= size;
    }
    return rc;
}
