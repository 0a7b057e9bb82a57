/*
 * test_tls_rec.c - unit tests for c2s/tls_rec.c: an OpenSSL client talks
 * over a socketpair to a server whose records tls_rec takes over after
 * the handshake, for every TLS 1.3 suite, with session tickets, KeyUpdate
 * both ways, records split across reads, tampering and close_notify; and
 * hand-made records against the rules of RFC 8446 sections 4.6.3, 5 and 6.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_rec.h"

/* A self-signed P-256 certificate and key in ctx. */
static int use_test_cert(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = key && x;
    if (ok) {
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
        X509_set_issuer_name(x, n);
        ok = X509_sign(x, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, key) == 1;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

typedef struct pair {
    SSL_CTX *sctx, *cctx;
    SSL *server, *client;
    int sfd, cfd;
    tls_rec *rec;
    buf_t got;  /* plaintext the server received */
    buf_t out;  /* the server's output queue */
} pair;

static int collect(void *ud, char *data, size_t len)
{
    pair *p = ud;
    buf_append(&p->got, data, len);
    return 0;
}

/* The client's traffic secrets (TLS_AES_128_GCM_SHA256), from its keylog:
 * with them a test makes records the client's OpenSSL would never send,
 * and opens the server's records itself. */
static unsigned char client_secret[32], server_secret[32];

static void client_keylog(const SSL *ssl, const char *line)
{
    unsigned char *dst;
    if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) dst = client_secret;
    else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) dst = server_secret;
    else return;
    const char *hex = strrchr(line, ' ') + 1;
    for (size_t i = 0; i < 32 && hex[2 * i] && hex[2 * i + 1]; i++) sscanf(hex + 2 * i, "%2hhx", &dst[i]);
}

typedef struct pair_opts {
    int max_version;
    const char *suites;  /* client's TLS 1.3 suites, or NULL */
    int tickets;         /* the server's session tickets, or -1: OpenSSL's default */
    int read_ahead;      /* the server reads ahead (buffers bytes past a record) */
    const char *early;   /* the client writes this right after its Finished */
} pair_opts;

/* Handshake a client with a server; take over the server's records.
 * 0/-1. */
static int pair_open_opts(pair *p, const pair_opts *o)
{
    memset(p, 0, sizeof *p);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return -1;
    p->sfd = sv[0];
    p->cfd = sv[1];
    fcntl(p->sfd, F_SETFL, O_NONBLOCK);
    fcntl(p->cfd, F_SETFL, O_NONBLOCK);
    p->sctx = SSL_CTX_new(TLS_server_method());
    p->cctx = SSL_CTX_new(TLS_client_method());
    if (!p->sctx || !p->cctx || use_test_cert(p->sctx) < 0) return -1;
    SSL_CTX_set_min_proto_version(p->sctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(p->sctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->tickets >= 0) SSL_CTX_set_num_tickets(p->sctx, (size_t)o->tickets);
    if (o->read_ahead) SSL_CTX_set_read_ahead(p->sctx, 1);
    tls_rec_ctx_setup(p->sctx);
    SSL_CTX_set_max_proto_version(p->cctx, o->max_version);
    SSL_CTX_set_keylog_callback(p->cctx, client_keylog);
    if (o->suites) SSL_CTX_set_ciphersuites(p->cctx, o->suites);
    p->server = SSL_new(p->sctx);
    p->client = SSL_new(p->cctx);
    SSL_set_fd(p->server, p->sfd);
    SSL_set_fd(p->client, p->cfd);
    if (tls_rec_attach(p->server) < 0) return -1;
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 100 && !(sdone && cdone); i++) {
        if (!cdone && SSL_connect(p->client) == 1) {
            cdone = 1;
            if (o->early) SSL_write(p->client, o->early, (int)strlen(o->early));
        }
        if (!sdone) sdone = SSL_accept(p->server) == 1;
    }
    if (!sdone || !cdone) return -1;
    p->rec = tls_rec_take_over(p->server);
    if (p->rec) {
        SSL_free(p->server);
        p->server = NULL;
    }
    return 0;
}

