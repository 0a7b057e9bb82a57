/*
 * test_scram.c - unit tests for proto/scram.c: the RFC 5802 (SCRAM-SHA-1)
 * and RFC 7677 (SCRAM-SHA-256) test vectors on both the client and the
 * server side, client<->server round trips, failure paths (wrong password,
 * unknown user, tampered messages, channel binding, malformed input),
 * records and PLAIN checks, SASLprep, and strict base64.
 */
#include "scram.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* The message in b as a C string ("" when empty). */
static const char *str(const buf_t *b) { return b->data ? b->data : ""; }

/* Record for password with a base64 salt. */
static scram_record record_b64(scram_hash h, const char *password, const char *salt_b64,
                               unsigned iter)
{
    scram_record rec;
    buf_t salt = BUF_INIT;
    memset(&rec, 0, sizeof rec);
    CHECK_INT(scram_b64_decode(salt_b64, strlen(salt_b64), &salt), 0);
    CHECK_INT(scram_make_record(h, password, (const unsigned char *)salt.data, salt.len, iter,
                                &rec), 0);
    buf_free(&salt);
    return rec;
}

/* Feed a client-first message to a fresh server; returns the status. */
static scram_status server_first_msg(scram_server *s, const char *msg)
{
    const char *user = NULL;
    return scram_server_client_first(s, msg, strlen(msg), &user);
}

/* Run one published vector through both sides and compare every message. */
static void check_vector(scram_hash h, const char *cnonce, const char *snonce,
                         const char *salt_b64, const char *exp_sfirst, const char *exp_cfinal,
                         const char *exp_sfinal)
{
    scram_record rec = record_b64(h, "pencil", salt_b64, 4096);
    scram_client *c = scram_client_new(h, "user", "pencil", cnonce);
    scram_server *s = scram_server_new(h);
    buf_t cfirst = BUF_INIT, sfirst = BUF_INIT, cfinal = BUF_INIT, sfinal = BUF_INIT;
    char exp_cfirst[128];
    const char *user = NULL;
    CHECK(c != NULL && s != NULL);
    if (!c || !s) goto out;

    snprintf(exp_cfirst, sizeof exp_cfirst, "n,,n=user,r=%s", cnonce);
    CHECK_INT(scram_client_first(c, &cfirst), 0);
    CHECK_STR(str(&cfirst), exp_cfirst);

    CHECK_INT(scram_server_client_first(s, cfirst.data, cfirst.len, &user), SCRAM_OK);
    CHECK_STR(user, "user");
    CHECK(scram_server_authzid(s) == NULL);
    CHECK_INT(scram_server_set_nonce(s, snonce), 0);
    CHECK_INT(scram_server_first(s, &rec, &sfirst), SCRAM_OK);
    CHECK_STR(str(&sfirst), exp_sfirst);

    CHECK_INT(scram_client_final(c, sfirst.data, sfirst.len, &cfinal), 0);
    CHECK_STR(str(&cfinal), exp_cfinal);

    CHECK_INT(scram_server_client_final(s, cfinal.data, cfinal.len, &sfinal), SCRAM_OK);
    CHECK_STR(str(&sfinal), exp_sfinal);
    CHECK_INT(scram_client_verify(c, sfinal.data, sfinal.len), 0);
out:
    scram_client_free(&c);
    scram_server_free(&s);
    CHECK(c == NULL && s == NULL);
    buf_free(&cfirst);
    buf_free(&sfirst);
    buf_free(&cfinal);
    buf_free(&sfinal);
}

