/*
 * scram.c - SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677), see scram.h.
 *
 * Records hold salt, iteration count, StoredKey and ServerKey, derived with
 * PBKDF2 from the SASLprep'd password. The server side parses the three
 * client/server messages strictly, keeps the exact bytes that make up the
 * AuthMessage, and verifies the ClientProof in constant time; an unknown
 * user gets a deterministic fake salt so the exchange only fails at the
 * proof. The client side is the usual counterpart. All messages handled
 * here are the raw (base64-decoded) SASL payloads, at most SCRAM_MAX_MSG
 * bytes. Base64 is OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock behind a
 * strict syntax check.
 */
#include "scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_MAX_MSG 4096      /* bound on any one SCRAM message */
#define NONCE_RAW 24            /* random bytes in a generated nonce */
#define DEFAULT_SALT_LEN 16     /* random salt and fake salt length */
#define CLIENT_MIN_ITER 4096    /* iteration counts a client accepts */
#define CLIENT_MAX_ITER 1000000
#define GS2_HEADER_NO_CB "n,,"  /* the client's gs2-header */

/* ---- hashes ---- */

static int hash_ok(scram_hash h) { return h == SCRAM_SHA1 || h == SCRAM_SHA256; }

static const EVP_MD *hash_md(scram_hash h) { return h == SCRAM_SHA256 ? EVP_sha256() : EVP_sha1(); }

size_t scram_hash_len(scram_hash h) { return h == SCRAM_SHA256 ? 32 : 20; }

const char *scram_mech_name(scram_hash h)
{
    return h == SCRAM_SHA256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
}

/* out = HMAC(key, data), scram_hash_len(h) bytes. 0/-1. */
static int hmac(scram_hash h, const unsigned char *key, size_t klen, const void *data,
                size_t dlen, unsigned char *out)
{
    unsigned int olen = 0;
    if (klen > INT_MAX) return -1;
    if (!HMAC(hash_md(h), key, (int)klen, data, dlen, out, &olen)) return -1;
    return olen == scram_hash_len(h) ? 0 : -1;
}

/* out = H(data). 0/-1. */
static int digest(scram_hash h, const unsigned char *data, size_t len, unsigned char *out)
{
    return EVP_Digest(data, len, out, NULL, hash_md(h), NULL) == 1 ? 0 : -1;
}

static int random_bytes(unsigned char *p, size_t n)
{
    return n <= INT_MAX && RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}

/* ---- strings ---- */

/* Free a string that may hold a secret, wiping it first. */
static void free_secret(char *s)
{
    if (s) OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* Non-zero if the n bytes at s are well-formed UTF-8 (no overlongs,
 * surrogates or code points above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* SASLprep (RFC 4013, query semantics) of a NUL-terminated string. Returns
 * a malloc'd non-empty result, or NULL if preparation fails or yields "".
 * Printable ASCII is left unchanged by SASLprep, so it is copied as is. */
static char *saslprep(const char *in)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p < 0x20 || *p > 0x7E) { ascii = 0; break; }
    }
    if (ascii) return in[0] ? strdup(in) : NULL;
    char *out = NULL;
    if (stringprep_profile(in, &out, "SASLprep", 0) != STRINGPREP_OK) {
        free(out);
        return NULL;
    }
    if (out && !out[0]) { free(out); out = NULL; }
    return out;
}

/* Decode a saslname (RFC 5802: "=2C" is ',', "=3D" is '='; any other '='
 * is an error) of n bytes. Returns a malloc'd, NUL-terminated, non-empty,
 * valid UTF-8 string, or NULL. */
static char *saslname_decode(const char *s, size_t n)
{
    if (n == 0) return NULL;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '=') { out[o++] = s[i]; continue; }
        if (n - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C') out[o++] = ',';
        else if (n - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D') out[o++] = '=';
        else { free(out); return NULL; }
        i += 2;
    }
    out[o] = '\0';
    if (!utf8_valid((const unsigned char *)out, o)) { free(out); return NULL; }
    return out;
}

