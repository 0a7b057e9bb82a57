/*
 * conn.c - one client connection: reading, TLS, the output queue and the
 * orderly end of a connection.
 *
 * Reads go straight to the stream parser (stream.c). Writes are queued
 * in c->out and flushed before the loop sleeps, so several stanzas for
 * one client leave in one write. Plain and TLS sockets differ only in
 * conn_io_read / conn_io_write. A TLS 1.3 connection hands its records
 * from OpenSSL to tls_rec.c once the handshake is over, which frees the
 * SSL object (unless c2s.tls_record_takeover is false); it then reads and
 * writes the socket like a plain one, with records opened on input and
 * sealed in c->out before a flush. A connection is never freed while a
 * callback may still hold it: conn_destroy closes and marks it, and the
 * flush hook frees it.
 */
#include "c2s.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tls_rec.h"

#define CONN_READ_CHUNK 16384
/* Delay between the end of a handshake or connection and the heap trim
 * it asks for (see conn_trim_soon). */
#define CONN_TRIM_DELAY_MS 1000

static void conn_on_io(loop_t *l, int fd, unsigned events, void *ud);

static void conn_trim(loop_t *l, uint64_t id, void *ud)
{
    c2s_t *s = ud;
    s->trim_timer = 0;
    malloc_trim(0);
}

/* A TLS handshake allocates tens of KiB for a moment (the SSL object,
 * handshake buffers, certificates), and what an idle connection keeps
 * afterwards sits between those holes, so glibc can rarely give the
 * pages back by itself. A trim returns whole free pages to the kernel.
 * It is batched: one per CONN_TRIM_DELAY_MS at most during a login or
 * logout storm. */
static void conn_trim_soon(c2s_t *s)
{
    if (!s->trim_timer) s->trim_timer = loop_add_timer(s->loop, CONN_TRIM_DELAY_MS, conn_trim, s);
}

/* An expat parser costs several KiB, and creating one costs more than
 * parsing a chat message. A connection that read fewer than
 * CONN_HOT_FEEDS times since the last sweep, or is not bound yet, frees
 * its parser after each read that leaves it between stanzas (logins,
 * idle clients: the memory
 * is reused at once, so the heap stays compact); a busier one keeps it
 * until a sweep finds that it read nothing for a whole interval. The
 * sweep walks the connection table: a few milliseconds per second at
 * 50,000 connections. */
#define CONN_SWEEP_MS 1000
#define CONN_HOT_FEEDS 4

void conn_fed(conn_t *c)
{
    if (!c->bound) { /* logging in: a handful of reads, then likely idle */
        xml_stream_release(c->parser);
        return;
    }
    if (c->feeds < 7) c->feeds++;
    if (c->feeds < CONN_HOT_FEEDS) xml_stream_release(c->parser);
}

/* XEP-0199 keepalive: a bound session silent for c2s.ping_interval
 * seconds gets a ping from the server; if nothing at all arrives within
 * c2s.ping_timeout seconds after it, the connection is taken as dead
 * (RFC 6120 4.9.3.4 <connection-timeout/>) and its session ends, so its
 * contacts learn it is gone without waiting for TCP to notice. */
static void conn_keepalive(c2s_t *s, conn_t *c, uint32_t now)
{
    if (!s->ping_interval || !c->bound || c->state != CONN_OPEN) return;
    if (c->ping_at) {
        if (now - c->ping_at >= s->ping_timeout) {
            log_info("conn %llu (%s) did not answer a ping within %u s", (unsigned long long)c->id, conn_name(c),
                     s->ping_timeout);
            stream_error(c, "connection-timeout", NULL);
        }
        return;
    }
    if (now - c->last_in < s->ping_interval) return;
    char id[48];
    snprintf(id, sizeof id, C2S_PING_ID "%llu", (unsigned long long)++s->pings);
    buf_t b = BUF_INIT;
    buf_puts(&b, "<iq type='get' id='");
    buf_puts(&b, id);
    buf_puts(&b, "' from='");
    buf_append_xml_escaped(&b, s->domain, strlen(s->domain), 1);
    buf_puts(&b, "' to='");
    buf_append_xml_escaped(&b, c->full, strlen(c->full), 1);
    buf_puts(&b, "'><ping xmlns='urn:xmpp:ping'/></iq>");
    conn_write(c, b.data, b.len);
    buf_free(&b);
    c->ping_at = now ? now : 1;
}