static void test_rfc5802_vector(void)
{
    check_vector(SCRAM_SHA1, "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j", "QSXCR+Q6sek8bf92",
                 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                 "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_rfc7677_vector(void)
{
    check_vector(SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                 "W22ZaJ0SNY7soEsUEjb6gQ==",
                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

static void test_names(void)
{
    CHECK_INT(scram_hash_len(SCRAM_SHA1), 20);
    CHECK_INT(scram_hash_len(SCRAM_SHA256), 32);
    CHECK_STR(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1");
    CHECK_STR(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256");
}

/* A full exchange with random nonces. rec may be NULL (unknown user).
 * Returns the status of the server's verdict on client-final; *verified
 * says whether the client accepted the server signature. */
static scram_status exchange(scram_hash h, const scram_record *rec, const char *user,
                             const char *password, const char *expect_user, int *verified)
{
    scram_client *c = scram_client_new(h, user, password, NULL);
    scram_server *s = scram_server_new(h);
    buf_t m1 = BUF_INIT, m2 = BUF_INIT, m3 = BUF_INIT, m4 = BUF_INIT;
    const char *u = NULL;
    scram_status st = SCRAM_ERR_MALFORMED;
    *verified = 0;
    CHECK(c != NULL && s != NULL);
    if (!c || !s) goto out;
    CHECK_INT(scram_client_first(c, &m1), 0);
    CHECK_INT(scram_server_client_first(s, m1.data, m1.len, &u), SCRAM_OK);
    CHECK_STR(u, expect_user);
    CHECK_INT(scram_server_first(s, rec, &m2), SCRAM_OK);
    CHECK_INT(scram_client_final(c, m2.data, m2.len, &m3), 0);
    st = scram_server_client_final(s, m3.data, m3.len, &m4);
    if (st == SCRAM_OK) *verified = scram_client_verify(c, m4.data, m4.len) == 0;
    else CHECK_INT(m4.len, 0);
out:
    scram_client_free(&c);
    scram_server_free(&s);
    buf_free(&m1);
    buf_free(&m2);
    buf_free(&m3);
    buf_free(&m4);
    return st;
}

static void test_round_trip(void)
{
    for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
        scram_record rec;
        int ok = 0;
        CHECK_INT(scram_make_record((scram_hash)h, "s3cret pass", NULL, 0, 4096, &rec), 0);
        CHECK_INT(rec.salt_len, 16);
        CHECK_INT(exchange((scram_hash)h, &rec, "juliet", "s3cret pass", "juliet", &ok), SCRAM_OK);
        CHECK(ok);
        /* Usernames with ',' and '=' travel escaped; SASLprep maps the
         * soft hyphen away and NFKC the Roman numeral. */
        CHECK_INT(exchange((scram_hash)h, &rec, "a,b=c", "s3cret pass", "a,b=c", &ok), SCRAM_OK);
        CHECK(ok);
        CHECK_INT(exchange((scram_hash)h, &rec, "hen\xc2\xadry\xe2\x85\xa3", "s3cret pass",
                           "henryIV", &ok), SCRAM_OK);
        CHECK(ok);
        /* A non-ASCII password and a SASLprep-equivalent spelling of it. */
        CHECK_INT(scram_make_record((scram_hash)h, "I\xc2\xadX\xc3\xa9", NULL, 0, 4096, &rec), 0);
        CHECK_INT(exchange((scram_hash)h, &rec, "u", "IX\xc3\xa9", "u", &ok), SCRAM_OK);
        CHECK(ok);
    }
}

static void test_wrong_password_and_unknown_user(void)
{
    for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
        scram_record rec;
        int ok = 1;
        CHECK_INT(scram_make_record((scram_hash)h, "right", NULL, 0, 4096, &rec), 0);
        CHECK_INT(exchange((scram_hash)h, &rec, "juliet", "wrong", "juliet", &ok),
                  SCRAM_ERR_NOT_AUTHORIZED);
        CHECK(!ok);
        CHECK_INT(exchange((scram_hash)h, NULL, "nobody", "whatever", "nobody", &ok),
                  SCRAM_ERR_NOT_AUTHORIZED);
        CHECK(!ok);
    }

    /* Unknown user: server-first looks normal, with a salt that is stable
     * per username and differs between usernames. */
    buf_t a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
    const char *msgs[] = {"n,,n=ghost,r=abc", "n,,n=ghost,r=abc", "n,,n=spirit,r=abc"};
    buf_t *outs[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        scram_server *s = scram_server_new(SCRAM_SHA256);
        CHECK_INT(server_first_msg(s, msgs[i]), SCRAM_OK);
        CHECK_INT(scram_server_set_nonce(s, "XYZ"), 0);
        CHECK_INT(scram_server_first(s, NULL, outs[i]), SCRAM_OK);
        scram_server_free(&s);
    }
    CHECK(strncmp(str(&a), "r=abcXYZ,s=", 11) == 0);
    CHECK_INT(strlen(str(&a)), strlen("r=abcXYZ,s=") + 24 + strlen(",i=4096"));
    CHECK(a.len > 7 && strcmp(a.data + a.len - 7, ",i=4096") == 0);
    CHECK_STR(str(&a), str(&b));
    CHECK(strcmp(str(&a), str(&c)) != 0);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
}

/* Drive a server through client-first and server-first of the RFC 5802
 * vector; returns it ready for client-final. */
static scram_server *vector_server(scram_record *rec)
{
    *rec = record_b64(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
    scram_server *s = scram_server_new(SCRAM_SHA1);
    buf_t out = BUF_INIT;
    CHECK_INT(server_first_msg(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), SCRAM_OK);
    CHECK_INT(scram_server_set_nonce(s, "3rfcNHYJY1ZVvWVs7j"), 0);
    CHECK_INT(scram_server_first(s, rec, &out), SCRAM_OK);
    buf_free(&out);
    return s;
}

/* Status of the vector server for client-final msg. */
static scram_status vector_final(const char *msg)
{
    scram_record rec;
    scram_server *s = vector_server(&rec);
    buf_t out = BUF_INIT;
    scram_status st = scram_server_client_final(s, msg, strlen(msg), &out);
    if (st != SCRAM_OK) CHECK_INT(out.len, 0);
    scram_server_free(&s);
    buf_free(&out);
    return st;
}

#define NONCE5802 "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define PROOF5802 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

static void test_tampered_final(void)
{
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p=" PROOF5802), SCRAM_OK);
    /* c= says "y,," while client-first said "n,,". */
    CHECK_INT(vector_final("c=eSws,r=" NONCE5802 ",p=" PROOF5802), SCRAM_ERR_NOT_AUTHORIZED);
    /* c= with an authzid the client-first did not carry. */
    CHECK_INT(vector_final("c=bixhPXgs,r=" NONCE5802 ",p=" PROOF5802), SCRAM_ERR_NOT_AUTHORIZED);
    /* Nonce changed, truncated, extended. */
    CHECK_INT(vector_final("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J,p=" PROOF5802),
              SCRAM_ERR_NOT_AUTHORIZED);
    CHECK_INT(vector_final("c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=" PROOF5802),
              SCRAM_ERR_NOT_AUTHORIZED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 "x,p=" PROOF5802), SCRAM_ERR_NOT_AUTHORIZED);
    /* Proof altered in one bit. */
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tc="),
              SCRAM_ERR_NOT_AUTHORIZED);
    /* An extension changes the AuthMessage, so the old proof fails. */
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",x=1,p=" PROOF5802), SCRAM_ERR_NOT_AUTHORIZED);
}

static void test_malformed_final(void)
{
    CHECK_INT(vector_final(""), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("r=" NONCE5802 ",p=" PROOF5802), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws"), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ","), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=bi ws,r=" NONCE5802 ",p=" PROOF5802), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p=" PROOF5802 ",x=1"), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p=!!!!"), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p="), SCRAM_ERR_MALFORMED);
    /* Proof of the wrong length (16 bytes for SHA-1). */
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",p=AAAAAAAAAAAAAAAAAAAAAA=="), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",1=x,p=" PROOF5802), SCRAM_ERR_MALFORMED);
    CHECK_INT(vector_final("c=biws,r=" NONCE5802 ",x=,p=" PROOF5802), SCRAM_ERR_MALFORMED);

    /* Embedded NUL and over-long message. */
    scram_record rec;
    scram_server *s = vector_server(&rec);
    buf_t out = BUF_INIT;
    const char nul[] = "c=biws\0,r=" NONCE5802 ",p=" PROOF5802;
    CHECK_INT(scram_server_client_final(s, nul, sizeof nul - 1, &out), SCRAM_ERR_MALFORMED);
    scram_server_free(&s);
    s = vector_server(&rec);
    char *big = malloc(5000);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'x', 5000);
        memcpy(big, "c=biws,r=", 9);
        CHECK_INT(scram_server_client_final(s, big, 5000, &out), SCRAM_ERR_MALFORMED);
        free(big);
    }
    scram_server_free(&s);
    buf_free(&out);
}

