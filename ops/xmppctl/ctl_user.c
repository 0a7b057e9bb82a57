/*
 * ctl_user.c - `xmppctl user add|del|passwd|list` (see ctl_user.h).
 *
 * Each verb is a row of ctl_user_verbs: its name, which arguments it
 * takes, and the function that runs it. Arguments are checked and the
 * password read before the cluster is contacted. The SCRAM records are
 * derived here, so the password never leaves this process: the storage
 * request carries only salt, iteration count, StoredKey and ServerKey.
 */
#include "ctl_user.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "ctl_cluster.h"
#include "ctl_password.h"
#include "jid.h"
#include "scram.h"
#include "scram_json.h"

#define CTL_BARE_MAX (2 * JID_PART_MAX + 2)   /* local@domain and NUL */
#define CTL_ITER_MAX 10000000u

typedef struct ctl_user_args {
    const char *jid;            /* the account argument as typed */
    const char *password_file;  /* --password-file, or NULL */
    unsigned iterations;        /* --iterations, default SCRAM_DEFAULT_ITER */
    char bare[CTL_BARE_MAX];    /* the account, validated and normalized */
} ctl_user_args;

typedef struct ctl_user_verb {
    const char *name;           /* "add" */
    int takes_jid;              /* needs one <jid> argument */
    int takes_password;         /* accepts --password-file / --iterations */
    int (*run)(const config_t *cfg, ctl_user_args *a);  /* exit status */
} ctl_user_verb;

void ctl_user_usage(FILE *f)
{
    fprintf(f,
            "  user add <jid> [--password-file F] [--iterations N]\n"
            "  user del <jid>\n"
            "  user passwd <jid> [--password-file F] [--iterations N]\n"
            "  user list\n");
}

/* Print "xmppctl: msg" on stderr and return exit status 1. */
static int ctl_user_fail(const char *msg)
{
    fprintf(stderr, "xmppctl: %s\n", msg);
    return 1;
}

/* ---- talking to the storage workers ---- */

/* Send req to the worker for key and wait for the reply. 0 with *reply
 * (caller releases), or -1 after printing the error. */
static int ctl_user_call(const config_t *cfg, const char *key, const json_t *req, json_t **reply)
{
    ctl_cluster c;
    char err[512];
    if (ctl_cluster_open(&c, cfg, err, sizeof err) < 0) {
        ctl_user_fail(err);
        return -1;
    }
    int rc = ctl_cluster_storage(&c, bus_storage_node(cfg, key), req, reply, err, sizeof err);
    ctl_cluster_close(&c);
    if (rc < 0) ctl_user_fail(err);
    return rc;
}

/* Exit status for a reply about account jid, with the error printed. */
static int ctl_user_check(const json_t *reply, const char *jid)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    const char *text = json_string_value(json_object_get(reply, "error"));
    char msg[CTL_BARE_MAX + 512];
    if (json_is_true(json_object_get(reply, "ok"))) return 0;
    if (code && strcmp(code, "exists") == 0) {
        snprintf(msg, sizeof msg, "user %s already exists", jid);
    } else if (code && strcmp(code, "not-found") == 0) {
        snprintf(msg, sizeof msg, "no such user %s", jid);
    } else {
        snprintf(msg, sizeof msg, "storage worker refused the request (%s): %s",
                 code ? code : "no code", text ? text : "no details");
    }
    return ctl_user_fail(msg);
}

/* Send req about jid, then report. Consumes req. Exit status. */
static int ctl_user_simple(const config_t *cfg, const char *jid, json_t *req, const char *done)
{
    json_t *reply = NULL;
    int rc = req ? ctl_user_call(cfg, jid, req, &reply) : ctl_user_fail("out of memory");
    json_decref(req);
    if (rc < 0) return 1;
    rc = ctl_user_check(reply, jid);
    if (rc == 0) printf("%s %s\n", done, jid);
    json_decref(reply);
    return rc;
}

/* ---- SCRAM records ---- */

/* Both records for password (scram_json.c); NULL after printing the error. */
static json_t *ctl_user_scram(const char *password, unsigned iter)
{
    const char *err = NULL;
    json_t *obj = scram_records_json(password, iter, &err);
    if (!obj) ctl_user_fail(err);
    return obj;
}

