/*
 * loop.h - the single-threaded event loop every process runs.
 *
 * epoll over file descriptors, a timer heap, signalfd-delivered signals and
 * before-sleep hooks (run once per iteration before blocking; used to drain
 * ZeroMQ sockets, whose fd is edge-triggered, and to flush batched output).
 */
#ifndef XMPP_LOOP_H
#define XMPP_LOOP_H

#include <stdint.h>

#define LOOP_READ  0x1
#define LOOP_WRITE 0x2
#define LOOP_ERROR 0x4   /* reported only: hangup or error on the fd */

typedef struct loop loop_t;
typedef void (*loop_fd_cb)(loop_t *l, int fd, unsigned events, void *ud);
typedef void (*loop_timer_cb)(loop_t *l, uint64_t id, void *ud);
typedef void (*loop_hook_cb)(loop_t *l, void *ud);
typedef void (*loop_signal_cb)(loop_t *l, int signo, void *ud);

loop_t *loop_new(void);
void loop_free(loop_t **l);
/* Watch fd for events (LOOP_READ|LOOP_WRITE). One registration per fd. 0/-1. */
int loop_add_fd(loop_t *l, int fd, unsigned events, loop_fd_cb cb, void *ud);
int loop_mod_fd(loop_t *l, int fd, unsigned events);
/* Stop watching fd (does not close it). Safe to call from a callback. */
void loop_del_fd(loop_t *l, int fd);
/* One-shot timer after ms milliseconds; returns an id > 0, or 0 on failure. */
uint64_t loop_add_timer(loop_t *l, uint64_t ms, loop_timer_cb cb, void *ud);
/* Cancel a pending timer (no-op if it already fired or id is 0). */
void loop_cancel_timer(loop_t *l, uint64_t id);
/* Run cb before each sleep. 0/-1. */
int loop_add_hook(loop_t *l, loop_hook_cb cb, void *ud);
/* Like loop_add_hook, but cb runs after every ordinary hook, whenever it
 * was added: for flushing what the other hooks produced (the bus's batched
 * envelopes). 0/-1. */
int loop_add_late_hook(loop_t *l, loop_hook_cb cb, void *ud);
/* Do not block in the coming wait (e.g. input is pending that no fd will
 * announce again). */
void loop_wake(loop_t *l);
/* Remove a hook added with the same cb and ud (no-op if absent). */
void loop_del_hook(loop_t *l, loop_hook_cb cb, void *ud);
/* Handle signo through signalfd (blocks it for normal delivery). 0/-1. */
int loop_add_signal(loop_t *l, int signo, loop_signal_cb cb, void *ud);
/* Monotonic milliseconds, cached per iteration. */
uint64_t loop_now(loop_t *l);
/* Run until loop_stop(); returns 0, or -1 if epoll fails. */
int loop_run(loop_t *l);
void loop_stop(loop_t *l);

#endif