static void test_gs2_and_authzid(void)
{
    scram_server *s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "p=tls-unique,,n=user,r=abc"), SCRAM_ERR_UNSUPPORTED);
    CHECK_STR(scram_server_detail(s), "channel binding not supported");
    scram_server_free(&s);

    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "n,,m=ext,n=user,r=abc"), SCRAM_ERR_UNSUPPORTED);
    scram_server_free(&s);

    /* 'y': client supports channel binding, thinks we do not. */
    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "y,,n=user,r=abc"), SCRAM_OK);
    CHECK(scram_server_authzid(s) == NULL);
    scram_server_free(&s);

    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "n,a=juliet=2C=3Dx@example.com,n=user,r=abc"), SCRAM_OK);
    CHECK_STR(scram_server_authzid(s), "juliet,=x@example.com");
    scram_server_free(&s);

    /* Client-first extensions are accepted and ignored. */
    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc,x=1,Y=2"), SCRAM_OK);
    scram_server_free(&s);

    /* c= must repeat the gs2-header with its authzid exactly. */
    scram_record rec = record_b64(SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096);
    const char *first = "n,a=user,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    buf_t out = BUF_INIT;
    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, first), SCRAM_OK);
    CHECK_STR(scram_server_authzid(s), "user");
    CHECK_INT(scram_server_set_nonce(s, "3rfcNHYJY1ZVvWVs7j"), 0);
    CHECK_INT(scram_server_first(s, &rec, &out), SCRAM_OK);
    buf_reset(&out);
    const char *fin = "c=biws,r=" NONCE5802 ",p=" PROOF5802;
    CHECK_INT(scram_server_client_final(s, fin, strlen(fin), &out), SCRAM_ERR_NOT_AUTHORIZED);
    scram_server_free(&s);
    buf_free(&out);
}

