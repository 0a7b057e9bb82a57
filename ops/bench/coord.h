/*
 * coord.h - the coordinator (the parent process): forks the workers,
 * releases their barriers together, samples the server at each barrier,
 * merges the workers' results and prints the one JSON line.
 *
 * Scenario code reads the merged results through the accessors below.
 */
#ifndef BENCH_COORD_H
#define BENCH_COORD_H

#include <stdint.h>

#include <jansson.h>

#include "bench.h"
#include "probe.h"
#include "stats.h"

#define COORD_MAX_MARKS 16

/* The server as sampled when every worker had reached a barrier. */
typedef struct coord_mark {
    char name[32];        /* barrier */
    uint64_t t_arrive_us; /* when the last worker arrived (monotonic) */
    uint64_t t_go_us;     /* when the barrier was released */
    double cpu_s;         /* server utime+stime, summed (if probing) */
    unsigned procs;       /* server processes found */
    uint64_t rss, pss;    /* server memory, bytes */
    int pss_ok;           /* pss is complete */
} coord_mark;

typedef struct coord {
    const bench_opts *o;
    probe probe;             /* the server's processes */
    json_t *counters;        /* summed worker counters */
    json_t *times;           /* merged min_/max_ times */
    stats_samples lat_login; /* merged samples */
    stats_samples lat_msg;
    coord_mark marks[COORD_MAX_MARKS];
    size_t nmarks;
    /* memory samples taken by a scenario's tick */
    uint64_t rss_max, pss_max, rss_last, pss_last;
    unsigned mem_samples;
    int pss_ok;
} coord;

/* The mark of barrier name, or NULL. */
const coord_mark *coord_mark_get(const coord *k, const char *name);
/* A merged counter (0 if no worker reported it). */
uint64_t coord_count(const coord *k, const char *name);
/* A merged time (0 if absent). */
uint64_t coord_time(const coord *k, const char *key);
/* Sample the server's memory now into the rss/pss fields. */
void coord_sample_mem(coord *k);
/* out[key] = {"n","mean_ms","p50_ms","p90_ms","p99_ms","p999_ms","max_ms"}
 * from s (sorted in place). */
void coord_put_latency(json_t *out, const char *key, stats_samples *s);
/* out[key] = {"total": n, "<reason>": n...} from counters
 * "<prefix>_fail_<reason>". */
void coord_put_fails(json_t *out, const char *key, const coord *k, const char *prefix);
/* Server CPU seconds between the marks from and to into out
 * ("server_cpu_s", "server_procs"); returns the seconds, or -1 when the
 * server is not being probed. */
double coord_put_server_cpu(json_t *out, const coord *k, const char *from, const char *to);
/* Seconds between two monotonic times (0 if to <= from). */
double coord_secs(uint64_t from_us, uint64_t to_us);

#endif
