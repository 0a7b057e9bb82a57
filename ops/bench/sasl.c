/*
 * sasl.c - SASL PLAIN and SCRAM client with cached keys (see sasl.h).
 *
 * SCRAM per RFC 5802: client-first "n,,n=<user>,r=<cnonce>", the server's
 * "r=,s=,i=", client-final "c=biws,r=<nonce>,p=<proof>", and the
 * server's "v=<signature>" checked at <success/> (or in a last challenge,
 * for servers that send it there). Base64 comes from the proto library;
 * HMAC and PBKDF2 from OpenSSL.
 */
#include "sasl.h"

#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "scram.h"

#define MAX_ITER 1000000u   /* refuse absurd iteration counts */
#define MAX_MSG 2048        /* bound on a decoded SCRAM message */

const char *sasl_mech_name(sasl_mech m)
{
    switch (m) {
    case SASL_SCRAM_SHA1: return "SCRAM-SHA-1";
    case SASL_SCRAM_SHA256: return "SCRAM-SHA-256";
    default: return "PLAIN";
    }
}

int sasl_mech_parse(const char *s, sasl_mech *m)
{
    for (int i = SASL_PLAIN; i <= SASL_SCRAM_SHA256; i++) {
        if (strcmp(s, sasl_mech_name((sasl_mech)i)) == 0) {
            *m = (sasl_mech)i;
            return 0;
        }
    }
    return -1;
}

char *sasl_prepare_password(const char *password)
{
    char *out = NULL;
    if (stringprep_profile(password, &out, "SASLprep", 0) != STRINGPREP_OK || !out || !out[0]) {
        free(out);
        return NULL;
    }
    return out;
}

static const EVP_MD *mech_md(sasl_mech m) { return m == SASL_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1(); }
static size_t mech_hlen(sasl_mech m) { return m == SASL_SCRAM_SHA256 ? 32 : 20; }

/* out = HMAC(key, data). 0/-1. */
static int hmac(sasl_mech m, const unsigned char *key, size_t klen, const void *data, size_t dlen,
                unsigned char *out)
{
    unsigned int olen = 0;
    return HMAC(mech_md(m), key, (int)klen, data, dlen, out, &olen) && olen == mech_hlen(m) ? 0 : -1;
}

/* Append user with ',' and '=' escaped as SCRAM's saslname wants. */
static int put_saslname(buf_t *b, const char *user)
{
    for (const char *p = user; *p; p++) {
        int rc = *p == ',' ? buf_puts(b, "=2C") : *p == '=' ? buf_puts(b, "=3D") : buf_append(b, p, 1);
        if (rc < 0) return -1;
    }
    return 0;
}

/* A fresh printable nonce of SASL_NONCE_LEN characters. 0/-1. */
static int make_nonce(char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[SASL_NONCE_LEN];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    for (size_t i = 0; i < SASL_NONCE_LEN; i++) out[i] = alphabet[raw[i] & 63];
    out[SASL_NONCE_LEN] = '\0';
    return 0;
}

int sasl_initial(sasl_mech m, sasl_state *st, const char *user, const char *password, buf_t *out)
{
    buf_t raw = BUF_INIT;
    int rc = -1;
    memset(st, 0, sizeof *st);
    if (m == SASL_PLAIN) {
        if (buf_append(&raw, "", 1) == 0 && buf_puts(&raw, user) == 0 &&
            buf_append(&raw, "", 1) == 0 && buf_puts(&raw, password) == 0)
            rc = scram_b64_encode((const unsigned char *)raw.data, raw.len, out);
    } else if (make_nonce(st->cnonce) == 0 && buf_puts(&raw, "n,,n=") == 0 &&
               put_saslname(&raw, user) == 0 && buf_printf(&raw, ",r=%s", st->cnonce) == 0) {
        rc = scram_b64_encode((const unsigned char *)raw.data, raw.len, out);
    }
    if (raw.data) OPENSSL_cleanse(raw.data, raw.cap);
    buf_free(&raw);
    if (rc == 0) st->step = 1;
    return rc;
}

/* Parsed server-first-message. */
typedef struct server_first {
    const char *nonce;      /* r= value */
    size_t nonce_len;
    unsigned char salt[SASL_MAX_SALT];
    size_t salt_len;
    uint32_t iter;
} server_first;

/* Value of the attribute `key=` that starts at *p (up to ',' or end). */
static int take_attr(const char **p, const char *end, char key, const char **v, size_t *vlen)
{
    if (end - *p < 2 || (*p)[0] != key || (*p)[1] != '=') return -1;
    const char *s = *p + 2, *c = memchr(s, ',', (size_t)(end - s));
    const char *e = c ? c : end;
    *v = s;
    *vlen = (size_t)(e - s);
    *p = c ? c + 1 : end;
    return 0;
}

static int parse_server_first(const sasl_state *st, const char *msg, size_t len, server_first *sf)
{
    const char *p = msg, *end = msg + len, *v;
    size_t n;
    if (take_attr(&p, end, 'r', &sf->nonce, &sf->nonce_len) < 0 ||
        sf->nonce_len <= SASL_NONCE_LEN || memcmp(sf->nonce, st->cnonce, SASL_NONCE_LEN) != 0)
        return -1;
    if (take_attr(&p, end, 's', &v, &n) < 0) return -1;
    buf_t salt = BUF_INIT;
    int ok = scram_b64_decode(v, n, &salt) == 0 && salt.len > 0 && salt.len <= SASL_MAX_SALT;
    if (ok) memcpy(sf->salt, salt.data, salt.len);
    sf->salt_len = salt.len;
    buf_free(&salt);
    if (!ok || take_attr(&p, end, 'i', &v, &n) < 0 || n == 0 || n > 7) return -1;
    uint32_t it = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        it = it * 10 + (uint32_t)(v[i] - '0');
    }
    if (it == 0 || it > MAX_ITER) return -1;
    sf->iter = it;
    return 0;
}