/* Handshake a client (limited to max_version, and to suites if not NULL)
 * with a server; take over the server's records. 0/-1. */
static int pair_open(pair *p, int max_version, const char *suites)
{
    pair_opts o = {max_version, suites, -1, 0, NULL};
    return pair_open_opts(p, &o);
}

static void pair_close(pair *p)
{
    if (p->server) {
        tls_rec_detach(p->server);
        SSL_free(p->server);
    }
    SSL_free(p->client);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
    tls_rec_free(&p->rec);
    buf_free(&p->got);
    buf_free(&p->out);
    close(p->sfd);
    close(p->cfd);
}

/* Read all the client sent and open it, step bytes at a time. */
static int server_read(pair *p, size_t step)
{
    char raw[65536];
    ssize_t n;
    int rc = TLS_REC_OK;
    while (rc == TLS_REC_OK && (n = read(p->sfd, raw, sizeof raw)) != 0) {
        if (n < 0) return errno == EAGAIN ? TLS_REC_OK : TLS_REC_ERROR;
        for (ssize_t i = 0; i < n && rc == TLS_REC_OK; i += (ssize_t)step) {
            size_t k = (size_t)(n - i) < step ? (size_t)(n - i) : step;
            rc = tls_rec_input(p->rec, raw + i, k, collect, p);
        }
    }
    return rc == TLS_REC_OK ? TLS_REC_CLOSED : rc;
}

/* Queue text on the server, seal it and write everything. 0/-1. */
static int server_send(pair *p, const char *text)
{
    buf_puts(&p->out, text);
    if (tls_rec_seal(p->rec, &p->out) < 0) return -1;
    CHECK_INT(tls_rec_sealed(p->rec), buf_pending(&p->out));
    while (buf_pending(&p->out) > 0) {
        ssize_t w = write(p->sfd, buf_head(&p->out), buf_pending(&p->out));
        if (w <= 0) return -1;
        buf_consume(&p->out, (size_t)w);
        tls_rec_wrote(p->rec, (size_t)w);
    }
    return 0;
}

/* All the client can read now. */
static char *client_read(pair *p)
{
    buf_t b = BUF_INIT;
    char tmp[4096];
    int n;
    buf_puts(&b, "");
    while ((n = SSL_read(p->client, tmp, sizeof tmp)) > 0) buf_append(&b, tmp, (size_t)n);
    return buf_steal(&b, NULL);
}

static void exchange(pair *p, const char *up, const char *down)
{
    buf_free(&p->got);
    CHECK(SSL_write(p->client, up, (int)strlen(up)) > 0);
    CHECK_INT(server_read(p, 1 << 20), TLS_REC_OK);
    CHECK_STR(p->got.data, up);
    CHECK_INT(server_send(p, down), 0);
    char *r = client_read(p);
    CHECK_STR(r, down);
    free(r);
}

static void test_suites(void)
{
    const char *suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};
    for (size_t i = 0; i < 3; i++) {
        pair p;
        CHECK_INT(pair_open(&p, TLS1_3_VERSION, suites[i]), 0);
        CHECK(p.rec != NULL);
        if (p.rec) {
            exchange(&p, "<stream:stream to='localhost'>", "<stream:stream from='localhost'>");
            exchange(&p, "<message>2</message>", "<message>two</message>");
        }
        pair_close(&p);
    }
}

static void test_tls12_keeps_openssl(void)
{
    pair p;
    CHECK_INT(pair_open(&p, TLS1_2_VERSION, NULL), 0);
    CHECK(p.rec == NULL);
    CHECK(p.server != NULL && SSL_get_app_data(p.server) == NULL);
    pair_close(&p);
}