/* Append s to out as a saslname (',' -> "=2C", '=' -> "=3D"). 0/-1. */
static int saslname_encode(const char *s, buf_t *out)
{
    for (; *s; s++) {
        int r = *s == ',' ? buf_puts(out, "=2C") : *s == '=' ? buf_puts(out, "=3D")
                                                              : buf_append(out, s, 1);
        if (r < 0) return -1;
    }
    return 0;
}

/* Non-zero if the n bytes at s are a valid nonce: 1+ printable ASCII
 * characters other than ','. */
static int nonce_ok(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',') return 0;
    }
    return 1;
}

/* A fresh random nonce: NONCE_RAW bytes, base64 (no padding needed).
 * Returns a malloc'd string or NULL. */
static char *random_nonce(void)
{
    unsigned char raw[NONCE_RAW];
    buf_t b = BUF_INIT;
    if (random_bytes(raw, sizeof raw) < 0 || scram_b64_encode(raw, sizeof raw, &b) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* Non-zero if a raw message is within bounds and holds no NUL. */
static int msg_ok(const char *msg, size_t len)
{
    return msg && len > 0 && len <= SCRAM_MAX_MSG && !memchr(msg, '\0', len);
}

/* ---- base64 ---- */

int scram_b64_encode(const unsigned char *in, size_t len, buf_t *out)
{
    if (len > (INT_MAX / 4) * 3 - 3) return -1;
    size_t n = (len + 2) / 3 * 4;
    if (buf_reserve(out, n) < 0) return -1;
    int r = EVP_EncodeBlock((unsigned char *)out->data + out->len, in, (int)len);
    if (r < 0 || (size_t)r != n) return -1;
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

/* Value of a base64 character, or -1. */
static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict decode, appended to out: the length must be a multiple of 4, '='
 * may only be the last one or two characters, and the bits padding leaves
 * unused must be zero (canonical encoding). */
int scram_b64_decode(const char *in, size_t len, buf_t *out)
{
    if (len % 4 != 0 || len > INT_MAX) return -1;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=') pad = in[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++) {
        if (b64_val(in[i]) < 0) return -1;
    }
    if (pad == 1 && (b64_val(in[len - 2]) & 0x03)) return -1;
    if (pad == 2 && (b64_val(in[len - 3]) & 0x0F)) return -1;
    size_t n = len / 4 * 3;
    if (buf_reserve(out, n) < 0) return -1;
    int r = EVP_DecodeBlock((unsigned char *)out->data + out->len,
                            (const unsigned char *)in, (int)len);
    if (r < 0 || (size_t)r != n) return -1;
    out->len += n - pad;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- records ---- */

/* Derive StoredKey and ServerKey for an already prepared password. 0/-1. */
static int derive_keys(scram_hash h, const char *pw, const unsigned char *salt, size_t salt_len,
                       unsigned iter, unsigned char *stored_key, unsigned char *server_key)
{
    unsigned char salted[SCRAM_MAX_HASH], client_key[SCRAM_MAX_HASH];
    size_t hl = scram_hash_len(h), pwlen = strlen(pw);
    int rc = -1;
    if (pwlen > INT_MAX || salt_len > INT_MAX || iter == 0 || iter > INT_MAX) return -1;
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)salt_len, (int)iter, hash_md(h),
                          (int)hl, salted) != 1)
        goto out;
    if (hmac(h, salted, hl, "Client Key", 10, client_key) < 0 ||
        digest(h, client_key, hl, stored_key) < 0 ||
        hmac(h, salted, hl, "Server Key", 10, server_key) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return rc;
}

/* Non-zero if rec can be used with hash h. */
static int record_ok(const scram_record *rec, scram_hash h)
{
    return rec->hash == h && rec->salt_len > 0 && rec->salt_len <= SCRAM_MAX_SALT &&
           rec->iter > 0 && rec->iter <= INT_MAX;
}

int scram_make_record(scram_hash h, const char *password, const unsigned char *salt,
                      size_t salt_len, unsigned iter, scram_record *out)
{
    if (!hash_ok(h) || !password || !out || iter == 0 || iter > INT_MAX) return -1;
    memset(out, 0, sizeof *out);
    out->hash = h;
    out->iter = iter;
    if (salt) {
        if (salt_len == 0 || salt_len > SCRAM_MAX_SALT) return -1;
        memcpy(out->salt, salt, salt_len);
        out->salt_len = salt_len;
    } else {
        if (random_bytes(out->salt, DEFAULT_SALT_LEN) < 0) return -1;
        out->salt_len = DEFAULT_SALT_LEN;
    }
    char *pw = saslprep(password);
    if (!pw) return -1;
    int rc = derive_keys(h, pw, out->salt, out->salt_len, iter, out->stored_key, out->server_key);
    free_secret(pw);
    return rc;
}

int scram_check_password(const scram_record *rec, const char *password)
{
    scram_record tmp;
    if (!rec || !password || !hash_ok(rec->hash) || !record_ok(rec, rec->hash)) return 0;
    if (scram_make_record(rec->hash, password, rec->salt, rec->salt_len, rec->iter, &tmp) < 0)
        return 0;
    int eq = CRYPTO_memcmp(tmp.stored_key, rec->stored_key, scram_hash_len(rec->hash)) == 0;
    OPENSSL_cleanse(&tmp, sizeof tmp);
    return eq;
}

/* ---- message parsing ---- */

/* A cursor over "k=v,k=v,..." attributes. more says a ',' was consumed,
 * so another attribute must follow. */
typedef struct cursor {
    const char *p, *end;
    int more;
} cursor;

/* Read attribute "key=value" at the cursor; the value runs to the next ','
 * or the end. 0, or -1 if the next attribute is not key. */
static int attr(cursor *c, char key, const char **val, size_t *vlen)
{
    if (c->end - c->p < 2 || c->p[0] != key || c->p[1] != '=') return -1;
    const char *v = c->p + 2;
    const char *comma = memchr(v, ',', (size_t)(c->end - v));
    *val = v;
    *vlen = (size_t)((comma ? comma : c->end) - v);
    c->p = comma ? comma + 1 : c->end;
    c->more = comma != NULL;
    return 0;
}

/* Non-zero if the cursor is at attribute key ("key="). */
static int at_attr(const cursor *c, char key)
{
    return c->end - c->p >= 2 && c->p[0] == key && c->p[1] == '=';
}

/* Skip one extension attribute (ALPHA "=" 1*value-char). 0/-1. */
static int skip_extension(cursor *c)
{
    const char *v;
    size_t n;
    char k = c->p < c->end ? *c->p : '\0';
    if (!((k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z'))) return -1;
    return attr(c, k, &v, &n) == 0 && n > 0 ? 0 : -1;
}

/* Skip all remaining extension attributes. 0/-1. */
static int skip_extensions(cursor *c)
{
    while (c->more) {
        if (skip_extension(c) < 0) return -1;
    }
    return 0;
}

/* Parse a decimal iteration count of n bytes in [lo, hi]. 0/-1. */
static int parse_iter(const char *s, size_t n, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 10 || s[0] == '0') return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = (unsigned)v;
    return 0;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-
 * without-proof, appended to am. 0/-1. */
static int auth_message(buf_t *am, const char *bare, const char *sfirst, size_t sfirst_len,
                        const char *cfinal, size_t cfinal_len)
{
    if (buf_puts(am, bare) < 0 || buf_puts(am, ",") < 0 ||
        buf_append(am, sfirst, sfirst_len) < 0 || buf_puts(am, ",") < 0 ||
        buf_append(am, cfinal, cfinal_len) < 0)
        return -1;
    return 0;
}

/* ---- fake salts for unknown users ---- */

static unsigned char fake_secret[32];
static int fake_secret_ok;
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_secret_init(void)
{
    fake_secret_ok = random_bytes(fake_secret, sizeof fake_secret) == 0;
}

/* salt = first DEFAULT_SALT_LEN bytes of HMAC-SHA256(process secret, user):
 * the same for the same user for the life of the process. 0/-1. */
static int fake_salt(const char *user, unsigned char *salt)
{
    unsigned char mac[32];
    pthread_once(&fake_once, fake_secret_init);
    if (!fake_secret_ok) return -1;
    if (hmac(SCRAM_SHA256, fake_secret, sizeof fake_secret, user, strlen(user), mac) < 0)
        return -1;
    memcpy(salt, mac, DEFAULT_SALT_LEN);
    return 0;
}

/* ---- server ---- */

enum srv_state { SRV_NEW, SRV_GOT_FIRST, SRV_SENT_FIRST, SRV_DONE, SRV_FAILED };

struct scram_server {
    scram_hash h;
    enum srv_state state;
    char *gs2;          /* gs2-header exactly as received, e.g. "n,," */
    size_t gs2_len;
    char *bare;         /* client-first-message-bare as received */
    char *user;         /* SASLprep'd username */
    char *authzid;      /* decoded authzid or NULL */
    char *cnonce;       /* client nonce */
    char *snonce;       /* server nonce (random, or set by a test) */
    char *sfirst;       /* server-first-message as sent */
    scram_record rec;   /* the account's record, or the fake one */
    int known;          /* rec is a real account */
    const char *detail; /* last failure, for logs */
};

scram_server *scram_server_new(scram_hash h)
{
    if (!hash_ok(h)) return NULL;
    scram_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->h = h;
    s->state = SRV_NEW;
    s->detail = "";
    return s;
}

void scram_server_free(scram_server **sp)
{
    if (!sp || !*sp) return;
    scram_server *s = *sp;
    free(s->gs2);
    free(s->bare);
    free(s->user);
    free(s->authzid);
    free(s->cnonce);
    free(s->snonce);
    free(s->sfirst);
    OPENSSL_cleanse(&s->rec, sizeof s->rec);
    free(s);
    *sp = NULL;
}

const char *scram_server_authzid(const scram_server *s) { return s->authzid; }

const char *scram_server_detail(const scram_server *s) { return s->detail; }

/* Record a failure: the exchange cannot continue. Returns st. */
static scram_status srv_fail(scram_server *s, scram_status st, const char *detail)
{
    s->state = SRV_FAILED;
    s->detail = detail;
    return st;
}

int scram_server_set_nonce(scram_server *s, const char *snonce)
{
    if (!s || !snonce || s->state > SRV_GOT_FIRST || !nonce_ok(snonce, strlen(snonce)))
        return -1;
    char *copy = strdup(snonce);
    if (!copy) return -1;
    free(s->snonce);
    s->snonce = copy;
    return 0;
}

/* Parse the gs2-header at the start of msg; on SCRAM_OK c is positioned at
 * client-first-message-bare and s->gs2 / s->authzid are set. */
static scram_status parse_gs2_header(scram_server *s, const char *msg, cursor *c)
{
    const char *v;
    size_t n;
    if (at_attr(c, 'p')) return srv_fail(s, SCRAM_ERR_UNSUPPORTED, "channel binding not supported");
    if (c->end - c->p < 2 || (c->p[0] != 'n' && c->p[0] != 'y') || c->p[1] != ',')
        return srv_fail(s, SCRAM_ERR_MALFORMED, "bad gs2 channel binding flag");
    c->p += 2;
    if (c->p < c->end && *c->p == ',') {
        c->p++;
    } else {
        if (attr(c, 'a', &v, &n) < 0 || !c->more)
            return srv_fail(s, SCRAM_ERR_MALFORMED, "bad gs2 header");
        if (!(s->authzid = saslname_decode(v, n)))
            return srv_fail(s, SCRAM_ERR_MALFORMED, "bad authzid");
    }
    s->gs2_len = (size_t)(c->p - msg);
    if (!(s->gs2 = strndup(msg, s->gs2_len)))
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "out of memory");
    return SCRAM_OK;
}

scram_status scram_server_client_first(scram_server *s, const char *msg, size_t len,
                                       const char **username)
{
    const char *v;
    size_t n;
    if (s->state != SRV_NEW) return srv_fail(s, SCRAM_ERR_MALFORMED, "unexpected client-first");
    if (!msg_ok(msg, len)) return srv_fail(s, SCRAM_ERR_MALFORMED, "bad client-first length");
    cursor c = {msg, msg + len, 0};
    scram_status st = parse_gs2_header(s, msg, &c);
    if (st != SCRAM_OK) return st;

    const char *bare = c.p;
    if (at_attr(&c, 'm'))
        return srv_fail(s, SCRAM_ERR_UNSUPPORTED, "mandatory extension not supported");
    if (attr(&c, 'n', &v, &n) < 0 || !c.more)
        return srv_fail(s, SCRAM_ERR_MALFORMED, "missing username");
    char *raw = saslname_decode(v, n);
    if (!raw) return srv_fail(s, SCRAM_ERR_MALFORMED, "bad username encoding");
    s->user = saslprep(raw);
    free(raw);
    if (!s->user) return srv_fail(s, SCRAM_ERR_MALFORMED, "username fails SASLprep");
    if (attr(&c, 'r', &v, &n) < 0 || !nonce_ok(v, n))
        return srv_fail(s, SCRAM_ERR_MALFORMED, "bad client nonce");
    if (skip_extensions(&c) < 0) return srv_fail(s, SCRAM_ERR_MALFORMED, "bad extension");
    if (!(s->cnonce = strndup(v, n)) || !(s->bare = strndup(bare, (size_t)(c.end - bare))))
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "out of memory");
    s->state = SRV_GOT_FIRST;
    if (username) *username = s->user;
    return SCRAM_OK;
}

/* Set s->rec from rec, or a fake record for an unknown user. 0/-1. */
static int server_load_record(scram_server *s, const scram_record *rec)
{
    if (rec) {
        s->rec = *rec;
        s->known = 1;
        return 0;
    }
    memset(&s->rec, 0, sizeof s->rec);
    s->rec.hash = s->h;
    s->rec.iter = SCRAM_DEFAULT_ITER;
    s->rec.salt_len = DEFAULT_SALT_LEN;
    s->known = 0;
    return fake_salt(s->user, s->rec.salt);
}

scram_status scram_server_first(scram_server *s, const scram_record *rec, buf_t *out)
{
    if (s->state != SRV_GOT_FIRST) return srv_fail(s, SCRAM_ERR_MALFORMED, "unexpected server-first");
    if (rec && !record_ok(rec, s->h))
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "unusable record for this mechanism");
    if (server_load_record(s, rec) < 0)
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "cannot make fake salt");
    if (!s->snonce && !(s->snonce = random_nonce()))
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "cannot make nonce");

    buf_t m = BUF_INIT;
    if (buf_printf(&m, "r=%s%s,s=", s->cnonce, s->snonce) < 0 ||
        scram_b64_encode(s->rec.salt, s->rec.salt_len, &m) < 0 ||
        buf_printf(&m, ",i=%u", s->rec.iter) < 0 || buf_append(out, m.data, m.len) < 0) {
        buf_free(&m);
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "out of memory");
    }
    s->sfirst = buf_steal(&m, NULL);
    s->state = SRV_SENT_FIRST;
    return SCRAM_OK;
}