static void test_malformed_first(void)
{
    const char *bad[] = {
        "", "n", "n,", "n,,", "x,,n=user,r=abc", "nn,,n=user,r=abc", "n,,r=abc",
        "n,,n=user", "n,,n=user,", "n,,n=,r=abc", "n,,n=user,r=", "n,,n=u=2Xr,r=abc",
        "n,,n=u=2,r=abc", "n,,n=u=,r=abc", "n,,n=user,r=a b", "n,,n=user,r=abc,",
        "n,,n=user,r=abc,b", "n,,n=user,r=abc,1=x", "n,a=x", "n,a=,n=user,r=abc",
        "n,a=x=2X,n=user,r=abc", "n,x=y,n=user,r=abc", "n,,N=user,r=abc",
        "n,,n=a\007b,r=abc",                 /* SASLprep prohibits controls */
        "n,,n=\xc3,r=abc",               /* invalid UTF-8 */
        "n,,n=\xc2\xad,r=abc",           /* prepares to "" */
        "n,,n=user,r=abc\x7f",
        "n,,r=abc,n=user",
        "p",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        scram_server *s = scram_server_new(SCRAM_SHA256);
        scram_status st = server_first_msg(s, bad[i]);
        if (st != SCRAM_ERR_MALFORMED) fprintf(stderr, "  accepted/odd status %d: %s\n", st, bad[i]);
        CHECK_INT(st, SCRAM_ERR_MALFORMED);
        CHECK(scram_server_detail(s)[0] != '\0');
        scram_server_free(&s);
    }

    scram_server *s = scram_server_new(SCRAM_SHA256);
    const char nul[] = "n,,n=us\0er,r=abc";
    CHECK_INT(scram_server_client_first(s, nul, sizeof nul - 1, NULL), SCRAM_ERR_MALFORMED);
    scram_server_free(&s);

    /* 4096 bytes is the limit. */
    char *big = malloc(4097);
    CHECK(big != NULL);
    if (!big) return;
    memcpy(big, "n,,n=user,r=", 12);
    memset(big + 12, 'x', 4097 - 12);
    s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(scram_server_client_first(s, big, 4096, NULL), SCRAM_OK);
    scram_server_free(&s);
    s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(scram_server_client_first(s, big, 4097, NULL), SCRAM_ERR_MALFORMED);
    scram_server_free(&s);
    free(big);
}