static void test_split_records(void)
{
    pair p;
    CHECK_INT(pair_open(&p, TLS1_3_VERSION, NULL), 0);
    if (!p.rec) {
        pair_close(&p);
        return;
    }
    /* 40000 bytes: three records, opened from input cut into odd pieces */
    size_t n = 40000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    const size_t steps[] = {1, 3, 4, 5, 6, 7, 4096, 16406};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        buf_free(&p.got);
        size_t sent = 0;
        while (sent < n) {
            int w = SSL_write(p.client, big + sent, (int)(n - sent));
            if (w <= 0) break;
            sent += (size_t)w;
            CHECK_INT(server_read(&p, steps[s]), TLS_REC_OK);
        }
        CHECK_INT(p.got.len, n);
        CHECK(p.got.len == n && memcmp(p.got.data, big, n) == 0);
    }
    /* a big answer goes out in several records */
    CHECK_INT(server_send(&p, big), 0);
    char *r = client_read(&p);
    CHECK(strlen(r) == n && strcmp(r, big) == 0);
    free(r);
    free(big);
    pair_close(&p);
}

static void test_key_update(void)
{
    pair p;
    CHECK_INT(pair_open(&p, TLS1_3_VERSION, NULL), 0);
    if (!p.rec) {
        pair_close(&p);
        return;
    }
    exchange(&p, "<a/>", "<b/>");
    /* the client updates its keys and asks us to update ours */
    CHECK_INT(SSL_key_update(p.client, SSL_KEY_UPDATE_REQUESTED), 1);
    buf_free(&p.got);
    CHECK(SSL_write(p.client, "<c/>", 4) == 4);
    CHECK_INT(server_read(&p, 1 << 20), TLS_REC_OK);
    CHECK_STR(p.got.data, "<c/>");
    CHECK(tls_rec_wants_write(p.rec));
    CHECK_INT(server_send(&p, "<d/>"), 0);
    CHECK(!tls_rec_wants_write(p.rec));
    char *r = client_read(&p);
    CHECK_STR(r, "<d/>");
    free(r);
    /* a KeyUpdate without request: nothing owed back */
    CHECK_INT(SSL_key_update(p.client, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    exchange(&p, "<e/>", "<f/>");
    CHECK(!tls_rec_wants_write(p.rec));
    exchange(&p, "<g/>", "<h/>");
    pair_close(&p);
}

static void test_tampered_record(void)
{
    pair p;
    CHECK_INT(pair_open(&p, TLS1_3_VERSION, NULL), 0);
    if (!p.rec) {
        pair_close(&p);
        return;
    }
    CHECK(SSL_write(p.client, "<secret/>", 9) == 9);
    char raw[1024];
    ssize_t n = read(p.sfd, raw, sizeof raw);
    CHECK(n > 10);
    if (n > 10) {
        raw[n - 3] ^= 1;
        CHECK_INT(tls_rec_input(p.rec, raw, (size_t)n, collect, &p), TLS_REC_ERROR);
    }
    CHECK_INT(p.got.len, 0);
    pair_close(&p);

    /* a header announcing an oversized record */
    CHECK_INT(pair_open(&p, TLS1_3_VERSION, NULL), 0);
    if (p.rec) {
        char hdr[] = {23, 3, 3, 0x48, 0x01};
        CHECK_INT(tls_rec_input(p.rec, hdr, sizeof hdr, collect, &p), TLS_REC_ERROR);
    }
    pair_close(&p);
}

static void test_close_notify(void)
{
    pair p;
    CHECK_INT(pair_open(&p, TLS1_3_VERSION, NULL), 0);
    if (!p.rec) {
        pair_close(&p);
        return;
    }
    exchange(&p, "<a/>", "<b/>");
    SSL_write(p.client, "</stream:stream>", 16);
    SSL_shutdown(p.client);
    buf_free(&p.got);
    CHECK_INT(server_read(&p, 1 << 20), TLS_REC_CLOSED);
    CHECK_STR(p.got.data, "</stream:stream>");
    pair_close(&p);
}

/* ---- hand-made records (TLS_AES_128_GCM_SHA256) ---- */

#define T_SUITE "TLS_AES_128_GCM_SHA256"
#define T_REC_MAX (5 + 16384 + 256)

/* One direction of a record layer, written independently of tls_rec.c
 * (OpenSSL's TLS13-KDF for the key schedule). */
typedef struct tdir {
    unsigned char secret[32], key[16], iv[12];
    uint64_t seq;
} tdir;

/* HKDF-Expand-Label(secret, label, "", n) with SHA-256. */
static void t_expand(const unsigned char *secret, const char *label, unsigned char *out, size_t n)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
    EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)"tls13 ", 6),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
        OSSL_PARAM_construct_end()};
    CHECK(k && EVP_KDF_derive(k, out, n, params) == 1);
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
}