/* Check the c= attribute (base64 of the gs2-header) against the one the
 * client-first carried. */
static scram_status check_cbind(scram_server *s, const char *v, size_t n)
{
    buf_t cb = BUF_INIT;
    if (scram_b64_decode(v, n, &cb) < 0) {
        buf_free(&cb);
        return srv_fail(s, SCRAM_ERR_MALFORMED, "bad channel binding encoding");
    }
    int eq = cb.len == s->gs2_len && memcmp(cb.data, s->gs2, cb.len) == 0;
    buf_free(&cb);
    return eq ? SCRAM_OK : srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "channel binding data mismatch");
}

/* Check the combined nonce r= against cnonce + snonce. */
static scram_status check_nonce(scram_server *s, const char *v, size_t n)
{
    size_t cl = strlen(s->cnonce), sl = strlen(s->snonce);
    if (n != cl + sl || memcmp(v, s->cnonce, cl) != 0 || memcmp(v + cl, s->snonce, sl) != 0)
        return srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "nonce mismatch");
    return SCRAM_OK;
}

/* Verify proof (hl bytes) over auth message am; on success append
 * "v=<ServerSignature>" to out. */
static scram_status verify_proof(scram_server *s, const unsigned char *proof, const buf_t *am,
                                 buf_t *out)
{
    scram_hash h = s->h;
    size_t hl = scram_hash_len(h);
    unsigned char sig[SCRAM_MAX_HASH], key[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH];
    scram_status st = SCRAM_OK;
    if (hmac(h, s->rec.stored_key, hl, am->data, am->len, sig) < 0) {
        st = srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "hmac failed");
        goto out;
    }
    for (size_t i = 0; i < hl; i++) key[i] = proof[i] ^ sig[i];
    int match = digest(h, key, hl, stored) == 0 &&
                CRYPTO_memcmp(stored, s->rec.stored_key, hl) == 0;
    if (!s->known) {
        st = srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "unknown user");
    } else if (!match) {
        st = srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "wrong proof");
    } else if (hmac(h, s->rec.server_key, hl, am->data, am->len, sig) < 0 ||
               buf_puts(out, "v=") < 0 || scram_b64_encode(sig, hl, out) < 0) {
        st = srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "cannot make server signature");
    }
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(sig, sizeof sig);
    return st;
}