static void test_server_state_and_nonce(void)
{
    buf_t out = BUF_INIT;
    scram_record rec;
    CHECK_INT(scram_make_record(SCRAM_SHA256, "pw", NULL, 0, 4096, &rec), 0);

    scram_server *s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(scram_server_first(s, &rec, &out), SCRAM_ERR_MALFORMED); /* before client-first */
    scram_server_free(&s);

    s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc"), SCRAM_OK);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc"), SCRAM_ERR_MALFORMED); /* twice */
    scram_server_free(&s);

    s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(scram_server_set_nonce(s, ""), -1);
    CHECK_INT(scram_server_set_nonce(s, "a,b"), -1);
    CHECK_INT(scram_server_set_nonce(s, "a b"), -1);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc"), SCRAM_OK);
    CHECK_INT(scram_server_client_final(s, "c=biws,r=abc,p=AAAA", 19, &out), SCRAM_ERR_MALFORMED);
    scram_server_free(&s);

    /* Random server nonce: 24 bytes base64 = 32 characters after ours. */
    s = scram_server_new(SCRAM_SHA256);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc"), SCRAM_OK);
    CHECK_INT(scram_server_first(s, &rec, &out), SCRAM_OK);
    const char *comma = strchr(str(&out), ',');
    CHECK(comma != NULL && comma - str(&out) == 2 + 3 + 32);
    CHECK_INT(scram_server_set_nonce(s, "late"), -1);
    scram_server_free(&s);
    buf_reset(&out);

    /* A record for the other hash is refused. */
    s = scram_server_new(SCRAM_SHA1);
    CHECK_INT(server_first_msg(s, "n,,n=user,r=abc"), SCRAM_OK);
    CHECK_INT(scram_server_first(s, &rec, &out), SCRAM_ERR_NOT_AUTHORIZED);
    scram_server_free(&s);

    CHECK(scram_server_new((scram_hash)7) == NULL);
    scram_server_free(&s); /* NULL is fine */
    scram_server_free(NULL);
    buf_free(&out);
}

/* Client fed server-first msg after sending "n,,n=user,r=abc". */
static int client_final_for(const char *msg)
{
    scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", "abc");
    buf_t out = BUF_INIT;
    CHECK_INT(scram_client_first(c, &out), 0);
    buf_reset(&out);
    int rc = scram_client_final(c, msg, strlen(msg), &out);
    scram_client_free(&c);
    buf_free(&out);
    return rc;
}

