/*
 * main.c - xmpp-bench: command line only; coord_run() does the work.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: xmpp-bench --scenario login|idle|msg|presence|muc [options]\n"
        "\n"
        "server (only 127.0.0.0/8):\n"
        "  --host ADDR            server address (default 127.0.0.1)\n"
        "  --port N               client port (default 5222)\n"
        "  --domain D             XMPP domain (default localhost)\n"
        "  --tls none|starttls    (default none)\n"
        "  --mech M               PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256 (default SCRAM-SHA-1)\n"
        "accounts:\n"
        "  --user-prefix P        accounts are <P><i>@<domain> (default bench)\n"
        "  --first-index I        i of the first account (default 1)\n"
        "  --password PW          password of every account (default bench-pass)\n"
        "  --password-file F      read it from the first line of F instead\n"
        "  --resource R           resource to bind (default bench)\n"
        "  --register             create the accounts first (XEP-0077; existing ones are fine)\n"
        "load:\n"
        "  --clients N            simulated clients (default 100)\n"
        "  --procs P              worker processes (default: enough for %d clients each)\n"
        "  --concurrency C        logins in progress at once (default 100)\n"
        "  --src-addrs N          spread connections over 127.0.0.1..N (default: 1 per %d clients)\n"
        "  --timeout S            seconds allowed for one login or close (default 30)\n"
        "  --max-failures F       after F failed logins start no more (a full server then\n"
        "                         costs F timeouts, not N); 0 = never stop (default)\n"
        "  --no-presence          do not send initial presence after login\n"
        "  --no-warmup            login: measure the first login of each user\n"
        "  --hold S               idle: seconds to hold the clients (default 10)\n"
        "  --duration T           msg: seconds of sending (default 10)\n"
        "  --rate R               msg: messages/s in total, 0 = flat out (default 0)\n"
        "  --window W             msg flat out: messages in flight per client (default 1)\n"
        "  --body-size B          msg: bytes of padding per body (default 0)\n"
        "  --drain S              msg: seconds to wait for late messages; presence: for late\n"
        "                         presence after the last login (default 5)\n"
        "  --roster R             presence: contacts per user, even (default 10)\n"
        "measuring the server:\n"
        "  --server-pids LIST     comma-separated pids whose CPU and memory to sample\n"
        "  --server-pidfile F     a file holding such a pid (repeatable)\n"
        "  --server-tree          count the descendants of those pids too\n"
        "other:\n"
        "  --max-time S           bound on the whole run (default: generous, from the load)\n"
        "  -v, --verbose          progress on stderr (-vv: every failed login, -vvv: every stanza)\n"
        "\n"
        "Prints one JSON line with the results and parameters. Exit status: 0 when the\n"
        "run completed (failures are in the JSON), 1 when it could not, 2 on bad usage.\n",
        BENCH_MAX_PER_PROC, BENCH_PORTS_PER_ADDR);
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "xmpp-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see xmpp-bench --help)\n");
    return 2;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || errno || v > max || s[0] == '-') return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= 0) || v > 1e7) return -1;
    *out = v;
    return 0;
}

/* First line of path, malloc'd, or NULL. */
static char *read_first_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[1024];
    char *r = fgets(line, sizeof line, f) ? strdup(line) : NULL;
    fclose(f);
    if (r) r[strcspn(r, "\r\n")] = '\0';
    return r;
}

enum {
    O_SCENARIO = 256, O_HOST, O_PORT, O_DOMAIN, O_TLS, O_MECH, O_PREFIX, O_FIRST, O_PASSWORD,
    O_PASSFILE, O_RESOURCE, O_REGISTER, O_CLIENTS, O_PROCS, O_CONC, O_SRC, O_TIMEOUT,
    O_NOPRES, O_NOWARM, O_HOLD, O_DURATION, O_RATE, O_WINDOW, O_BODY, O_DRAIN, O_ROSTER,
    O_PIDS, O_PIDFILE, O_TREE, O_MAXTIME, O_MAXFAIL,
};