scram_status scram_server_client_final(scram_server *s, const char *msg, size_t len, buf_t *out)
{
    const char *v, *pv = NULL;
    size_t n, pn = 0, without_proof = 0;
    if (s->state != SRV_SENT_FIRST) return srv_fail(s, SCRAM_ERR_MALFORMED, "unexpected client-final");
    if (!msg_ok(msg, len)) return srv_fail(s, SCRAM_ERR_MALFORMED, "bad client-final length");
    cursor c = {msg, msg + len, 0};
    scram_status st;

    if (attr(&c, 'c', &v, &n) < 0 || !c.more)
        return srv_fail(s, SCRAM_ERR_MALFORMED, "missing channel binding");
    if ((st = check_cbind(s, v, n)) != SCRAM_OK) return st;
    if (attr(&c, 'r', &v, &n) < 0) return srv_fail(s, SCRAM_ERR_MALFORMED, "missing nonce");
    if ((st = check_nonce(s, v, n)) != SCRAM_OK) return st;
    while (c.more) {
        if (at_attr(&c, 'p')) {
            without_proof = (size_t)(c.p - 1 - msg);
            attr(&c, 'p', &pv, &pn);
            if (c.more) return srv_fail(s, SCRAM_ERR_MALFORMED, "proof is not last");
        } else if (skip_extension(&c) < 0) {
            return srv_fail(s, SCRAM_ERR_MALFORMED, "bad extension");
        }
    }
    if (!pv) return srv_fail(s, SCRAM_ERR_MALFORMED, "missing proof");

    buf_t proof = BUF_INIT, am = BUF_INIT;
    if (scram_b64_decode(pv, pn, &proof) < 0 || proof.len != scram_hash_len(s->h)) {
        st = srv_fail(s, SCRAM_ERR_MALFORMED, "bad proof");
    } else if (auth_message(&am, s->bare, s->sfirst, strlen(s->sfirst), msg, without_proof) < 0) {
        st = srv_fail(s, SCRAM_ERR_NOT_AUTHORIZED, "out of memory");
    } else {
        st = verify_proof(s, (const unsigned char *)proof.data, &am, out);
    }
    buf_free(&proof);
    buf_free(&am);
    if (st == SCRAM_OK) s->state = SRV_DONE;
    return st;
}