static void test_client_side(void)
{
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"), 0);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,x=ext"), 0);
    CHECK_INT(client_final_for("e=other-error"), -1);
    CHECK_INT(client_final_for("m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"), -1);
    CHECK_INT(client_final_for("r=abc,s=QSXCR+Q6sek8bf92,i=4096"), -1);    /* no server part */
    CHECK_INT(client_final_for("r=xbcdef,s=QSXCR+Q6sek8bf92,i=4096"), -1); /* not our nonce */
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=4095"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=1000001"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=04096"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096x"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i="), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=,i=4096"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR Q6sek8bf92,i=4096"), -1);
    CHECK_INT(client_final_for("r=abcdef,i=4096,s=QSXCR+Q6sek8bf92"), -1);
    CHECK_INT(client_final_for("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,"), -1);
    /* 65-byte salt is over SCRAM_MAX_SALT; 64 is fine. */
    char msg[256];
    unsigned char salt[65];
    buf_t b = BUF_INIT;
    memset(salt, 7, sizeof salt);
    CHECK_INT(scram_b64_encode(salt, 65, &b), 0);
    snprintf(msg, sizeof msg, "r=abcdef,s=%s,i=4096", str(&b));
    CHECK_INT(client_final_for(msg), -1);
    buf_reset(&b);
    CHECK_INT(scram_b64_encode(salt, 64, &b), 0);
    snprintf(msg, sizeof msg, "r=abcdef,s=%s,i=4096", str(&b));
    CHECK_INT(client_final_for(msg), 0);
    buf_free(&b);

    /* Bad server-final messages, from the RFC 5802 exchange. */
    const char *finals[] = {"e=invalid-proof", "v=rmF9pqV8S7suAoZWja4dJRkFsKq=", "v=",
                            "v=rmF9pqV8S7suAoZWja4dJRkF", "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
                            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,"};
    for (size_t i = 0; i <= sizeof finals / sizeof *finals; i++) {
        scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        buf_t out = BUF_INIT;
        const char *sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        CHECK_INT(scram_client_verify(c, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 30), -1); /* too early */
        CHECK_INT(scram_client_first(c, &out), 0);
        CHECK_INT(scram_client_first(c, &out), -1);
        CHECK_INT(scram_client_final(c, sf, strlen(sf), &out), 0);
        if (i < sizeof finals / sizeof *finals) {
            CHECK_INT(scram_client_verify(c, finals[i], strlen(finals[i])), -1);
        } else {
            CHECK_INT(scram_client_verify(c, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 30), 0);
            CHECK_INT(scram_client_verify(c, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 30), -1);
        }
        scram_client_free(&c);
        buf_free(&out);
    }

    CHECK(scram_client_new(SCRAM_SHA1, "user", "pw", "a,b") == NULL);
    CHECK(scram_client_new(SCRAM_SHA1, "user", "pw", "") == NULL);
    CHECK(scram_client_new(SCRAM_SHA1, "", "pw", NULL) == NULL);
    CHECK(scram_client_new(SCRAM_SHA1, "user", "", NULL) == NULL);
    CHECK(scram_client_new(SCRAM_SHA1, "user", "a\x07", NULL) == NULL);
    CHECK(scram_client_new((scram_hash)9, "user", "pw", NULL) == NULL);
    scram_client_free(NULL);
}

static void test_records(void)
{
    scram_record a, b;
    for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
        CHECK_INT(scram_make_record((scram_hash)h, "pencil", NULL, 0, 4096, &a), 0);
        CHECK_INT(a.hash, h);
        CHECK_INT(a.iter, 4096);
        CHECK_INT(a.salt_len, 16);
        CHECK_INT(scram_check_password(&a, "pencil"), 1);
        CHECK_INT(scram_check_password(&a, "Pencil"), 0);
        CHECK_INT(scram_check_password(&a, "pencil "), 0);
        CHECK_INT(scram_check_password(&a, ""), 0);
        CHECK_INT(scram_check_password(&a, "a\x07"), 0);
        CHECK_INT(scram_make_record((scram_hash)h, "pencil", NULL, 0, 4096, &b), 0);
        CHECK(memcmp(a.salt, b.salt, 16) != 0); /* random salts */
        CHECK(memcmp(a.stored_key, b.stored_key, scram_hash_len((scram_hash)h)) != 0);
    }
    /* Same inputs, same keys. */
    const unsigned char salt[] = "saltsalt";
    CHECK_INT(scram_make_record(SCRAM_SHA256, "pw", salt, 8, 5000, &a), 0);
    CHECK_INT(scram_make_record(SCRAM_SHA256, "pw", salt, 8, 5000, &b), 0);
    CHECK(memcmp(a.stored_key, b.stored_key, 32) == 0 && memcmp(a.server_key, b.server_key, 32) == 0);
    CHECK_INT(scram_check_password(&a, "pw"), 1);

    /* SASLprep: soft hyphen maps to nothing, U+00AA to "a", U+2168 to "IX"
     * (RFC 4013 §3 examples). Prohibited and bidi-violating input fails. */
    CHECK_INT(scram_make_record(SCRAM_SHA1, "I\xc2\xadX", NULL, 0, 4096, &a), 0);
    CHECK_INT(scram_check_password(&a, "IX"), 1);
    CHECK_INT(scram_check_password(&a, "\xe2\x85\xa8"), 1);
    CHECK_INT(scram_check_password(&a, "ix"), 0);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "\xc2\xaa", NULL, 0, 4096, &a), 0);
    CHECK_INT(scram_check_password(&a, "a"), 1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "\x07", NULL, 0, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "\xd8\xa7" "1", NULL, 0, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "\xc3", NULL, 0, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "", NULL, 0, 4096, &a), -1);
    /* Every printable ASCII character works unchanged. */
    char ascii[96];
    for (int i = 0; i < 95; i++) ascii[i] = (char)(0x20 + i);
    ascii[95] = '\0';
    CHECK_INT(scram_make_record(SCRAM_SHA256, ascii, NULL, 0, 4096, &a), 0);
    CHECK_INT(scram_check_password(&a, ascii), 1);

    /* Bad parameters. */
    unsigned char big[SCRAM_MAX_SALT + 1] = {0};
    CHECK_INT(scram_make_record(SCRAM_SHA1, "pw", big, 0, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "pw", big, SCRAM_MAX_SALT + 1, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "pw", big, SCRAM_MAX_SALT, 4096, &a), 0);
    CHECK_INT(scram_make_record(SCRAM_SHA1, "pw", NULL, 0, 0, &a), -1);
    CHECK_INT(scram_make_record((scram_hash)5, "pw", NULL, 0, 4096, &a), -1);
    CHECK_INT(scram_make_record(SCRAM_SHA1, NULL, NULL, 0, 4096, &a), -1);

    /* A damaged record never matches. */
    CHECK_INT(scram_make_record(SCRAM_SHA1, "pw", NULL, 0, 4096, &a), 0);
    b = a;
    b.salt_len = 0;
    CHECK_INT(scram_check_password(&b, "pw"), 0);
    b = a;
    b.iter = 0;
    CHECK_INT(scram_check_password(&b, "pw"), 0);
    b = a;
    b.stored_key[0] ^= 1;
    CHECK_INT(scram_check_password(&b, "pw"), 0);
    CHECK_INT(scram_check_password(NULL, "pw"), 0);
}