/* Read the password and build {"op": op, "jid": .., "scram": ..}, or
 * NULL after printing the error. */
static json_t *ctl_user_scram_request(const char *op, const ctl_user_args *a)
{
    char pw[CTL_PASSWORD_MAX + 1];
    char err[512];
    if (ctl_password_read(a->password_file, pw, sizeof pw, err, sizeof err) < 0) {
        ctl_user_fail(err);
        return NULL;
    }
    json_t *scram = ctl_user_scram(pw, a->iterations);
    ctl_password_wipe(pw, sizeof pw);
    if (!scram) return NULL;
    json_t *req = json_pack("{s:s, s:s, s:o}", "op", op, "jid", a->bare, "scram", scram);
    if (!req) ctl_user_fail("out of memory");
    return req;
}

/* ---- verbs ---- */

static int ctl_user_add(const config_t *cfg, ctl_user_args *a)
{
    json_t *req = ctl_user_scram_request("user.create", a);
    return req ? ctl_user_simple(cfg, a->bare, req, "added") : 1;
}

static int ctl_user_passwd(const config_t *cfg, ctl_user_args *a)
{
    json_t *req = ctl_user_scram_request("user.passwd", a);
    return req ? ctl_user_simple(cfg, a->bare, req, "changed the password of") : 1;
}

static int ctl_user_del(const config_t *cfg, ctl_user_args *a)
{
    return ctl_user_simple(cfg, a->bare, json_pack("{s:s, s:s}", "op", "user.delete", "jid", a->bare),
                           "deleted");
}

/* Print the "users" array of a user.list reply, one JID per line. */
static int ctl_user_print_list(const json_t *reply)
{
    const json_t *users = json_object_get(reply, "users");
    size_t i;
    const json_t *v;
    if (!json_is_array(users)) return ctl_user_fail("malformed user.list reply");
    json_array_foreach(users, i, v) {
        if (json_is_string(v)) printf("%s\n", json_string_value(v));
    }
    return 0;
}

static int ctl_user_list(const config_t *cfg, ctl_user_args *a)
{
    const char *domain = config_str(cfg, "domain", NULL);
    if (!domain) return ctl_user_fail("the config has no 'domain'");
    json_t *req = json_pack("{s:s, s:s}", "op", "user.list", "domain", domain);
    json_t *reply = NULL;
    int rc = req ? ctl_user_call(cfg, domain, req, &reply) : ctl_user_fail("out of memory");
    json_decref(req);
    if (rc < 0) return 1;
    rc = ctl_user_check(reply, domain);
    if (rc == 0) rc = ctl_user_print_list(reply);
    json_decref(reply);
    return rc;
}

static const ctl_user_verb ctl_user_verbs[] = {
    {"add", 1, 1, ctl_user_add},
    {"del", 1, 0, ctl_user_del},
    {"passwd", 1, 1, ctl_user_passwd},
    {"list", 0, 0, ctl_user_list},
};

/* ---- arguments ---- */

/* Validate a->jid against the config's domain into a->bare. 0, or -1
 * after printing the error. */
static int ctl_user_jid(const config_t *cfg, ctl_user_args *a)
{
    static jid_t j, d;   /* 3 KiB each: keep them off the stack */
    const char *domain = config_str(cfg, "domain", NULL);
    char msg[CTL_BARE_MAX + 256];
    if (jid_parse(a->jid, &j) < 0) {
        snprintf(msg, sizeof msg, "not a valid JID: %.*s", CTL_BARE_MAX, a->jid);
    } else if (!jid_has_local(&j)) {
        snprintf(msg, sizeof msg, "%s has no user part (expected user@%s)", a->jid, domain ? domain : "domain");
    } else if (jid_has_resource(&j)) {
        snprintf(msg, sizeof msg, "%s has a resource: give a bare JID (user@domain)", a->jid);
    } else if (!domain || jid_parse(domain, &d) < 0 || jid_has_local(&d) || jid_has_resource(&d)) {
        snprintf(msg, sizeof msg, "the config has no valid 'domain'");
    } else if (strcmp(j.domain, d.domain) != 0) {
        snprintf(msg, sizeof msg, "%s is not in this cluster's domain %s", a->jid, domain);
    } else if (jid_bare(&j, a->bare, sizeof a->bare) < 0) {
        snprintf(msg, sizeof msg, "JID too long: %s", a->jid);
    } else {
        return 0;
    }
    ctl_user_fail(msg);
    return -1;
}