/* ---- client ---- */

enum cli_state { CLI_NEW, CLI_SENT_FIRST, CLI_SENT_FINAL, CLI_DONE, CLI_FAILED };

struct scram_client {
    scram_hash h;
    enum cli_state state;
    char *user;         /* SASLprep'd username, saslname-encoded */
    char *password;     /* SASLprep'd password */
    char *cnonce;       /* client nonce */
    char *bare;         /* client-first-message-bare as sent */
    unsigned char server_sig[SCRAM_MAX_HASH]; /* expected ServerSignature */
};

scram_client *scram_client_new(scram_hash h, const char *user, const char *password,
                               const char *nonce)
{
    if (!hash_ok(h) || !user || !password) return NULL;
    if (nonce && !nonce_ok(nonce, strlen(nonce))) return NULL;
    scram_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->h = h;
    c->state = CLI_NEW;
    char *u = saslprep(user);
    buf_t ub = BUF_INIT;
    if (u && saslname_encode(u, &ub) == 0) c->user = buf_steal(&ub, NULL);
    buf_free(&ub);
    free(u);
    c->password = saslprep(password);
    c->cnonce = nonce ? strdup(nonce) : random_nonce();
    if (!c->user || !c->password || !c->cnonce) scram_client_free(&c);
    return c;
}