static void tdir_init(tdir *d, const unsigned char *secret, uint64_t seq)
{
    memmove(d->secret, secret, 32);
    t_expand(d->secret, "key", d->key, sizeof d->key);
    t_expand(d->secret, "iv", d->iv, sizeof d->iv);
    d->seq = seq;
}

/* The keys after a KeyUpdate (RFC 8446 section 7.2). */
static void tdir_next(tdir *d)
{
    unsigned char next[32];
    t_expand(d->secret, "traffic upd", next, sizeof next);
    tdir_init(d, next, 0);
}

/* AES-128-GCM over n bytes of in into out with the record header hdr as
 * additional data; tag is written (enc) or checked. 0/-1. */
static int t_aead(tdir *d, int enc, const unsigned char *hdr, const unsigned char *in, size_t n, unsigned char *out,
                  unsigned char *tag)
{
    unsigned char nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (unsigned char)(d->seq >> (8 * i));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok = EVP_CipherInit_ex2(c, EVP_aes_128_gcm(), d->key, nonce, enc, NULL) == 1 &&
                    EVP_CipherUpdate(c, NULL, &l, hdr, 5) == 1 && EVP_CipherUpdate(c, out, &l, in, (int)n) == 1;
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + l, &l) == 1;
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    d->seq++;
    return ok ? 0 : -1;
}

/* A record of d in rec: content (n bytes), inner type, pad zero bytes.
 * Returns its size. */
static size_t t_seal(tdir *d, unsigned char *rec, const void *content, size_t n, unsigned char type, size_t pad)
{
    static unsigned char inner[T_REC_MAX];
    size_t len = n + 1 + pad + 16;
    unsigned char hdr[5] = {23, 3, 3, (unsigned char)(len >> 8), (unsigned char)len};
    memcpy(inner, content, n);
    inner[n] = type;
    memset(inner + n + 1, 0, pad);
    memcpy(rec, hdr, 5);
    CHECK_INT(t_aead(d, 1, hdr, inner, n + 1 + pad, rec + 5, rec + 5 + n + 1 + pad), 0);
    return 5 + len;
}

/* Open the record at rec (size bytes at least): its inner plaintext into
 * inner. Returns the record's size, or 0. */
static size_t t_open(tdir *d, const unsigned char *rec, size_t size, unsigned char *inner, size_t *inner_len)
{
    size_t len = size >= 5 ? (size_t)rec[3] << 8 | rec[4] : 0;
    if (size < 5 || rec[0] != 23 || len < 17 || size < 5 + len) return 0;
    *inner_len = len - 16;
    return t_aead(d, 0, rec, rec + 5, len - 16, inner, (unsigned char *)rec + 5 + len - 16) == 0 ? 5 + len : 0;
}

/* A pair on T_SUITE, and the client's write direction in *c. 0/-1. */
static int t_pair(pair *p, tdir *c)
{
    if (pair_open(p, TLS1_3_VERSION, T_SUITE) < 0 || !p->rec) return -1;
    tdir_init(c, client_secret, 0);
    return 0;
}

/* Feed a hand-made record to the server. */
static int t_feed(pair *p, tdir *c, const void *content, size_t n, unsigned char type, size_t pad)
{
    static unsigned char rec[T_REC_MAX + 64];
    size_t size = t_seal(c, rec, content, n, type, pad);
    return tls_rec_input(p->rec, (char *)rec, size, collect, p);
}

