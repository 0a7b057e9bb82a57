/*
 * log.c - one-line-per-event logging to stderr with node id and level.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char log_node[32] = "-";
static log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *node_id, log_level level)
{
    snprintf(log_node, sizeof log_node, "%s", node_id ? node_id : "-");
    log_min = level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, log_names[i]) == 0) return i;
    return -1;
}

int log_enabled(log_level level)
{
    return level >= log_min;
}

static void log_vwrite(const char *level, uint64_t trace, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, log_node, level);
    if (trace && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "[%016llx] ", (unsigned long long)trace);
    if (n < (int)sizeof line) {
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        n = (m < 0) ? n : n + m;
    }
    if (n >= (int)sizeof line - 1) n = (int)sizeof line - 2;
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}

void log_msg(log_level level, uint64_t trace, const char *fmt, ...)
{
    if (level < log_min) return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(log_names[level], trace, fmt, ap);
    va_end(ap);
}

void log_fatal_at(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(LOG_ERROR, 0, "fatal at %s:%d: %s", file, line, msg);
    abort();
}