void scram_client_free(scram_client **cp)
{
    if (!cp || !*cp) return;
    scram_client *c = *cp;
    free(c->user);
    free_secret(c->password);
    free(c->cnonce);
    free(c->bare);
    OPENSSL_cleanse(c->server_sig, sizeof c->server_sig);
    free(c);
    *cp = NULL;
}

int scram_client_first(scram_client *c, buf_t *out)
{
    if (c->state != CLI_NEW) return -1;
    buf_t b = BUF_INIT;
    if (buf_printf(&b, "n=%s,r=%s", c->user, c->cnonce) < 0 ||
        buf_puts(out, GS2_HEADER_NO_CB) < 0 || buf_append(out, b.data, b.len) < 0) {
        buf_free(&b);
        return -1;
    }
    c->bare = buf_steal(&b, NULL);
    c->state = CLI_SENT_FIRST;
    return 0;
}

/* Parsed server-first-message. */
typedef struct server_first {
    const char *nonce;
    size_t nonce_len;
    unsigned char salt[SCRAM_MAX_SALT];
    size_t salt_len;
    unsigned iter;
} server_first;

/* Parse server-first "r=...,s=...,i=...[,ext]" and check the nonce
 * extends ours. 0/-1. */
static int parse_server_first(const scram_client *c, const char *msg, size_t len, server_first *sf)
{
    const char *v;
    size_t n;
    cursor cur = {msg, msg + len, 0};
    if (!msg_ok(msg, len)) return -1;
    if (attr(&cur, 'r', &sf->nonce, &sf->nonce_len) < 0 || !cur.more) return -1;
    size_t cl = strlen(c->cnonce);
    if (!nonce_ok(sf->nonce, sf->nonce_len) || sf->nonce_len <= cl ||
        memcmp(sf->nonce, c->cnonce, cl) != 0)
        return -1;
    if (attr(&cur, 's', &v, &n) < 0 || !cur.more) return -1;
    buf_t salt = BUF_INIT;
    int ok = scram_b64_decode(v, n, &salt) == 0 && salt.len > 0 && salt.len <= SCRAM_MAX_SALT;
    if (ok) memcpy(sf->salt, salt.data, salt.len);
    sf->salt_len = salt.len;
    buf_free(&salt);
    if (!ok) return -1;
    if (attr(&cur, 'i', &v, &n) < 0 ||
        parse_iter(v, n, CLIENT_MIN_ITER, CLIENT_MAX_ITER, &sf->iter) < 0)
        return -1;
    return skip_extensions(&cur);
}