/* Make sure keys hold the keys for sf's salt and count. 0/-1. */
static int ensure_keys(sasl_mech m, sasl_keys *keys, const char *password, const server_first *sf,
                       int *missed)
{
    size_t hl = mech_hlen(m);
    *missed = 0;
    if (keys->salt_len == sf->salt_len && keys->iter == sf->iter &&
        memcmp(keys->salt, sf->salt, sf->salt_len) == 0)
        return 0;
    unsigned char salted[SASL_MAX_HASH];
    *missed = 1;
    keys->salt_len = 0;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), sf->salt, (int)sf->salt_len,
                          (int)sf->iter, mech_md(m), (int)hl, salted) != 1 ||
        hmac(m, salted, hl, "Client Key", 10, keys->client_key) < 0 ||
        EVP_Digest(keys->client_key, hl, keys->stored_key, NULL, mech_md(m), NULL) != 1 ||
        hmac(m, salted, hl, "Server Key", 10, keys->server_key) < 0) {
        OPENSSL_cleanse(salted, sizeof salted);
        return -1;
    }
    OPENSSL_cleanse(salted, sizeof salted);
    memcpy(keys->salt, sf->salt, sf->salt_len);
    keys->salt_len = (uint8_t)sf->salt_len;
    keys->iter = sf->iter;
    return 0;
}

/* Server-final "v=<sig>[,ext]" or "e=<error>": 0 if the signature is ours. */
static int check_server_final(sasl_mech m, const sasl_state *st, const char *msg, size_t len)
{
    const char *p = msg, *v;
    size_t n;
    if (take_attr(&p, msg + len, 'v', &v, &n) < 0) return -1;
    buf_t sig = BUF_INIT;
    size_t hl = mech_hlen(m);
    int ok = scram_b64_decode(v, n, &sig) == 0 && sig.len == hl &&
             CRYPTO_memcmp(sig.data, st->server_sig, hl) == 0;
    buf_free(&sig);
    return ok ? 0 : -1;
}

static int client_final(sasl_mech m, sasl_state *st, sasl_keys *keys, const char *user,
                        const char *password, const char *sfirst, size_t sflen, buf_t *out,
                        int *missed)
{
    server_first sf;
    size_t hl = mech_hlen(m);
    if (parse_server_first(st, sfirst, sflen, &sf) < 0 ||
        ensure_keys(m, keys, password, &sf, missed) < 0)
        return -1;
    buf_t am = BUF_INIT, fin = BUF_INIT;
    unsigned char sig[SASL_MAX_HASH], proof[SASL_MAX_HASH];
    int rc = -1;
    size_t without_proof = 0;
    if (buf_puts(&fin, "c=biws,r=") < 0 || buf_append(&fin, sf.nonce, sf.nonce_len) < 0) goto out;
    without_proof = fin.len;
    if (buf_puts(&am, "n=") < 0 || put_saslname(&am, user) < 0 ||
        buf_printf(&am, ",r=%s,", st->cnonce) < 0 || buf_append(&am, sfirst, sflen) < 0 ||
        buf_puts(&am, ",") < 0 || buf_append(&am, fin.data, without_proof) < 0)
        goto out;
    if (hmac(m, keys->stored_key, hl, am.data, am.len, sig) < 0 ||
        hmac(m, keys->server_key, hl, am.data, am.len, st->server_sig) < 0)
        goto out;
    for (size_t i = 0; i < hl; i++) proof[i] = keys->client_key[i] ^ sig[i];
    if (buf_puts(&fin, ",p=") < 0 || scram_b64_encode(proof, hl, &fin) < 0) goto out;
    rc = scram_b64_encode((const unsigned char *)fin.data, fin.len, out);
out:
    buf_free(&am);
    buf_free(&fin);
    return rc;
}

int sasl_challenge(sasl_mech m, sasl_state *st, sasl_keys *keys, const char *user,
                   const char *password, const char *b64, size_t b64_len, buf_t *out,
                   int *missed)
{
    *missed = 0;
    if (m == SASL_PLAIN || b64_len > MAX_MSG) return -1;
    buf_t msg = BUF_INIT;
    int rc = -1;
    if (scram_b64_decode(b64, b64_len, &msg) < 0 || msg.len == 0) goto out;
    if (st->step == 1) {
        rc = client_final(m, st, keys, user, password, msg.data, msg.len, out, missed);
        if (rc == 0) st->step = 2;
    } else if (st->step == 2) {
        /* server-final sent as a challenge: verify it, answer empty */
        rc = check_server_final(m, st, msg.data, msg.len);
        if (rc == 0) st->step = 3;
    }
out:
    buf_free(&msg);
    return rc;
}

int sasl_success(sasl_mech m, const sasl_state *st, const char *b64, size_t b64_len)
{
    if (m == SASL_PLAIN) return 0;
    if (b64_len == 0 || (b64_len == 1 && b64[0] == '=')) return st->step == 3 ? 0 : -1;
    if (st->step != 2 || b64_len > MAX_MSG) return -1;
    buf_t msg = BUF_INIT;
    int rc = scram_b64_decode(b64, b64_len, &msg) == 0 ? check_server_final(m, st, msg.data, msg.len) : -1;
    buf_free(&msg);
    return rc;
}
