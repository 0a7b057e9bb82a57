/*
 * test_tls_rec.c - unit tests for c2s/tls_rec.c: an OpenSSL client talks
 * over a socketpair to a server whose records tls_rec takes over after
 * the handshake, for every TLS 1.3 suite, with session tickets, KeyUpdate
 * both ways, records split across reads, tampering and close_notify.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
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

/* Handshake a client (limited to max_version, and to suites if not NULL)
 * with a server; take over the server's records. 0/-1. */
static int pair_open(pair *p, int max_version, const char *suites)
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
    tls_rec_ctx_setup(p->sctx);
    SSL_CTX_set_max_proto_version(p->cctx, max_version);
    if (suites) SSL_CTX_set_ciphersuites(p->cctx, suites);
    p->server = SSL_new(p->sctx);
    p->client = SSL_new(p->cctx);
    SSL_set_fd(p->server, p->sfd);
    SSL_set_fd(p->client, p->cfd);
    if (tls_rec_attach(p->server) < 0) return -1;
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 100 && !(sdone && cdone); i++) {
        if (!cdone) cdone = SSL_connect(p->client) == 1;
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

int main(void)
{
    RUN(test_suites);
    RUN(test_tls12_keeps_openssl);
    RUN(test_split_records);
    RUN(test_key_update);
    RUN(test_tampered_record);
    RUN(test_close_notify);
    return TEST_RESULT();
}