static void test_hand_made_records(void)
{
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) {
        /* the test's records are right: data, padded data, an empty record */
        CHECK_INT(t_feed(&p, &c, "<a/>", 4, 23, 0), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "<b/>", 4, 23, 100), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "", 0, 23, 0), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "", 0, 23, 7), TLS_REC_OK);
        CHECK_STR(p.got.data, "<a/><b/>");
        /* all zeros: no content type (section 5.4: unexpected_message) */
        CHECK_INT(t_feed(&p, &c, "", 0, 0, 10), TLS_REC_ERROR);
    }
    pair_close(&p);
}

/* Section 5.4: the whole TLSInnerPlaintext, padding included, is at most
 * 2^14 + 1 bytes; past that, record_overflow. */
static void test_inner_plaintext_limit(void)
{
    static char big[16384];
    memset(big, 'x', sizeof big);
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) {
        CHECK_INT(t_feed(&p, &c, big, sizeof big, 23, 0), TLS_REC_OK);
        CHECK_INT(p.got.len, sizeof big);
        CHECK_INT(t_feed(&p, &c, big, 16000, 23, 384), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, big, 16000, 23, 385), TLS_REC_ERROR);
    }
    pair_close(&p);
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) CHECK_INT(t_feed(&p, &c, big, sizeof big, 23, 1), TLS_REC_ERROR);
    pair_close(&p);
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) CHECK_INT(t_feed(&p, &c, "<a/>", 4, 23, 16384 + 256 - 16 - 5), TLS_REC_ERROR);
    pair_close(&p);
}

/* Section 5: change_cipher_spec after the handshake is an unexpected
 * record, plain or protected. */
static void test_change_cipher_spec(void)
{
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) {
        char ccs[] = {20, 3, 3, 0, 1, 1};
        CHECK_INT(tls_rec_input(p.rec, ccs, sizeof ccs, collect, &p), TLS_REC_ERROR);
    }
    pair_close(&p);
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) CHECK_INT(t_feed(&p, &c, "\1", 1, 20, 0), TLS_REC_ERROR);
    pair_close(&p);
}

/* Section 6: close_notify closes, user_canceled (a closure alert) is
 * followed by close_notify, every other alert is fatal at any level. */
static void test_alerts(void)
{
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) {
        CHECK_INT(t_feed(&p, &c, "\1\x5a", 2, 21, 0), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "<a/>", 4, 23, 0), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "\1\0", 2, 21, 0), TLS_REC_CLOSED);
        CHECK_STR(p.got.data, "<a/>");
    }
    pair_close(&p);
    const char *bad[] = {"\1\x0a", "\2\x0a", "\1\x2a", "\1\xff", "\1", "\1\0\1\0"};
    const size_t len[] = {2, 2, 2, 2, 1, 4};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(t_pair(&p, &c), 0);
        if (p.rec) CHECK_INT(t_feed(&p, &c, bad[i], len[i], 21, 0), TLS_REC_ERROR);
        pair_close(&p);
    }
}

/* Section 5.1: a KeyUpdate may be split across records (it must end with
 * its record: a key change follows it); nothing may come between its
 * pieces, and nothing after it in its record. */
