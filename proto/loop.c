/*
 * loop.c - epoll event loop with timers, signalfd signals and before-sleep
 * hooks (see loop.h).
 *
 * File descriptors are kept in a table indexed by fd. Timers live in a
 * binary min-heap ordered by deadline; cancellation marks the entry dead
 * (looked up through a small id -> heap index map is avoided: cancelled
 * ids are remembered in the entry itself, found by linear scan only when
 * cancelling, which is rare compared with firing).
 */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

typedef struct loop_fd {
    loop_fd_cb cb;       /* NULL when the slot is free */
    void *ud;
    unsigned events;     /* LOOP_READ | LOOP_WRITE */
} loop_fd;

typedef struct loop_timer {
    uint64_t when;       /* deadline, monotonic milliseconds */
    uint32_t gen;        /* bumped on every reuse, part of the id */
    uint32_t heap_idx;   /* position in the heap, or UINT32_MAX when free */
    loop_timer_cb cb;
    void *ud;
} loop_timer;

typedef struct loop_hook {
    loop_hook_cb cb;
    void *ud;
    int late;            /* runs after every ordinary hook */
} loop_hook;

typedef struct loop_sig {
    int signo;
    loop_signal_cb cb;
    void *ud;
} loop_sig;

struct loop {
    int epfd;
    int running;
    uint64_t now;
    loop_fd *fds;        /* indexed by fd */
    int nfds;            /* size of fds */
    loop_timer *timers;  /* slab of timer records */
    uint32_t ntimers;    /* records allocated in the slab */
    uint32_t *free_timers; /* stack of free slab indices */
    uint32_t nfree;
    uint32_t *heap;      /* min-heap of slab indices by deadline */
    uint32_t nheap;
    loop_hook *hooks;
    size_t nhooks;
    int wake;            /* loop_wake(): do not block in the next wait */
    int sigfd;           /* -1 until a signal is added */
    sigset_t sigmask;
    loop_sig *sigs;
    size_t nsigs;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

loop_t *loop_new(void)
{
    loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) { free(l); return NULL; }
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    l->now = mono_ms();
    return l;
}

void loop_free(loop_t **lp)
{
    if (!lp || !*lp) return;
    loop_t *l = *lp;
    close(l->epfd);
    if (l->sigfd >= 0) close(l->sigfd);
    free(l->fds);
    free(l->heap);
    free(l->timers);
    free(l->free_timers);
    free(l->hooks);
    free(l->sigs);
    free(l);
    *lp = NULL;
}

static uint32_t to_epoll(unsigned ev)
{
    return ((ev & LOOP_READ) ? EPOLLIN : 0) | ((ev & LOOP_WRITE) ? EPOLLOUT : 0);
}

int loop_add_fd(loop_t *l, int fd, unsigned events, loop_fd_cb cb, void *ud)
{
    if (fd < 0) return -1;
    if (fd >= l->nfds) {
        int n = l->nfds ? l->nfds : 64;
        while (n <= fd) n *= 2;
        loop_fd *p = realloc(l->fds, (size_t)n * sizeof *p);
        if (!p) return -1;
        memset(p + l->nfds, 0, (size_t)(n - l->nfds) * sizeof *p);
        l->fds = p;
        l->nfds = n;
    }
    struct epoll_event ee = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) return -1;
    l->fds[fd] = (loop_fd){cb, ud, events};
    return 0;
}

int loop_mod_fd(loop_t *l, int fd, unsigned events)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].cb) return -1;
    if (l->fds[fd].events == events) return 0;
    struct epoll_event ee = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ee) < 0) return -1;
    l->fds[fd].events = events;
    return 0;
}

void loop_del_fd(loop_t *l, int fd)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].cb) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd].cb = NULL;
    l->fds[fd].ud = NULL;
}

#define HEAP_WHEN(l, i) ((l)->timers[(l)->heap[i]].when)

static void heap_set(loop_t *l, uint32_t i, uint32_t rec)
{
    l->heap[i] = rec;
    l->timers[rec].heap_idx = i;
}

static void heap_up(loop_t *l, uint32_t i)
{
    uint32_t rec = l->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (HEAP_WHEN(l, p) <= l->timers[rec].when) break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, rec);
}

static void heap_down(loop_t *l, uint32_t i)
{
    uint32_t rec = l->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1, m = c;
        if (c >= l->nheap) break;
        if (c + 1 < l->nheap && HEAP_WHEN(l, c + 1) < HEAP_WHEN(l, c)) m = c + 1;
        if (HEAP_WHEN(l, m) >= l->timers[rec].when) break;
        heap_set(l, i, l->heap[m]);
        i = m;
    }
    heap_set(l, i, rec);
}

/* Remove the heap entry at i and return its record to the free stack. */
static void heap_remove(loop_t *l, uint32_t i)
{
    uint32_t rec = l->heap[i];
    l->timers[rec].heap_idx = UINT32_MAX;
    l->timers[rec].gen++;
    l->free_timers[l->nfree++] = rec;
    if (i != --l->nheap) {
        uint32_t moved = l->heap[l->nheap];
        heap_set(l, i, moved);
        heap_down(l, i);
        heap_up(l, l->timers[moved].heap_idx);
    }
}

static int timers_grow(loop_t *l)
{
    uint32_t n = l->ntimers ? l->ntimers * 2 : 64;
    loop_timer *t = realloc(l->timers, n * sizeof *t);
    if (!t) return -1;
    l->timers = t;
    uint32_t *h = realloc(l->heap, n * sizeof *h);
    if (!h) return -1;
    l->heap = h;
    uint32_t *f = realloc(l->free_timers, n * sizeof *f);
    if (!f) return -1;
    l->free_timers = f;
    for (uint32_t i = n; i > l->ntimers; i--) {
        t[i - 1] = (loop_timer){0, 1, UINT32_MAX, NULL, NULL};
        f[l->nfree++] = i - 1;
    }
    l->ntimers = n;
    return 0;
}