/* Decode s; returns the decoded text or NULL on rejection. */
static const char *dec(const char *s)
{
    static char res[64];
    buf_t b = BUF_INIT;
    const char *r = NULL;
    if (scram_b64_decode(s, strlen(s), &b) == 0) {
        snprintf(res, sizeof res, "%.*s", (int)b.len, str(&b));
        r = res;
    }
    buf_free(&b);
    return r;
}

static void test_base64(void)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        buf_t b = BUF_INIT;
        CHECK_INT(scram_b64_encode((const unsigned char *)plain[i], strlen(plain[i]), &b), 0);
        CHECK_STR(str(&b), enc[i]);
        buf_free(&b);
        CHECK_STR(dec(enc[i]), plain[i]);
    }
    const char *bad[] = {"QQ=", "Q Q==", "QQ=A", "QQ", "Q===", "====", "=QQQ", "Q=Q=",
                         "QR==", "QUF=", "Zm9v\n", " Zm9v", "Zm9v ", "Zm9v\nZm9v", "Zm-v",
                         "Zm_v", "Zm9v====", "QQ==QQ=="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (dec(bad[i])) fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK(dec(bad[i]) == NULL);
    }
    /* True length from padding, including binary zeros. */
    buf_t b = BUF_INIT;
    CHECK_INT(scram_b64_decode("AA==", 4, &b), 0);
    CHECK_INT(b.len, 1);
    CHECK_INT(b.data[0], 0);
    CHECK_INT(scram_b64_decode("AAA=", 4, &b), 0); /* appends */
    CHECK_INT(b.len, 3);
    CHECK_INT(scram_b64_decode("QQ=", 3, &b), -1);
    CHECK_INT(b.len, 3);                           /* unchanged on failure */
    buf_free(&b);
    /* Length is taken from len, not from a NUL. */
    CHECK_INT(scram_b64_decode("Zm9vXXXX", 4, &b), 0);
    CHECK_STR(str(&b), "foo");
    buf_free(&b);
}

int main(void)
{
    RUN(test_names);
    RUN(test_rfc5802_vector);
    RUN(test_rfc7677_vector);
    RUN(test_round_trip);
    RUN(test_wrong_password_and_unknown_user);
    RUN(test_tampered_final);
    RUN(test_malformed_final);
    RUN(test_gs2_and_authzid);
    RUN(test_malformed_first);
    RUN(test_server_state_and_nonce);
    RUN(test_client_side);
    RUN(test_records);
    RUN(test_base64);
    return TEST_RESULT();
}