void conn_heard(conn_t *c)
{
    c->last_in = (uint32_t)(loop_now(c->srv->loop) / 1000);
    c->ping_at = 0;
}

static void conn_sweep(loop_t *l, uint64_t id, void *ud)
{
    c2s_t *s = ud;
    unsigned freed = 0;
    uint32_t now = (uint32_t)(loop_now(l) / 1000);
    for (uint32_t i = 0; i < s->nconns_cap; i++) {
        conn_t *c = s->conns[i];
        if (!c) continue;
        conn_keepalive(s, c, now);
        if (!c->parser) continue;
        if (c->feeds)
            c->feeds = 0;
        else
            freed += (unsigned)xml_stream_release(c->parser);
    }
    if (freed) conn_trim_soon(s);
    s->sweep_timer = loop_add_timer(l, CONN_SWEEP_MS, conn_sweep, s);
}

int conn_sweep_start(c2s_t *s)
{
    s->sweep_timer = loop_add_timer(s->loop, CONN_SWEEP_MS, conn_sweep, s);
    return s->sweep_timer ? 0 : -1;
}

void conn_sweep_stop(c2s_t *s)
{
    if (s->sweep_timer) loop_cancel_timer(s->loop, s->sweep_timer);
    s->sweep_timer = 0;
}

static void conn_auth_timeout(loop_t *l, uint64_t id, void *ud)
{
    conn_t *c = ud;
    c->auth_timer = 0;
    if (c->bound || c->state == CONN_CLOSED) return;
    log_info("conn %llu from %s did not log in within %u s", (unsigned long long)c->id, c->peer,
             c->srv->auth_timeout_ms / 1000);
    if (c->state == CONN_OPEN || c->state == CONN_HEADER) stream_error(c, "connection-timeout", NULL);
    else conn_destroy(c, "timeout");
}

conn_t *conn_new(c2s_t *s, int fd, const char *peer)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = s;
    c->fd = fd;
    c->state = CONN_HEADER;
    c->peer = strdup(peer);
    if (!c->peer || c2s_conn_register(s, c) < 0) {
        free(c->peer);
        free(c);
        return NULL;
    }
    stream_init(c);
    if (!c->parser || loop_add_fd(s->loop, fd, LOOP_READ, conn_on_io, c) < 0) {
        c2s_conn_unregister(s, c);
        xml_stream_free(&c->parser);
        free(c->peer);
        free(c);
        return NULL;
    }
    c->auth_timer = loop_add_timer(s->loop, s->auth_timeout_ms, conn_auth_timeout, c);
    conn_heard(c);
    s->accepted++;
    log_debug("conn %llu accepted from %s", (unsigned long long)c->id, peer);
    return c;
}

void conn_write(conn_t *c, const char *data, size_t len)
{
    if (c->state == CONN_CLOSED || c->state == CONN_CLOSING) return;
    if (buf_pending(&c->out) + len > c->srv->max_out || buf_append(&c->out, data, len) < 0) {
        log_warn("conn %llu (%s): output buffer over %zu bytes, closing", (unsigned long long)c->id,
                 conn_name(c), c->srv->max_out);
        conn_destroy(c, "output buffer full");
        return;
    }
    c2s_mark_dirty(c->srv, c);
}

void conn_write_str(conn_t *c, const char *s)
{
    conn_write(c, s, strlen(s));
}

