/*
 * test_jid.c - unit tests for proto/jid.c: RFC 7622 §3.5 valid and invalid
 * examples, normalization (case folding, trailing dot), length limits, IP
 * literal domains, and the bare/full formatting helpers.
 *
 * Where libidn's stringprep (RFC 6122 profiles) differs from RFC 7622's
 * PRECIS rules, the tests assert what libidn does, which is what this
 * server implements: "henry\u2163" is mapped to "henryiv" rather than
 * rejected, and symbols such as U+265A are accepted in a localpart.
 */
#include "jid.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* Parse s and return its full form, or NULL if it does not parse. */
static const char *norm(const char *s)
{
    static char out[3 * (JID_PART_MAX + 1)];
    jid_t j;
    if (jid_parse(s, &j) < 0) return NULL;
    if (jid_full(&j, out, sizeof out) < 0) return "(jid_full failed)";
    return out;
}

static void test_valid_rfc7622(void)
{
    jid_t j;
    CHECK_INT(jid_parse("juliet@example.com", &j), 0);
    CHECK_STR(j.local, "juliet");
    CHECK_STR(j.domain, "example.com");
    CHECK_STR(j.resource, "");
    CHECK(jid_has_local(&j) && !jid_has_resource(&j));

    CHECK_INT(jid_parse("juliet@example.com/foo", &j), 0);
    CHECK_STR(j.resource, "foo");
    CHECK_INT(jid_parse("juliet@example.com/foo bar", &j), 0);
    CHECK_STR(j.resource, "foo bar");
    CHECK_INT(jid_parse("juliet@example.com/foo@bar", &j), 0);
    CHECK_STR(j.local, "juliet");
    CHECK_STR(j.resource, "foo@bar");
    CHECK_INT(jid_parse("foo\\20bar@example.com", &j), 0);
    CHECK_STR(j.local, "foo\\20bar");
    CHECK_STR(norm("fussball@example.com"), "fussball@example.com");
    CHECK_STR(norm("\xcf\x80@example.com"), "\xcf\x80@example.com"); /* π */

    CHECK_INT(jid_parse("example.com", &j), 0);
    CHECK(!jid_has_local(&j) && !jid_has_resource(&j));
    CHECK_STR(j.domain, "example.com");
    CHECK_INT(jid_parse("example.com/foobar", &j), 0);
    CHECK_STR(j.domain, "example.com");
    CHECK_STR(j.resource, "foobar");
    /* '@' after the first '/' belongs to the resource. */
    CHECK_INT(jid_parse("a.example.com/b@example.net", &j), 0);
    CHECK_STR(j.local, "");
    CHECK_STR(j.domain, "a.example.com");
    CHECK_STR(j.resource, "b@example.net");
    /* '/' inside the resource is fine. */
    CHECK_STR(norm("juliet@example.com/a/b"), "juliet@example.com/a/b");
}

static void test_libidn_specific(void)
{
    /* RFC 7622 rejects U+2163 (compatibility character); nodeprep folds it
     * to "iv" and NFKC-normalizes, so it is accepted as "henryiv". */
    CHECK_STR(norm("henry\xe2\x85\xa3@example.com"), "henryiv@example.com");
    /* nodeprep maps sharp s to "ss". */
    CHECK_STR(norm("fu\xc3\x9f" "ball@example.com"), "fussball@example.com");
    /* U+265A BLACK CHESS KING is accepted by nodeprep. */
    CHECK_STR(norm("\xe2\x99\x9a@example.com"), "\xe2\x99\x9a@example.com");
    /* resourceprep keeps case but applies NFKC. */
    CHECK_STR(norm("example.com/henry\xe2\x85\xa3"), "example.com/henryIV");
}

