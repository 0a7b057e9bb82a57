/*
 * probe.h - CPU and memory of the server under test, read from /proc.
 *
 * The processes are given as pids (--server-pids) and pid files
 * (--server-pidfile); with tree set, every descendant of those pids counts
 * too (so the pid of a launcher covers a whole cluster). The set is looked
 * up again at every sample, so processes started later are included; a
 * process that has exited no longer counts.
 */
#ifndef BENCH_PROBE_H
#define BENCH_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct probe {
    pid_t *roots;     /* pids named on the command line or in pid files */
    size_t nroots;
    int tree;         /* include descendants */
} probe;

/* Collect the pids from a comma-separated list (may be NULL) and pid
 * files. Returns 0, or -1 with a reason in err. */
int probe_init(probe *p, const char *pid_list, char *const *pidfiles, size_t npidfiles, int tree,
               char *err, size_t errlen);
/* Non-zero if there is something to sample. */
int probe_active(const probe *p);
/* Summed utime+stime in seconds over the processes; *nprocs gets how many
 * were found. 0/-1. */
int probe_cpu(const probe *p, double *cpu_s, unsigned *nprocs);
/* Summed VmRSS and, where smaps_rollup is readable, Pss (bytes). *pss_ok
 * is 0 when any process's Pss could not be read. 0/-1. */
int probe_mem(const probe *p, uint64_t *rss, uint64_t *pss, int *pss_ok);
void probe_free(probe *p);

#endif