static const struct option longopts[] = {
    {"scenario", 1, 0, O_SCENARIO}, {"host", 1, 0, O_HOST}, {"port", 1, 0, O_PORT},
    {"domain", 1, 0, O_DOMAIN}, {"tls", 1, 0, O_TLS}, {"mech", 1, 0, O_MECH},
    {"user-prefix", 1, 0, O_PREFIX}, {"first-index", 1, 0, O_FIRST},
    {"password", 1, 0, O_PASSWORD}, {"password-file", 1, 0, O_PASSFILE},
    {"resource", 1, 0, O_RESOURCE}, {"register", 0, 0, O_REGISTER},
    {"clients", 1, 0, O_CLIENTS}, {"procs", 1, 0, O_PROCS}, {"concurrency", 1, 0, O_CONC},
    {"src-addrs", 1, 0, O_SRC}, {"timeout", 1, 0, O_TIMEOUT}, {"no-presence", 0, 0, O_NOPRES},
    {"no-warmup", 0, 0, O_NOWARM}, {"hold", 1, 0, O_HOLD}, {"duration", 1, 0, O_DURATION},
    {"rate", 1, 0, O_RATE}, {"window", 1, 0, O_WINDOW}, {"body-size", 1, 0, O_BODY},
    {"drain", 1, 0, O_DRAIN}, {"roster", 1, 0, O_ROSTER}, {"server-pids", 1, 0, O_PIDS},
    {"server-pidfile", 1, 0, O_PIDFILE}, {"server-tree", 0, 0, O_TREE},
    {"max-time", 1, 0, O_MAXTIME}, {"max-failures", 1, 0, O_MAXFAIL}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
    {0, 0, 0, 0},
};

/* Apply one option. 0, or an exit status. */
static int apply(bench_opts *o, int c, const char *a, const char **password, const char **passfile)
{
    static const char *const names[] = {"login", "idle", "msg", "presence", "muc"};
    switch (c) {
    case O_SCENARIO:
        for (int i = 0; i <= BENCH_MUC; i++)
            if (strcmp(a, names[i]) == 0) { o->scenario = (bench_scenario)i; o->scenario_name = names[i]; return 0; }
        return bad("unknown scenario '%s'", a);
    case O_HOST: o->host = a; return 0;
    case O_PORT: return parse_uint(a, 65535, &o->port) < 0 || !o->port ? bad("bad --port '%s'", a) : 0;
    case O_DOMAIN: o->domain = a; return 0;
    case O_TLS:
        if (strcmp(a, "none") == 0) o->starttls = 0;
        else if (strcmp(a, "starttls") == 0) o->starttls = 1;
        else return bad("--tls wants none or starttls, not '%s'", a);
        return 0;
    case O_MECH: return sasl_mech_parse(a, &o->mech) < 0 ? bad("unknown --mech '%s'", a) : 0;
    case O_PREFIX: o->user_prefix = a; return 0;
    case O_FIRST: return parse_uint(a, 1000000000, &o->first_index) < 0 ? bad("bad --first-index '%s'", a) : 0;
    case O_PASSWORD: *password = a; return 0;
    case O_PASSFILE: *passfile = a; return 0;
    case O_RESOURCE: o->resource = a; return 0;
    case O_REGISTER: o->reg = 1; return 0;
    case O_CLIENTS: return parse_uint(a, 10000000, &o->clients) < 0 || !o->clients ? bad("bad --clients '%s'", a) : 0;
    case O_PROCS: return parse_uint(a, 256, &o->procs) < 0 || !o->procs ? bad("bad --procs '%s'", a) : 0;
    case O_CONC: return parse_uint(a, 10000000, &o->concurrency) < 0 || !o->concurrency ? bad("bad --concurrency '%s'", a) : 0;
    case O_SRC: return parse_uint(a, 65000, &o->src_addrs) < 0 || !o->src_addrs ? bad("bad --src-addrs '%s'", a) : 0;
    case O_TIMEOUT: return parse_secs(a, &o->timeout) < 0 || o->timeout < 0.1 ? bad("bad --timeout '%s'", a) : 0;
    case O_MAXFAIL: return parse_uint(a, 10000000, &o->max_failures) < 0 ? bad("bad --max-failures '%s'", a) : 0;
    case O_NOPRES: o->presence = 0; return 0;
    case O_NOWARM: o->warmup = 0; return 0;
    case O_HOLD: return parse_secs(a, &o->hold) < 0 ? bad("bad --hold '%s'", a) : 0;
    case O_DURATION: return parse_secs(a, &o->duration) < 0 || o->duration < 0.1 ? bad("bad --duration '%s'", a) : 0;
    case O_RATE: return parse_secs(a, &o->rate) < 0 ? bad("bad --rate '%s'", a) : 0;
    case O_WINDOW: return parse_uint(a, 100000, &o->window) < 0 || !o->window ? bad("bad --window '%s'", a) : 0;
    case O_BODY: return parse_uint(a, 1000000, &o->body_size) < 0 ? bad("bad --body-size '%s'", a) : 0;
    case O_DRAIN: return parse_secs(a, &o->drain) < 0 ? bad("bad --drain '%s'", a) : 0;
    case O_ROSTER: return parse_uint(a, 100000, &o->roster) < 0 ? bad("bad --roster '%s'", a) : 0;
    case O_PIDS: o->server_pids = a; return 0;
    case O_PIDFILE:
        if (o->npidfiles == BENCH_MAX_PIDFILES) return bad("too many --server-pidfile (%s)", a);
        o->pidfiles[o->npidfiles++] = (char *)a;
        return 0;
    case O_TREE: o->server_tree = 1; return 0;
    case O_MAXTIME: return parse_secs(a, &o->max_time) < 0 || o->max_time < 1 ? bad("bad --max-time '%s'", a) : 0;
    case 'v': o->verbose++; return 0;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return 2;
    }
}