static void test_invalid(void)
{
    jid_t j;
    CHECK_INT(jid_parse("", &j), -1);
    CHECK_INT(jid_parse("@example.com", &j), -1);
    CHECK_INT(jid_parse("juliet@", &j), -1);
    CHECK_INT(jid_parse("juliet@example.com/", &j), -1);
    CHECK_INT(jid_parse("juliet@/foo", &j), -1);
    CHECK_INT(jid_parse("/foo", &j), -1);
    CHECK_INT(jid_parse("\"juliet\"@example.com", &j), -1);
    CHECK_INT(jid_parse("foo bar@example.com", &j), -1);
    /* The domain after the first '@' would be "@example.com". */
    CHECK_INT(jid_parse("juliet@@example.com", &j), -1);
    CHECK_INT(jid_parse("a@b@example.com", &j), -1);
    /* Every character nodeprep prohibits in a localpart. */
    const char *bad_local[] = {"a\"b", "a&b", "a'b", "a:b", "a<b", "a>b", "a b"};
    for (size_t i = 0; i < sizeof bad_local / sizeof *bad_local; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s@example.com", bad_local[i]);
        CHECK_INT(jid_parse(s, &j), -1);
    }
    /* Domains with characters hostnames do not allow. */
    CHECK_INT(jid_parse("exa mple.com", &j), -1);
    CHECK_INT(jid_parse("juliet@exa_mple.com", &j), -1);
    CHECK_INT(jid_parse("example.com\x01", &j), -1);
    CHECK_INT(jid_parse("example\xef\xbc\x8f" "com", &j), -1); /* fullwidth '/' -> '/' */
    CHECK_INT(jid_parse("example..com", &j), -1);
    CHECK_INT(jid_parse(".example.com", &j), -1);
    CHECK_INT(jid_parse("example.com..", &j), -1);
    CHECK_INT(jid_parse(".", &j), -1);
    CHECK_INT(jid_parse("juliet@.", &j), -1);
    /* Invalid UTF-8 in each part. */
    CHECK_INT(jid_parse("\xc3@example.com", &j), -1);
    CHECK_INT(jid_parse("ex\xc0\xaf" "ample.com", &j), -1);
    CHECK_INT(jid_parse("example.com/\xed\xa0\x80", &j), -1);
    /* Control characters in a resource are prohibited by resourceprep. */
    CHECK_INT(jid_parse("example.com/a\x01", &j), -1);
    CHECK_INT(jid_parse(NULL, &j), -1);
}

static void test_normalization(void)
{
    CHECK_STR(norm("Juliet@Example.COM"), "juliet@example.com");
    CHECK_STR(norm("Juliet@Example.COM."), "juliet@example.com");
    CHECK_STR(norm("JULIET@EXAMPLE.COM/Balcony"), "juliet@example.com/Balcony");
    CHECK_STR(norm("example.com./Res"), "example.com/Res");
    /* NFKC: fullwidth letters and dot in the domain. */
    CHECK_STR(norm("\xef\xbd\x81\xef\xbd\x82\xef\xbc\x8e\xef\xbd\x83"), "ab.c");
    /* Characters mapped to nothing (soft hyphen) disappear. */
    CHECK_STR(norm("jul\xc2\xadiet@example.com"), "juliet@example.com");
    /* A part that maps to nothing is empty, hence invalid. */
    CHECK(norm("\xc2\xad@example.com") == NULL);

    jid_t a, b;
    CHECK_INT(jid_parse("Juliet@Example.com/one", &a), 0);
    CHECK_INT(jid_parse("juliet@example.COM./two", &b), 0);
    CHECK(jid_bare_eq(&a, &b));
    CHECK_INT(jid_parse("romeo@example.com", &b), 0);
    CHECK(!jid_bare_eq(&a, &b));
    CHECK_INT(jid_parse("example.com", &b), 0);
    CHECK(!jid_bare_eq(&a, &b));
}

static void test_lengths(void)
{
    size_t n = JID_PART_MAX + 1 + sizeof "@example.com/" + JID_PART_MAX + 1;
    char *s = malloc(n);
    jid_t j;
    CHECK(s != NULL);
    if (!s) return;

    memset(s, 'a', JID_PART_MAX);
    strcpy(s + JID_PART_MAX, "@example.com");
    CHECK_INT(jid_parse(s, &j), 0);
    CHECK_INT(strlen(j.local), JID_PART_MAX);

    memset(s, 'a', JID_PART_MAX + 1);
    strcpy(s + JID_PART_MAX + 1, "@example.com");
    CHECK_INT(jid_parse(s, &j), -1);

    /* The limit applies after preparation: 1023 two-byte characters. */
    char *u = malloc(2 * 1023 + sizeof "@example.com");
    CHECK(u != NULL);
    if (u) {
        for (size_t i = 0; i < 1023; i++) memcpy(u + 2 * i, "\xcf\x80", 2);
        strcpy(u + 2 * 1023, "@example.com");
        CHECK_INT(jid_parse(u, &j), -1);
        strcpy(u + 2 * 511, "@example.com");
        CHECK_INT(jid_parse(u, &j), 0);
        CHECK_INT(strlen(j.local), 1022);
        free(u);
    }

    /* Resource: 1023 bytes fine, 1024 not. */
    strcpy(s, "example.com/");
    memset(s + 12, 'R', JID_PART_MAX);
    s[12 + JID_PART_MAX] = '\0';
    CHECK_INT(jid_parse(s, &j), 0);
    CHECK_INT(strlen(j.resource), JID_PART_MAX);
    s[12 + JID_PART_MAX] = 'R';
    s[12 + JID_PART_MAX + 1] = '\0';
    CHECK_INT(jid_parse(s, &j), -1);

    /* Domain: 1023 bytes fine (labels of 'd' separated by dots), 1024 not;
     * a trailing dot on a 1023-byte domain is stripped first. */
    for (size_t i = 0; i < JID_PART_MAX; i++) s[i] = (i % 64 == 63) ? '.' : 'd';
    s[JID_PART_MAX] = '\0';
    CHECK_INT(jid_parse(s, &j), 0);
    CHECK_INT(strlen(j.domain), JID_PART_MAX);
    s[JID_PART_MAX] = '.';
    s[JID_PART_MAX + 1] = '\0';
    CHECK_INT(jid_parse(s, &j), 0);
    s[JID_PART_MAX] = 'd';
    CHECK_INT(jid_parse(s, &j), -1);

    /* Raw input far beyond any prepared size is rejected. */
    char *big = malloc(20000);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', 19999);
        big[19999] = '\0';
        CHECK_INT(jid_parse(big, &j), -1);
        free(big);
    }
    free(s);
}

