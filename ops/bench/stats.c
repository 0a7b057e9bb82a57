/*
 * stats.c - latency samples, radix sort and percentiles (see stats.h).
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int grow(stats_samples *s, size_t need)
{
    if (need <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < need) cap *= 2;
    uint32_t *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
    return 0;
}

int stats_add(stats_samples *s, uint32_t us)
{
    if (s->n == s->cap && grow(s, s->n + 1) < 0) return -1;
    s->v[s->n++] = us;
    return 0;
}

int stats_append(stats_samples *s, const uint32_t *v, size_t n)
{
    if (grow(s, s->n + n) < 0) return -1;
    if (n) memcpy(s->v + s->n, v, n * sizeof *v);
    s->n += n;
    return 0;
}

/* LSD radix sort, 11-bit digits (3 passes cover 32 bits). */
int stats_sort(stats_samples *s)
{
    if (s->n < 2) return 0;
    uint32_t *tmp = malloc(s->n * sizeof *tmp);
    if (!tmp) return -1;
    uint32_t *src = s->v, *dst = tmp;
    for (unsigned shift = 0; shift < 33; shift += 11) {
        size_t count[2048] = {0};
        for (size_t i = 0; i < s->n; i++) count[(src[i] >> shift) & 2047]++;
        size_t sum = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < s->n; i++) dst[count[(src[i] >> shift) & 2047]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != s->v) memcpy(s->v, src, s->n * sizeof *src);
    free(tmp);
    return 0;
}

double stats_pct_ms(const stats_samples *sorted, double p)
{
    if (sorted->n == 0) return 0;
    double rank = ceil(p / 100.0 * (double)sorted->n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    if (i >= sorted->n) i = sorted->n - 1;
    return sorted->v[i] / 1000.0;
}

int stats_summarize(stats_samples *s, stats_summary *out)
{
    memset(out, 0, sizeof *out);
    if (stats_sort(s) < 0) return -1;
    out->n = s->n;
    if (s->n == 0) return 0;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += s->v[i];
    out->mean_ms = sum / (double)s->n / 1000.0;
    out->p50_ms = stats_pct_ms(s, 50);
    out->p90_ms = stats_pct_ms(s, 90);
    out->p99_ms = stats_pct_ms(s, 99);
    out->p999_ms = stats_pct_ms(s, 99.9);
    out->max_ms = s->v[s->n - 1] / 1000.0;
    return 0;
}

void stats_free(stats_samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
