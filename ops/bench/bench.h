/*
 * bench.h - options of xmpp-bench, shared by every part of it.
 *
 * main.c fills a bench_opts from the command line and hands it to
 * coord_run(), which forks the workers (worker.c); each worker runs the
 * chosen scenario (scenario_*.c) over its share of the clients
 * (client.c). See README.md for the tour.
 */
#ifndef BENCH_H
#define BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sasl.h"

#define BENCH_MAX_PER_PROC 19000   /* clients per worker: the fd limit here is 20,000 */
#define BENCH_MAX_PIDFILES 16
/* Connections per source address before spreading over more. connect()
 * picks an ephemeral port by probing the range one port at a time, the
 * even half (about 14,000 ports here) first: past ~10,000 connections from
 * one address to one server port every connect() walks thousands of used
 * ports, and the generator spent most of its CPU in the kernel doing that
 * (__inet_check_established). */
#define BENCH_PORTS_PER_ADDR 5000

typedef enum bench_scenario {
    BENCH_LOGIN = 0,
    BENCH_IDLE,
    BENCH_MSG,
    BENCH_PRESENCE,
    BENCH_MUC,
} bench_scenario;

typedef struct bench_opts {
    bench_scenario scenario;
    const char *scenario_name;   /* as given */
    const char *host;            /* as given */
    struct in_addr addr;         /* server address, always in 127.0.0.0/8 */
    unsigned port;               /* server port */
    const char *domain;          /* XMPP domain (stream to=, JIDs) */
    int starttls;                /* --tls starttls */
    sasl_mech mech;              /* --mech */
    const char *user_prefix;     /* accounts are <prefix><i>@<domain> */
    char *password;              /* SASLprep'd, shared by every account */
    const char *resource;        /* resource asked for at bind */
    unsigned clients;            /* N */
    unsigned procs;              /* worker processes */
    unsigned concurrency;        /* logins in progress at once (whole run) */
    unsigned first_index;        /* i of the first account */
    unsigned src_addrs;          /* source addresses 127.0.0.1.. (0: automatic) */
    int reg;                     /* --register: XEP-0077 before the run */
    int warmup;                  /* login: one unmeasured login per user first */
    int presence;                /* send initial presence after login */
    double timeout;              /* seconds for one login (and one close) */
    unsigned max_failures;       /* stop starting logins after this many failed (0: never) */
    double hold;                 /* idle: seconds to hold */
    double duration;             /* msg: seconds of sending */
    double drain;                /* msg: seconds to wait for stragglers */
    double rate;                 /* msg: messages/s over the whole run, 0 = flat out */
    unsigned window;             /* msg flat out: messages in flight per client */
    unsigned body_size;          /* msg: bytes of padding in each body */
    unsigned roster;             /* presence: contacts per user (even) */
    double max_time;             /* overall bound of the run, seconds */
    const char *server_pids;     /* comma list, or NULL */
    char *pidfiles[BENCH_MAX_PIDFILES]; /* --server-pidfile values */
    size_t npidfiles;
    int server_tree;             /* count descendants of the server pids too */
    int verbose;                 /* progress on stderr */
} bench_opts;

/* Run the benchmark described by o: fork the workers, drive the phases,
 * print exactly one JSON line on stdout. Returns the exit status: 0 when
 * the run completed (its failures are in the JSON), 1 when it could not. */
int coord_run(const bench_opts *o);

/* Monotonic microseconds (CLOCK_MONOTONIC, shared by all processes). */
uint64_t bench_now_us(void);

#endif