void conn_write_node(conn_t *c, const xml_node *n)
{
    buf_t b = BUF_INIT;
    if (xml_serialize(n, "jabber:client", &b) == 0) conn_write(c, b.data, b.len);
    buf_free(&b);
}

/* Read up to n bytes. Returns >0 bytes, 0 on EOF, -1 on error, -2 when
 * nothing is available now. */
static ssize_t conn_io_read(conn_t *c, char *p, size_t n)
{
    if (!c->ssl) { /* plain, or records handled by c->rec */
        ssize_t r = read(c->fd, p, n);
        if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
        return r;
    }
    int r = SSL_read(c->ssl, p, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -2;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    ERR_clear_error();
    return -1;
}

/* Write up to n bytes. Returns bytes written, -2 if it would block, -1 on error. */
static ssize_t conn_io_write(conn_t *c, const char *p, size_t n)
{
    if (!c->ssl) { /* plain, or records sealed by c->rec */
        ssize_t r = write(c->fd, p, n);
        if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
        return r;
    }
    int r = SSL_write(c->ssl, p, (int)(n > 1u << 30 ? 1u << 30 : n));
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -2;
    ERR_clear_error();
    return -1;
}

static void conn_want_write(conn_t *c, int on)
{
    if (c->want_write == on || c->state == CONN_CLOSED) return;
    c->want_write = on;
    loop_mod_fd(c->srv->loop, c->fd, LOOP_READ | (on ? LOOP_WRITE : 0));
}

int conn_flush(conn_t *c)
{
    if (c->state == CONN_CLOSED || c->state == CONN_TLS_HANDSHAKE) return 0;
    if (c->rec && tls_rec_seal(c->rec, &c->out) < 0) return -1;
    while (buf_pending(&c->out) > 0) {
        ssize_t w = conn_io_write(c, buf_head(&c->out), buf_pending(&c->out));
        if (w == -2) {
            conn_want_write(c, 1);
            return 0;
        }
        if (w < 0) return -1;
        buf_consume(&c->out, (size_t)w);
        if (c->rec) tls_rec_wrote(c->rec, (size_t)w);
    }
    buf_free(&c->out); /* an idle connection keeps no output buffer */
    conn_want_write(c, 0);
    return 0;
}

/* Drive the TLS handshake; on completion the client restarts the stream. */
static void conn_tls_step(conn_t *c)
{
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->tls = 1;
        c->state = CONN_HEADER; /* the client restarts the stream */
        conn_want_write(c, 0);
        c->rec = c->srv->tls_takeover ? tls_rec_take_over(c->ssl) : NULL;
        log_debug("conn %llu TLS established (%s, records by %s)", (unsigned long long)c->id,
                  SSL_get_version(c->ssl), c->rec ? "c2s" : "OpenSSL");
        if (c->rec) {
            SSL_free(c->ssl);
            c->ssl = NULL;
        }
        conn_trim_soon(c->srv);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) { conn_want_write(c, 0); return; }
    if (e == SSL_ERROR_WANT_WRITE) { conn_want_write(c, 1); return; }
    unsigned long err = ERR_get_error();
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    log_info("conn %llu from %s: TLS handshake failed: %s", (unsigned long long)c->id, c->peer,
             err ? buf : "connection closed");
    ERR_clear_error();
    conn_destroy(c, "TLS handshake failed");
}

int conn_start_tls(conn_t *c)
{
    c->ssl = SSL_new(c->srv->tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) return -1;
    if (c->srv->tls_takeover && tls_rec_attach(c->ssl) < 0) return -1;
    c->state = CONN_TLS_HANDSHAKE;
    conn_tls_step(c);
    return 0;
}

/* Plaintext of a record: to the parser; stop once the connection ends. */
static int conn_on_plain(void *ud, char *data, size_t len)
{
    conn_t *c = ud;
    stream_input(c, data, len);
    return c->state == CONN_CLOSED || c->state == CONN_CLOSING;
}