static void test_key_update_fragments(void)
{
    static const unsigned char ku[] = {24, 0, 0, 1, 1};
    for (size_t cut = 1; cut < sizeof ku; cut++) {
        pair p;
        tdir c;
        CHECK_INT(t_pair(&p, &c), 0);
        if (!p.rec) {
            pair_close(&p);
            continue;
        }
        CHECK_INT(t_feed(&p, &c, ku, cut, 22, 0), TLS_REC_OK);
        CHECK(!tls_rec_wants_write(p.rec));
        CHECK_INT(t_feed(&p, &c, ku + cut, sizeof ku - cut, 22, 3), TLS_REC_OK);
        CHECK(tls_rec_wants_write(p.rec));
        tdir_next(&c);
        CHECK_INT(t_feed(&p, &c, "<a/>", 4, 23, 0), TLS_REC_OK);
        CHECK_STR(p.got.data, "<a/>");
        /* the answer: our KeyUpdate before the data, which the client reads */
        CHECK_INT(server_send(&p, "<b/>"), 0);
        CHECK(!tls_rec_wants_write(p.rec));
        char *r = client_read(&p);
        CHECK_STR(r, "<b/>");
        free(r);
        pair_close(&p);
    }
    /* application data or an alert between the pieces */
    for (int i = 0; i < 2; i++) {
        pair p;
        tdir c;
        CHECK_INT(t_pair(&p, &c), 0);
        if (p.rec) {
            CHECK_INT(t_feed(&p, &c, ku, 2, 22, 0), TLS_REC_OK);
            CHECK_INT(i ? t_feed(&p, &c, "\1\0", 2, 21, 0) : t_feed(&p, &c, "<a/>", 4, 23, 0), TLS_REC_ERROR);
            CHECK_INT(p.got.len, 0);
        }
        pair_close(&p);
    }
    /* two KeyUpdates in one record, a piece of another after one */
    static const unsigned char two[] = {24, 0, 0, 1, 0, 24, 0, 0, 1, 0};
    for (size_t n = 6; n <= sizeof two; n += 4) {
        pair p;
        tdir c;
        CHECK_INT(t_pair(&p, &c), 0);
        if (p.rec) CHECK_INT(t_feed(&p, &c, two, n, 22, 0), TLS_REC_ERROR);
        pair_close(&p);
    }
}

/* Section 4.6: the only handshake message a client may send after the
 * handshake here is KeyUpdate (no post-handshake authentication was
 * offered; NewSessionTicket goes from server to client). */
static void test_unexpected_handshake(void)
{
    static const unsigned char msgs[][6] = {
        {4, 0, 0, 2, 0, 0},  /* NewSessionTicket */
        {1, 0, 0, 2, 3, 3},  /* ClientHello */
        {11, 0, 0, 2, 0, 0}, /* Certificate */
        {20, 0, 0, 2, 0, 0}, /* Finished */
        {24, 0, 0, 2, 0, 0}, /* KeyUpdate with a wrong length */
        {24, 0, 0, 1, 2, 0}, /* KeyUpdate, request_update 2 */
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        pair p;
        tdir c;
        CHECK_INT(t_pair(&p, &c), 0);
        if (p.rec) CHECK_INT(t_feed(&p, &c, msgs[i], i < 5 ? 6 : 5, 22, 0), TLS_REC_ERROR);
        pair_close(&p);
    }
    /* a handshake record without content (section 5.1) */
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) CHECK_INT(t_feed(&p, &c, "", 0, 22, 4), TLS_REC_ERROR);
    pair_close(&p);
}

/* Section 5.3: sequence numbers do not wrap; the last one is refused. */
static void test_read_sequence_end(void)
{
    pair p;
    tdir c;
    CHECK_INT(t_pair(&p, &c), 0);
    if (p.rec) {
        tls_rec_set_seq(p.rec, 0, UINT64_MAX - 1);
        c.seq = UINT64_MAX - 1;
        CHECK_INT(t_feed(&p, &c, "<a/>", 4, 23, 0), TLS_REC_OK);
        CHECK_INT(t_feed(&p, &c, "<b/>", 4, 23, 0), TLS_REC_ERROR);
        CHECK_STR(p.got.data, "<a/>");
    }
    pair_close(&p);
}

/* Seal text on the server and open what it wrote with s. Returns the
 * number of records, their application data in *app and the KeyUpdates
 * found (the keys of s follow them). */
