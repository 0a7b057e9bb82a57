/*
 * tls.c - the OpenSSL server context of c2s: TLS 1.2 minimum, certificate
 * and key from the config (c2s.tls_cert, c2s.tls_key), one shared context
 * for all connections, small per-connection buffers, and the callbacks
 * with which tls_rec.c takes over the records of TLS 1.3 connections
 * (unless c2s.tls_record_takeover is false: a fallback for operators who
 * would rather pay about 12 KiB per connection for OpenSSL's own record
 * layer).
 *
 * The handshake is most of the CPU a STARTTLS login costs, so the context
 * prefers the cheapest strong choices: AES-128-GCM with SHA-256 first (the
 * TLS 1.3 key schedule and transcript then run on SHA-256, which current
 * x86 and ARM CPUs compute in hardware, not SHA-384), and one session ticket
 * per handshake instead of OpenSSL's two: a reconnecting client needs one
 * to resume, and every ticket costs a session copy and an encryption.
 */
#include "c2s.h"

#include <openssl/err.h>
#include <stdlib.h>

#include "log.h"
#include "tls_rec.h"

/* OpenSSL's three TLS 1.3 suites, in our preference order. */
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS13_TICKETS 1

static void tls_log_errors(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    log_error("%s: %s", what, e ? buf : "unknown error");
}

SSL_CTX *tls_server_ctx(const config_t *cfg, int *takeover)
{
    char *cert = config_file_path(cfg, "c2s.tls_cert", NULL);
    char *key = config_file_path(cfg, "c2s.tls_key", NULL);
    SSL_CTX *ctx = NULL;
    *takeover = config_bool(cfg, "c2s.tls_record_takeover", 1);
    if (!cert || !key) {
        log_error("config: c2s.tls_cert and c2s.tls_key are required");
        goto out;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { tls_log_errors("SSL_CTX_new"); goto out; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 || SSL_CTX_set_num_tickets(ctx, TLS13_TICKETS) != 1) {
        tls_log_errors("TLS cipher settings");
        SSL_CTX_free(ctx);
        ctx = NULL;
        goto out;
    }
    if (*takeover) tls_rec_ctx_setup(ctx);
    else log_info("TLS records stay with OpenSSL for the whole connection (c2s.tls_record_takeover)");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_log_errors(cert);
        SSL_CTX_free(ctx);
        ctx = NULL;
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        tls_log_errors(key);
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
out:
    free(cert);
    free(key);
    return ctx;
}