/* Parse --iterations' value. 0/-1. */
static int ctl_user_iterations(const char *s, unsigned *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!s[0] || *end || s[0] == '-' || v < SCRAM_DEFAULT_ITER || v > CTL_ITER_MAX) return -1;
    *out = (unsigned)v;
    return 0;
}

/* Match option opt at argv[*i] ("--opt V" or "--opt=V"). Returns 1 with
 * *val set (and *i past the value), 0 if argv[*i] is another argument, -1
 * if the value is missing. */
static int ctl_user_opt(int argc, char **argv, int *i, const char *opt, const char **val)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *val = argv[++*i];
    return 1;
}

/* Apply one option of a password verb at argv[*i]. 1 if it was one, 0 if
 * not, -1 after printing an error. */
static int ctl_user_password_opt(int argc, char **argv, int *i, ctl_user_args *a)
{
    char msg[128];
    const char *val = NULL;
    int m = ctl_user_opt(argc, argv, i, "--password-file", &val);
    if (m < 0) {
        ctl_user_fail("--password-file needs a file name");
        return -1;
    }
    if (m > 0) {
        a->password_file = val;
        return 1;
    }
    m = ctl_user_opt(argc, argv, i, "--iterations", &val);
    if (m == 0 && strncmp(argv[*i], "--password", 10) == 0) {
        ctl_user_fail("passwords are never taken from the command line: use --password-file F or standard input");
        return -1;
    }
    if (m == 0) return 0;
    if (m > 0 && ctl_user_iterations(val, &a->iterations) == 0) return 1;
    snprintf(msg, sizeof msg, "--iterations needs a number from %d to %u", SCRAM_DEFAULT_ITER, CTL_ITER_MAX);
    ctl_user_fail(msg);
    return -1;
}

/* Fill a from argv[1..] for verb v. 0, or -1 after printing the error. */
static int ctl_user_parse(const ctl_user_verb *v, int argc, char **argv, ctl_user_args *a)
{
    char msg[256];
    for (int i = 1; i < argc; i++) {
        int m = v->takes_password ? ctl_user_password_opt(argc, argv, &i, a) : 0;
        if (m < 0) return -1;
        if (m > 0) continue;
        if (argv[i][0] == '-' || !v->takes_jid || a->jid) {
            snprintf(msg, sizeof msg, "user %s: unexpected argument '%.64s' (see xmppctl --help)", v->name, argv[i]);
            ctl_user_fail(msg);
            return -1;
        }
        a->jid = argv[i];
    }
    if (v->takes_jid && !a->jid) {
        snprintf(msg, sizeof msg, "user %s: missing <jid> (see xmppctl --help)", v->name);
        ctl_user_fail(msg);
        return -1;
    }
    return 0;
}

int ctl_user_main(const config_t *cfg, int argc, char **argv)
{
    static ctl_user_args a;   /* holds a 2 KiB JID buffer */
    const ctl_user_verb *v = NULL;
    for (size_t i = 0; argc > 0 && i < sizeof ctl_user_verbs / sizeof ctl_user_verbs[0]; i++) {
        if (strcmp(argv[0], ctl_user_verbs[i].name) == 0) v = &ctl_user_verbs[i];
    }
    if (!v) {
        fprintf(stderr, "xmppctl: unknown user command '%s'; commands:\n", argc > 0 ? argv[0] : "");
        ctl_user_usage(stderr);
        return 1;
    }
    memset(&a, 0, sizeof a);
    a.iterations = SCRAM_DEFAULT_ITER;
    if (ctl_user_parse(v, argc, argv, &a) < 0) return 1;
    if (v->takes_jid && ctl_user_jid(cfg, &a) < 0) return 1;
    return v->run(cfg, &a);
}