/* Cross-option checks and derived defaults. 0, or an exit status. */
static int finish_opts(bench_opts *o, const char *password, const char *passfile)
{
    if (!o->scenario_name) return bad("--scenario is required%s", "");
    const char *host = strcmp(o->host, "localhost") == 0 ? "127.0.0.1" : o->host;
    if (inet_pton(AF_INET, host, &o->addr) != 1 || (ntohl(o->addr.s_addr) >> 24) != 127)
        return bad("--host must be an IPv4 address in 127.0.0.0/8, not '%s'", o->host);
    if (!o->procs) o->procs = (o->clients + BENCH_MAX_PER_PROC - 1) / BENCH_MAX_PER_PROC;
    if (o->procs > o->clients) o->procs = o->clients;
    if ((o->clients + o->procs - 1) / o->procs > BENCH_MAX_PER_PROC)
        return bad("more than %s clients per process: raise --procs", "19000");
    if (!o->src_addrs) o->src_addrs = (o->clients + BENCH_PORTS_PER_ADDR - 1) / BENCH_PORTS_PER_ADDR;
    if (o->scenario == BENCH_MSG && o->clients / o->procs < 2)
        return bad("msg needs at least 2 clients per worker process%s", "");
    if (o->scenario == BENCH_PRESENCE && (o->roster < 2 || o->roster % 2 || o->roster >= o->clients))
        return bad("presence needs an even --roster of at least 2 and below --clients%s", "");
    char *pw = passfile ? read_first_line(passfile) : strdup(password);
    if (!pw) return bad("cannot read the password from %s", passfile);
    o->password = sasl_prepare_password(pw);
    free(pw);
    if (!o->password) return bad("the password fails SASLprep%s", "");
    if (!o->max_time)
        o->max_time = 900 + o->hold + o->duration + o->drain + (double)o->clients / 50.0 + 4 * o->timeout;
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o = {
        .host = "127.0.0.1", .port = 5222, .domain = "localhost", .mech = SASL_SCRAM_SHA1,
        .user_prefix = "bench", .resource = "bench", .clients = 100, .concurrency = 100,
        .first_index = 1, .warmup = 1, .presence = 1, .timeout = 30, .hold = 10,
        .duration = 10, .drain = 5, .window = 1, .roster = 10,
    };
    const char *password = "bench-pass", *passfile = NULL;
    int c, rc;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1)
        if ((rc = apply(&o, c, optarg, &password, &passfile)) != 0) return rc;
    if (optind < argc) return bad("unexpected argument '%s'", argv[optind]);
    if ((rc = finish_opts(&o, password, passfile)) != 0) return rc;
    rc = coord_run(&o);
    free(o.password);
    return rc;
}
