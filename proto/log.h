/*
 * log.h - one line per event on stderr:
 *   2026-11-25T12:00:00.123Z c2s.0 info [trace] message
 * The node id is set once at start; levels below the configured one are
 * dropped before formatting.
 */
#ifndef XMPP_LOG_H
#define XMPP_LOG_H

#include <stdint.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_init(const char *node_id, log_level level);
/* Parse "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *s);
int log_enabled(log_level level);
void log_msg(log_level level, uint64_t trace, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Broken invariant: log file and line, then abort(). */
void log_fatal_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, 0, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, 0, __VA_ARGS__)
#define log_fatal(...) log_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define XASSERT(cond) do { if (!(cond)) log_fatal_at(__FILE__, __LINE__, "assertion failed: %s", #cond); } while (0)

#endif