uint64_t loop_add_timer(loop_t *l, uint64_t ms, loop_timer_cb cb, void *ud)
{
    if (l->nfree == 0 && timers_grow(l) < 0) return 0;
    uint32_t rec = l->free_timers[--l->nfree];
    loop_timer *t = &l->timers[rec];
    t->when = mono_ms() + ms;
    t->cb = cb;
    t->ud = ud;
    l->heap[l->nheap] = rec;
    t->heap_idx = l->nheap++;
    heap_up(l, t->heap_idx);
    return ((uint64_t)t->gen << 32) | (rec + 1u);
}

void loop_cancel_timer(loop_t *l, uint64_t id)
{
    uint32_t rec = (uint32_t)(id & 0xffffffffu);
    if (rec == 0 || rec > l->ntimers) return;
    loop_timer *t = &l->timers[rec - 1];
    if (t->gen != (uint32_t)(id >> 32) || t->heap_idx == UINT32_MAX) return;
    heap_remove(l, t->heap_idx);
}

/* Ordinary hooks go before the first late one, late ones at the end. */
static int loop_insert_hook(loop_t *l, loop_hook_cb cb, void *ud, int late)
{
    loop_hook *p = realloc(l->hooks, (l->nhooks + 1) * sizeof *p);
    if (!p) return -1;
    l->hooks = p;
    size_t at = l->nhooks;
    if (!late)
        while (at > 0 && l->hooks[at - 1].late) at--;
    memmove(&l->hooks[at + 1], &l->hooks[at], (l->nhooks - at) * sizeof *l->hooks);
    l->hooks[at] = (loop_hook){cb, ud, late};
    l->nhooks++;
    return 0;
}

int loop_add_hook(loop_t *l, loop_hook_cb cb, void *ud)
{
    return loop_insert_hook(l, cb, ud, 0);
}

int loop_add_late_hook(loop_t *l, loop_hook_cb cb, void *ud)
{
    return loop_insert_hook(l, cb, ud, 1);
}

void loop_wake(loop_t *l)
{
    l->wake = 1;
}

void loop_del_hook(loop_t *l, loop_hook_cb cb, void *ud)
{
    for (size_t i = 0; i < l->nhooks; i++) {
        if (l->hooks[i].cb == cb && l->hooks[i].ud == ud) {
            memmove(&l->hooks[i], &l->hooks[i + 1], (l->nhooks - i - 1) * sizeof *l->hooks);
            l->nhooks--;
            return;
        }
    }
}

static void loop_on_signalfd(loop_t *l, int fd, unsigned events, void *ud)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        for (size_t i = 0; i < l->nsigs; i++)
            if (l->sigs[i].signo == (int)si.ssi_signo) l->sigs[i].cb(l, (int)si.ssi_signo, l->sigs[i].ud);
    }
}

int loop_add_signal(loop_t *l, int signo, loop_signal_cb cb, void *ud)
{
    loop_sig *p = realloc(l->sigs, (l->nsigs + 1) * sizeof *p);
    if (!p) return -1;
    l->sigs = p;
    l->sigs[l->nsigs++] = (loop_sig){signo, cb, ud};
    sigaddset(&l->sigmask, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0) return -1;
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return -1;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        return loop_add_fd(l, fd, LOOP_READ, loop_on_signalfd, NULL);
    }
    return 0;
}

uint64_t loop_now(loop_t *l)
{
    return l->now;
}

void loop_stop(loop_t *l)
{
    l->running = 0;
}

/* Fire due timers; returns the ms until the next one, or -1 if none. */
static int loop_run_timers(loop_t *l)
{
    while (l->nheap > 0) {
        uint32_t rec = l->heap[0];
        loop_timer t = l->timers[rec];
        if (t.when > l->now) {
            uint64_t d = t.when - l->now;
            return d > 60000 ? 60000 : (int)d;
        }
        uint64_t id = ((uint64_t)t.gen << 32) | (rec + 1u);
        heap_remove(l, 0);
        t.cb(l, id, t.ud);
        if (!l->running) return 0;
        l->now = mono_ms();
    }
    return -1;
}

int loop_run(loop_t *l)
{
    struct epoll_event evs[256];
    l->running = 1;
    while (l->running) {
        l->now = mono_ms();
        int timeout = loop_run_timers(l);
        if (!l->running) break;
        for (size_t i = 0; i < l->nhooks && l->running; i++) l->hooks[i].cb(l, l->hooks[i].ud);
        if (!l->running) break;
        /* hooks may have added timers that are due now */
        if (l->nheap > 0) {
            uint64_t now = mono_ms(), when = HEAP_WHEN(l, 0);
            int d = when > now ? (int)(when - now) : 0;
            if (timeout < 0 || d < timeout) timeout = d;
        }
        if (l->wake) {
            l->wake = 0;
            timeout = 0;
        }
        int n = epoll_wait(l->epfd, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        l->now = mono_ms();
        for (int i = 0; i < n && l->running; i++) {
            int fd = evs[i].data.fd;
            if (fd >= l->nfds || !l->fds[fd].cb) continue;
            unsigned ev = 0;
            if (evs[i].events & EPOLLIN) ev |= LOOP_READ;
            if (evs[i].events & EPOLLOUT) ev |= LOOP_WRITE;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) ev |= LOOP_ERROR | LOOP_READ;
            l->fds[fd].cb(l, fd, ev, l->fds[fd].ud);
        }
    }
    return 0;
}
