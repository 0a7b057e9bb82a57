/*
 * listener.c - the client port. Every c2s process binds the same address
 * with SO_REUSEPORT and the kernel spreads new connections across them.
 */
#include "c2s.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static void listener_peer_name(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", host, port);
}

/* How long accepting pauses when the process is out of file descriptors
 * or memory. */
#define LISTENER_PAUSE_MS 250

static void listener_resume(loop_t *l, uint64_t id, void *ud)
{
    c2s_t *s = ud;
    if (s->listen_fd >= 0) loop_mod_fd(l, s->listen_fd, LOOP_READ);
}

static void listener_on_accept(loop_t *l, int fd, unsigned events, void *ud)
{
    c2s_t *s = ud;
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection stays queued and the listener stays
                 * readable: without a pause the level-triggered loop would
                 * spin on accept and flood the log. Connections waiting in
                 * the queue are accepted once descriptors are free again. */
                log_warn("accept: %s with %u connections; not accepting for %d ms", strerror(errno),
                         s->nconns, LISTENER_PAUSE_MS);
                if (loop_mod_fd(l, fd, 0) == 0 && !loop_add_timer(l, LISTENER_PAUSE_MS, listener_resume, s))
                    loop_mod_fd(l, fd, LOOP_READ);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char peer[64];
        listener_peer_name(&ss, peer, sizeof peer);
        if (!conn_new(s, cfd, peer)) close(cfd);
    }
}

int listener_open(c2s_t *s)
{
    const char *host = config_str(s->cfg, "c2s.bind", "0.0.0.0");
    char port[16];
    snprintf(port, sizeof port, "%lld", config_int(s->cfg, "c2s.port", 5222));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        log_error("c2s.bind %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        log_error("cannot listen on %s:%s: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    s->listen_fd = fd;
    log_info("listening on %s:%s", host, port);
    return loop_add_fd(s->loop, fd, LOOP_READ, listener_on_accept, s);
}

void listener_close(c2s_t *s)
{
    if (s->listen_fd < 0) return;
    loop_del_fd(s->loop, s->listen_fd);
    close(s->listen_fd);
    s->listen_fd = -1;
}