/* Bytes read from a socket whose records c->rec handles. */
static void conn_rec_input(conn_t *c, char *data, size_t n)
{
    int rc = tls_rec_input(c->rec, data, n, conn_on_plain, c);
    if (c->state == CONN_CLOSED) return;
    if (rc == TLS_REC_CLOSED) conn_destroy(c, "connection closed by client");
    else if (rc != TLS_REC_OK) conn_destroy(c, "TLS record error");
    else if (tls_rec_wants_write(c->rec)) c2s_mark_dirty(c->srv, c);
}

static void conn_read_ready(conn_t *c)
{
    char data[CONN_READ_CHUNK];
    for (int i = 0; i < 16 && c->state != CONN_CLOSED && c->state != CONN_CLOSING; i++) {
        if (c->state == CONN_TLS_HANDSHAKE) {
            conn_tls_step(c);
            if (c->state == CONN_TLS_HANDSHAKE || c->state == CONN_CLOSED) return;
        }
        ssize_t n = conn_io_read(c, data, sizeof data);
        if (n == -2) return;
        if (n <= 0) {
            conn_destroy(c, n == 0 ? "connection closed by client" : "read error");
            return;
        }
        if (c->rec) conn_rec_input(c, data, (size_t)n);
        else stream_input(c, data, (size_t)n);
        /* A short read took everything the socket had (epoll is
         * level-triggered: more input fires again), which saves the read
         * that would only say EAGAIN. */
        if ((size_t)n < sizeof data && !(c->ssl && SSL_pending(c->ssl) > 0)) return;
    }
}

static void conn_on_io(loop_t *l, int fd, unsigned events, void *ud)
{
    conn_t *c = ud;
    if (c->state == CONN_TLS_HANDSHAKE) {
        conn_tls_step(c);
        if (c->state == CONN_TLS_HANDSHAKE || c->state == CONN_CLOSED) return;
    }
    if ((events & LOOP_WRITE) && conn_flush(c) < 0) {
        conn_destroy(c, "write failed");
        return;
    }
    if (c->state == CONN_CLOSING && buf_pending(&c->out) == 0) {
        conn_destroy(c, "closed");
        return;
    }
    if (events & LOOP_READ) conn_read_ready(c);
}

void conn_close_after_flush(conn_t *c)
{
    if (c->state == CONN_CLOSED || c->state == CONN_CLOSING) return;
    if (c->bound) bind_unbind(c, "stream closed");
    c->state = CONN_CLOSING;
    c2s_mark_dirty(c->srv, c);
}

void conn_destroy(conn_t *c, const char *reason)
{
    if (c->state == CONN_CLOSED) return;
    c2s_t *s = c->srv;
    if (c->bound) bind_unbind(c, reason);
    log_debug("conn %llu closed: %s", (unsigned long long)c->id, reason);
    if (c->pending_req) {
        bus_cancel(s->bus, c->pending_req);
        c->pending_req = 0;
    }
    loop_cancel_timer(s->loop, c->auth_timer);
    c->auth_timer = 0;
    loop_del_fd(s->loop, c->fd);
    if (c->ssl) {
        SSL_set_quiet_shutdown(c->ssl, 1);
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    c->fd = -1;
    c2s_conn_unregister(s, c);
    c->state = CONN_CLOSED;
    s->closed++;
    c2s_mark_dirty(s, c);
}

void conn_free(conn_t *c)
{
    conn_trim_soon(c->srv);
    if (c->ssl) {
        tls_rec_detach(c->ssl); /* a handshake that never finished */
        SSL_free(c->ssl);
    }
    tls_rec_free(&c->rec);
    xml_stream_free(&c->parser);
    scram_server_free(&c->scram);
    if (c->plain_pass) {
        memset(c->plain_pass, 0, strlen(c->plain_pass));
        free(c->plain_pass);
    }
    bind_free_held(c);
    buf_free(&c->out);
    free(c->user);
    free(c->bare);
    free(c->full);
    free(c->peer);
    free(c);
}
