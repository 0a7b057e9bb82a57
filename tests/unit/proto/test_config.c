/*
 * test_config.c - YAML config loading into jansson and dotted lookups.
 */
#include <stdlib.h>

#include "config.h"
#include "test.h"

static void test_types(void)
{
    char err[256];
    config_t *c = config_load_string(
        "domain: example.org\n"
        "c2s:\n  port: 5222\n  require_tls: true\n  name: '5223'\n"
        "routers:\n  - id: router.0\n    endpoint: tcp://127.0.0.1:7100\n  - id: router.1\n"
        "empty:\n", err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_STR(config_str(c, "domain", NULL), "example.org");
    CHECK_INT(config_int(c, "c2s.port", 0), 5222);
    CHECK_INT(config_bool(c, "c2s.require_tls", 0), 1);
    CHECK_STR(config_str(c, "c2s.name", NULL), "5223");        /* quoted stays a string */
    CHECK_INT(config_int(c, "c2s.name", -1), -1);
    CHECK_INT(json_array_size(config_get(c, "routers")), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(config_get(c, "routers"), 0), "endpoint")),
              "tcp://127.0.0.1:7100");
    CHECK(json_is_null(config_get(c, "empty")));
    CHECK(config_get(c, "c2s.missing") == NULL);
    CHECK(config_get(c, "domain.x") == NULL);
    CHECK_STR(config_str(c, "nope", "def"), "def");
    config_free(&c);
    CHECK(c == NULL);
}

static void test_errors(void)
{
    char err[256] = "";
    CHECK(config_load_string("a: [1, 2\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "line") != NULL);
    CHECK(config_load_string("a: 1\na: 2\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK(config_load_string("- 1\n- 2\n", err, sizeof err) == NULL);
    CHECK(config_load_string("a: &x 1\nb: *x\n", err, sizeof err) == NULL);
    CHECK(config_load("/nonexistent/cluster.yaml", err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/cluster.yaml") != NULL);
}

static void test_file_path(void)
{
    char err[256];
    FILE *f = fopen("/tmp/xmpp-test-config.yaml", "w");
    fputs("cert: cert.pem\nabs: /etc/x.pem\n", f);
    fclose(f);
    config_t *c = config_load("/tmp/xmpp-test-config.yaml", err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    char *p = config_file_path(c, "cert", NULL);
    CHECK_STR(p, "/tmp/cert.pem");
    free(p);
    p = config_file_path(c, "abs", NULL);
    CHECK_STR(p, "/etc/x.pem");
    free(p);
    CHECK(config_file_path(c, "none", NULL) == NULL);
    config_free(&c);
    remove("/tmp/xmpp-test-config.yaml");
}

int main(void)
{
    RUN(test_types);
    RUN(test_errors);
    RUN(test_file_path);
    return TEST_RESULT();
}