static void test_ip_literals(void)
{
    jid_t j;
    CHECK_STR(norm("juliet@192.0.2.1/r"), "juliet@192.0.2.1/r");
    CHECK_STR(norm("192.0.2.1."), "192.0.2.1");
    CHECK_STR(norm("[::1]"), "[::1]");
    CHECK_STR(norm("juliet@[2001:DB8:0:0::1]/x"), "juliet@[2001:db8::1]/x");
    CHECK_STR(norm("[::ffff:192.0.2.1]"), "[::ffff:192.0.2.1]");
    CHECK_INT(jid_parse("[::1", &j), -1);
    CHECK_INT(jid_parse("::1", &j), -1);
    CHECK_INT(jid_parse("[]", &j), -1);
    CHECK_INT(jid_parse("[::g]", &j), -1);
    CHECK_INT(jid_parse("[fe80::1%eth0]", &j), -1);
    CHECK_INT(jid_parse("[192.0.2.1]", &j), -1);
    CHECK_INT(jid_parse("192.0.2", &j), -1);
    CHECK_INT(jid_parse("192.0.2.256", &j), -1);
    CHECK_INT(jid_parse("192.0.2.01", &j), -1);
    CHECK_INT(jid_parse("1.2.3.4.5", &j), -1);
    /* Hostnames that merely start with digits are not literals. */
    CHECK_STR(norm("1and1.example"), "1and1.example");
}

static void test_prep_functions(void)
{
    char out[JID_PART_MAX + 1];
    CHECK_INT(jid_nodeprep("Juliet", out), 0);
    CHECK_STR(out, "juliet");
    CHECK_INT(jid_nodeprep("a@b", out), -1);
    CHECK_INT(jid_nodeprep("", out), -1);
    CHECK_INT(jid_nameprep("Example.COM.", out), 0);
    CHECK_STR(out, "example.com");
    CHECK_INT(jid_nameprep("[::1]", out), 0);
    CHECK_STR(out, "[::1]");
    CHECK_INT(jid_nameprep("a b", out), -1);
    CHECK_INT(jid_nameprep("", out), -1);
    CHECK_INT(jid_resourceprep("Balcony Scene", out), 0);
    CHECK_STR(out, "Balcony Scene");
    CHECK_INT(jid_resourceprep("", out), -1);
}

static void test_format(void)
{
    jid_t j;
    char out[64];
    CHECK_INT(jid_parse("juliet@example.com/balcony", &j), 0);
    CHECK_INT(jid_bare(&j, out, sizeof out), 18);
    CHECK_STR(out, "juliet@example.com");
    CHECK_INT(jid_full(&j, out, sizeof out), 26);
    CHECK_STR(out, "juliet@example.com/balcony");

    /* Exact fit needs room for the NUL. */
    CHECK_INT(jid_bare(&j, out, 19), 18);
    CHECK_INT(jid_bare(&j, out, 18), -1);
    CHECK_STR(out, "");
    CHECK_INT(jid_full(&j, out, 27), 26);
    CHECK_INT(jid_full(&j, out, 26), -1);
    CHECK_STR(out, "");
    CHECK_INT(jid_full(&j, NULL, 0), -1);

    CHECK_INT(jid_parse("example.com", &j), 0);
    CHECK_INT(jid_bare(&j, out, sizeof out), 11);
    CHECK_STR(out, "example.com");
    CHECK_INT(jid_full(&j, out, sizeof out), 11);
    CHECK_STR(out, "example.com");

    CHECK_INT(jid_parse("example.com/r", &j), 0);
    CHECK_INT(jid_bare(&j, out, sizeof out), 11);
    CHECK_INT(jid_full(&j, out, sizeof out), 13);
    CHECK_STR(out, "example.com/r");
}

int main(void)
{
    RUN(test_valid_rfc7622);
    RUN(test_libidn_specific);
    RUN(test_invalid);
    RUN(test_normalization);
    RUN(test_lengths);
    RUN(test_ip_literals);
    RUN(test_prep_functions);
    RUN(test_format);
    return TEST_RESULT();
}