/* Compute the proof and expected server signature for auth message am and
 * append "<cfinal>,p=<proof>" to out. 0/-1. */
static int client_prove(scram_client *c, const server_first *sf, const buf_t *am,
                        const buf_t *cfinal, buf_t *out)
{
    scram_hash h = c->h;
    size_t hl = scram_hash_len(h);
    unsigned char salted[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH];
    unsigned char skey[SCRAM_MAX_HASH], sig[SCRAM_MAX_HASH];
    int rc = -1;
    if (PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password), sf->salt, (int)sf->salt_len,
                          (int)sf->iter, hash_md(h), (int)hl, salted) != 1 ||
        hmac(h, salted, hl, "Client Key", 10, ckey) < 0 || digest(h, ckey, hl, stored) < 0 ||
        hmac(h, stored, hl, am->data, am->len, sig) < 0 ||
        hmac(h, salted, hl, "Server Key", 10, skey) < 0 ||
        hmac(h, skey, hl, am->data, am->len, c->server_sig) < 0)
        goto out;
    for (size_t i = 0; i < hl; i++) ckey[i] ^= sig[i]; /* ClientProof */
    if (buf_append(out, cfinal->data, cfinal->len) < 0 || buf_puts(out, ",p=") < 0 ||
        scram_b64_encode(ckey, hl, out) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(ckey, sizeof ckey);
    OPENSSL_cleanse(skey, sizeof skey);
    return rc;
}