static int t_server_records(pair *p, tdir *s, const char *text, buf_t *app, int *updates)
{
    static unsigned char inner[T_REC_MAX];
    int records = 0;
    buf_puts(&p->out, text);
    CHECK_INT(tls_rec_seal(p->rec, &p->out), 0);
    const unsigned char *q = (const unsigned char *)buf_head(&p->out);
    size_t left = buf_pending(&p->out), n = 0, size;
    while (left > 0 && (size = t_open(s, q, left, inner, &n)) > 0) {
        records++;
        while (n > 0 && inner[n - 1] == 0) n--;
        if (n > 0 && inner[n - 1] == 23) buf_append(app, inner, n - 1);
        if (n == 6 && inner[5] == 22 && memcmp(inner, "\x18\0\0\1\0", 5) == 0) {
            ++*updates;
            tdir_next(s);
        }
        q += size;
        left -= size;
    }
    CHECK_INT(left, 0);
    tls_rec_wrote(p->rec, buf_pending(&p->out));
    buf_consume(&p->out, buf_pending(&p->out));
    return records;
}

/* Section 5.5: our write keys are updated before they protect more than
 * TLS_REC_REKEY_RECORDS records. */
static void test_write_key_limit(void)
{
    pair p;
    tdir c, s;
    CHECK_INT(t_pair(&p, &c), 0);
    if (!p.rec) {
        pair_close(&p);
        return;
    }
    buf_t app = BUF_INIT;
    int updates = 0;
    tls_rec_set_seq(p.rec, 1, TLS_REC_REKEY_RECORDS - 1);
    tdir_init(&s, server_secret, TLS_REC_REKEY_RECORDS - 1);
    CHECK_INT(t_server_records(&p, &s, "<a/>", &app, &updates), 1);
    CHECK_INT(updates, 0);
    CHECK_INT(t_server_records(&p, &s, "<b/>", &app, &updates), 2);
    CHECK_INT(updates, 1);
    CHECK_INT(s.seq, 1);
    CHECK_INT(t_server_records(&p, &s, "<c/>", &app, &updates), 1);
    CHECK_STR(app.data, "<a/><b/><c/>");
    buf_free(&app);
    pair_close(&p);
}

/* The server's write sequence counts the session tickets OpenSSL sent
 * with the application keys, however many (c2s sends one). */
static void test_ticket_counts(void)
{
    for (int t = 0; t <= 3; t++) {
        pair p;
        pair_opts o = {TLS1_3_VERSION, NULL, t, 0, NULL};
        CHECK_INT(pair_open_opts(&p, &o), 0);
        CHECK(p.rec != NULL);
        if (p.rec) exchange(&p, "<a/>", "<b/>");
        pair_close(&p);
    }
}

/* Application data right behind the client's Finished: left in the
 * socket for tls_rec, or, if OpenSSL read it ahead, the SSL object stays. */
static void test_data_after_finished(void)
{
    pair p;
    pair_opts o = {TLS1_3_VERSION, NULL, 1, 0, "<early/>"};
    CHECK_INT(pair_open_opts(&p, &o), 0);
    CHECK(p.rec != NULL);
    if (p.rec) {
        CHECK_INT(server_read(&p, 1 << 20), TLS_REC_OK);
        CHECK_STR(p.got.data, "<early/>");
        exchange(&p, "<a/>", "<b/>");
    }
    pair_close(&p);

    o.read_ahead = 1;
    CHECK_INT(pair_open_opts(&p, &o), 0);
    CHECK(p.rec == NULL && p.server != NULL);
    if (p.server) {
        char tmp[64];
        int n = SSL_read(p.server, tmp, sizeof tmp);
        CHECK_INT(n, 8);
        CHECK(n == 8 && memcmp(tmp, "<early/>", 8) == 0);
    }
    pair_close(&p);
}

int main(void)
{
    RUN(test_suites);
    RUN(test_tls12_keeps_openssl);
    RUN(test_split_records);
    RUN(test_key_update);
    RUN(test_tampered_record);
    RUN(test_close_notify);
    RUN(test_hand_made_records);
    RUN(test_inner_plaintext_limit);
    RUN(test_change_cipher_spec);
    RUN(test_alerts);
    RUN(test_key_update_fragments);
    RUN(test_unexpected_handshake);
    RUN(test_read_sequence_end);
    RUN(test_write_key_limit);
    RUN(test_ticket_counts);
    RUN(test_data_after_finished);
    return TEST_RESULT();
}
