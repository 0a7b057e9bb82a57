/*
 * bench.c - the clock every part of xmpp-bench shares (see bench.h).
 */
#include "bench.h"

#include <time.h>

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
