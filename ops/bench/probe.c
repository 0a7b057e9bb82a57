/*
 * probe.c - /proc sampling of the server's processes (see probe.h).
 */
#include "probe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PROCS 4096   /* bound on the processes followed */

static int add_root(probe *p, long v, char *err, size_t errlen)
{
    if (v <= 0 || v > 4194304) {
        snprintf(err, errlen, "bad pid %ld", v);
        return -1;
    }
    pid_t *r = realloc(p->roots, (p->nroots + 1) * sizeof *r);
    if (!r) return -1;
    p->roots = r;
    p->roots[p->nroots++] = (pid_t)v;
    return 0;
}

int probe_init(probe *p, const char *pid_list, char *const *pidfiles, size_t npidfiles, int tree,
               char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->tree = tree;
    for (const char *s = pid_list; s && *s;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || (*end && *end != ',')) {
            snprintf(err, errlen, "--server-pids wants numbers separated by commas: %s", pid_list);
            return -1;
        }
        if (add_root(p, v, err, errlen) < 0) return -1;
        s = *end ? end + 1 : end;
    }
    for (size_t i = 0; i < npidfiles; i++) {
        FILE *f = fopen(pidfiles[i], "r");
        long v = 0;
        if (!f || fscanf(f, "%ld", &v) != 1) {
            snprintf(err, errlen, "cannot read a pid from %s", pidfiles[i]);
            if (f) fclose(f);
            return -1;
        }
        fclose(f);
        if (add_root(p, v, err, errlen) < 0) return -1;
    }
    return 0;
}

int probe_active(const probe *p) { return p->nroots > 0; }

void probe_free(probe *p)
{
    free(p->roots);
    p->roots = NULL;
    p->nroots = 0;
}

/* Read /proc/<pid>/stat: ppid and utime+stime in ticks. 0/-1. */
static int read_stat(pid_t pid, pid_t *ppid, unsigned long long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    if (!rp) return -1;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    char state;
    int pp;
    unsigned long long ut, st;
    if (sscanf(rp + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &pp, &ut,
               &st) != 4)
        return -1;
    *ppid = pp;
    *ticks = ut + st;
    return 0;
}

/* The pids to sample: the roots, plus their descendants when tree is set.
 * Returns the count written to out (at most MAX_PROCS). */
static size_t collect(const probe *p, pid_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nroots && n < MAX_PROCS; i++) out[n++] = p->roots[i];
    if (!p->tree) return n;
    DIR *d = opendir("/proc");
    if (!d) return n;
    static pid_t pids[MAX_PROCS * 4], ppids[MAX_PROCS * 4];
    size_t all = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && all < MAX_PROCS * 4) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        pid_t pid = (pid_t)atoi(e->d_name), pp;
        unsigned long long t;
        if (read_stat(pid, &pp, &t) == 0) {
            pids[all] = pid;
            ppids[all++] = pp;
        }
    }
    closedir(d);
    /* breadth first: every process whose parent is already in out */
    for (size_t k = 0; k < n && n < MAX_PROCS; k++) {
        for (size_t j = 0; j < all && n < MAX_PROCS; j++) {
            if (ppids[j] != out[k]) continue;
            int dup = 0;
            for (size_t m = 0; m < n && !dup; m++) dup = out[m] == pids[j];
            if (!dup) out[n++] = pids[j];
        }
    }
    return n;
}

int probe_cpu(const probe *p, double *cpu_s, unsigned *nprocs)
{
    static pid_t set[MAX_PROCS];
    size_t n = collect(p, set);
    unsigned long long total = 0;
    unsigned found = 0;
    for (size_t i = 0; i < n; i++) {
        pid_t pp;
        unsigned long long t;
        if (read_stat(set[i], &pp, &t) == 0) {
            total += t;
            found++;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)total / (double)(hz > 0 ? hz : 100);
    if (nprocs) *nprocs = found;
    return 0;
}

/* The value in kB of the line starting with key in a /proc file, as
 * bytes; -1 if absent or unreadable. */
static long long kb_field(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    size_t kl = strlen(key);
    long long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0) {
            v = atoll(line + kl) * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

int probe_mem(const probe *p, uint64_t *rss, uint64_t *pss, int *pss_ok)
{
    static pid_t set[MAX_PROCS];
    size_t n = collect(p, set);
    char path[64];
    *rss = *pss = 0;
    *pss_ok = 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/proc/%d/status", (int)set[i]);
        long long r = kb_field(path, "VmRSS:");
        if (r < 0) continue;   /* gone, or a kernel thread */
        *rss += (uint64_t)r;
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)set[i]);
        long long s = kb_field(path, "Pss:");
        if (s < 0) *pss_ok = 0;
        else *pss += (uint64_t)s;
    }
    return 0;
}