int scram_client_final(scram_client *c, const char *server_first_msg, size_t len, buf_t *out)
{
    server_first sf;
    if (c->state != CLI_SENT_FIRST) return -1;
    c->state = CLI_FAILED;
    if (parse_server_first(c, server_first_msg, len, &sf) < 0) return -1;

    buf_t cfinal = BUF_INIT, am = BUF_INIT;
    int rc = -1;
    if (buf_puts(&cfinal, "c=") == 0 &&
        scram_b64_encode((const unsigned char *)GS2_HEADER_NO_CB, 3, &cfinal) == 0 &&
        buf_puts(&cfinal, ",r=") == 0 && buf_append(&cfinal, sf.nonce, sf.nonce_len) == 0 &&
        auth_message(&am, c->bare, server_first_msg, len, cfinal.data, cfinal.len) == 0)
        rc = client_prove(c, &sf, &am, &cfinal, out);
    buf_free(&cfinal);
    buf_free(&am);
    if (rc == 0) c->state = CLI_SENT_FINAL;
    return rc;
}

int scram_client_verify(scram_client *c, const char *server_final, size_t len)
{
    const char *v;
    size_t n;
    if (c->state != CLI_SENT_FINAL) return -1;
    c->state = CLI_FAILED;
    if (!msg_ok(server_final, len)) return -1;
    cursor cur = {server_final, server_final + len, 0};
    if (attr(&cur, 'v', &v, &n) < 0 || skip_extensions(&cur) < 0) return -1; /* also "e=" */
    buf_t sig = BUF_INIT;
    size_t hl = scram_hash_len(c->h);
    int ok = scram_b64_decode(v, n, &sig) == 0 && sig.len == hl &&
             CRYPTO_memcmp(sig.data, c->server_sig, hl) == 0;
    buf_free(&sig);
    if (!ok) return -1;
    c->state = CLI_DONE;
    return 0;
}
