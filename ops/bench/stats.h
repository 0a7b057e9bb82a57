/*
 * stats.h - latency samples and their percentiles.
 *
 * Samples are microseconds in a growable uint32 array (no allocation per
 * sample beyond amortized doubling). Percentiles are read from the sorted
 * array by nearest rank, so p99 of a run is a latency that really
 * occurred; sorting is an LSD radix sort, linear in the sample count.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct stats_samples {
    uint32_t *v;    /* samples, microseconds */
    size_t n;       /* samples held */
    size_t cap;     /* allocated slots */
} stats_samples;

typedef struct stats_summary {
    size_t n;       /* number of samples */
    double mean_ms, p50_ms, p90_ms, p99_ms, p999_ms, max_ms;
} stats_summary;

/* Add one sample (or n). 0/-1 on allocation failure. */
int stats_add(stats_samples *s, uint32_t us);
int stats_append(stats_samples *s, const uint32_t *v, size_t n);
/* Sort in place (ascending). 0/-1. */
int stats_sort(stats_samples *s);
/* Nearest-rank percentile p (0 < p <= 100) of sorted samples, in ms; 0
 * when there are none. */
double stats_pct_ms(const stats_samples *sorted, double p);
/* Sort s and summarize it. 0/-1. */
int stats_summarize(stats_samples *s, stats_summary *out);
void stats_free(stats_samples *s);

#endif
