/*
 * client.c - the connection and login state machine of one simulated
 * client (see client.h).
 *
 * The state machine follows RFC 6120: header -> features -> [starttls ->
 * proceed -> TLS -> header -> features] -> (register | auth -> challenge*
 * -> success -> header -> features -> bind [-> session]) -> online. Each
 * state accepts only what the server may send in it; anything else ends
 * the login with CF_PROTOCOL. Every connection has a deadline (the login
 * timeout, then the close timeout) so nothing waits forever.
 *
 * A connection has a generation number: callbacks may end it and start
 * another on the same slot, so code that resumes after a callback checks
 * that the generation is unchanged.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CARRY (1u << 20)    /* largest stanza we are willing to buffer */
#define READ_ROUNDS 16          /* reads per readiness event before yielding */
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

static const char *const fail_names[] = {
#define X(e, s) s,
    CLIENT_FAILS(X)
#undef X
};

const char *client_fail_name(client_fail f)
{
    return f < CF_COUNT ? fail_names[f] : "unknown";
}

SSL_CTX *client_tls_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

void client_init(client *c, client_env *env, uint32_t idx, uint32_t user, uint32_t src)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    c->fd = -1;
    c->idx = idx;
    c->user = user;
    c->src = src;
}

static void on_io(loop_t *l, int fd, unsigned events, void *ud);
static void on_timer(loop_t *l, uint64_t id, void *ud);
static void client_read(client *c);
static void flush(client *c);

/* ---- connection lifetime ---- */

/* Tear the connection down; the slot becomes idle. Calls nothing. */
static void release(client *c)
{
    if (c->timer) loop_cancel_timer(c->env->loop, c->timer);
    c->timer = 0;
    if (c->fd >= 0) {
        loop_del_fd(c->env->loop, c->fd);
        close(c->fd);
    }
    c->fd = -1;
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    buf_free(&c->in);
    buf_free(&c->out);
    c->state = CS_IDLE;
    c->in_stream = c->authed = c->read_again = c->rd_wants_wr = c->wr_wants_rd = 0;
    c->gen++;
}

void client_abort(client *c)
{
    release(c);
}

/* End the connection for why: a login in progress fails, an online or
 * closing connection is reported closed. */
static void end_conn(client *c, client_fail why)
{
    client_env *env = c->env;
    int st = c->state;
    if (st == CS_IDLE) return;
    release(c);
    if (st < CS_ONLINE) env->ev->failed(env->ud, c, why);
    else env->ev->closed(env->ud, c, st == CS_CLOSING);
}

static void set_interest(client *c)
{
    unsigned ev = LOOP_READ;
    if (c->state == CS_CONNECTING) ev = LOOP_WRITE;
    else if ((buf_pending(&c->out) && !c->wr_wants_rd) || c->rd_wants_wr) ev |= LOOP_WRITE;
    loop_mod_fd(c->env->loop, c->fd, ev);
}

int client_start(client *c, client_purpose purpose, int presence)
{
    const bench_opts *o = c->env->o;
    if (c->state != CS_IDLE) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o->src_addrs > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7F000001u + c->src);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    dst.sin_addr = o->addr;
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    if (loop_add_fd(c->env->loop, fd, LOOP_WRITE, on_io, c) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->purpose = (uint8_t)purpose;
    c->want_presence = (uint8_t)presence;
    c->t_start_us = bench_now_us();
    c->login_us = 0;
    c->timer = loop_add_timer(c->env->loop, (uint64_t)(o->timeout * 1000), on_timer, c);
    return 0;
}

void client_free(client *c)
{
    release(c);
    free(c->jid);
    c->jid = NULL;
    free(c->flags);
    c->flags = NULL;
}

static void on_timer(loop_t *l, uint64_t id, void *ud)
{
    client *c = ud;
    c->timer = 0;
    end_conn(c, CF_TIMEOUT);
}

/* ---- output ---- */

void client_mark(client *c)
{
    if (c->dirty) return;
    c->dirty = 1;
    c->next_dirty = c->env->dirty;
    c->env->dirty = c;
}

void client_send(client *c, const char *p, size_t n)
{
    if (c->fd < 0) return;
    if (buf_append(&c->out, p, n) < 0) {
        /* cannot grow the output: the connection cannot go on */
        shutdown(c->fd, SHUT_RDWR);
    }
    client_mark(c);
}

static void send_str(client *c, const char *s) { client_send(c, s, strlen(s)); }

/* Write as much output as the socket takes. May end the connection. */
static void flush(client *c)
{
    while (buf_pending(&c->out)) {
        const char *p = buf_head(&c->out);
        size_t n = buf_pending(&c->out);
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
            if (r > 0) {
                buf_consume(&c->out, (size_t)r);
                c->env->bytes_out += (uint64_t)r;
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE) break;
            if (e == SSL_ERROR_WANT_READ) { c->wr_wants_rd = 1; break; }
            end_conn(c, CF_TLS);
            return;
        }
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            buf_consume(&c->out, (size_t)r);
            c->env->bytes_out += (uint64_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        end_conn(c, CF_CLOSED);
        return;
    }
    set_interest(c);
}

void client_flush_dirty(loop_t *l, void *envp)
{
    client_env *env = envp;
    for (int round = 0; env->dirty && round < 8; round++) {
        client *list = env->dirty;
        env->dirty = NULL;
        while (list) {
            client *c = list;
            list = c->next_dirty;
            c->dirty = 0;
            if (c->fd < 0 || c->state == CS_CONNECTING) continue;
            uint32_t gen = c->gen;
            if (c->read_again) {
                c->read_again = 0;
                client_read(c);
                if (c->gen != gen) continue;
            }
            if (buf_pending(&c->out)) flush(c);
        }
    }
}

static void send_header(client *c)
{
    buf_printf(&c->out,
               "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
               c->env->o->domain);
    client_mark(c);
}

/* Append an attribute value taken raw from a stanza (still escaped), in
 * quotes that it cannot contain. */
static void put_raw_attr(buf_t *b, const char *name, const char *v, size_t n)
{
    char q = memchr(v, '\'', n) ? '"' : '\'';
    buf_printf(b, " %s=%c", name, q);
    buf_append(b, v, n);
    buf_append(b, &q, 1);
}

/* ---- login states ---- */

static void go_online(client *c)
{
    client_env *env = c->env;
    if (c->timer) loop_cancel_timer(env->loop, c->timer);
    c->timer = 0;
    c->state = CS_ONLINE;
    if (c->want_presence) send_str(c, "<presence/>");
    env->ev->ready(env->ud, c);
}

/* Is mechanism m among the <mechanism/> children of el? */
static int mech_offered(const xs_el *mechs, sasl_mech m)
{
    xs_el ch;
    char name[32];
    memset(&ch, 0, sizeof ch);
    while (xscan_child(mechs, &ch)) {
        if (xscan_is(&ch, "mechanism") && xscan_text(&ch, name, sizeof name) > 0 &&
            strcmp(name, sasl_mech_name(m)) == 0)
            return 1;
    }
    return 0;
}

static void user_name(const client *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s%u", c->env->o->user_prefix, c->user);
}

static void start_register(client *c)
{
    char user[128];
    user_name(c, user, sizeof user);
    buf_t *b = &c->out;
    buf_puts(b, "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>");
    buf_append_xml_escaped(b, user, strlen(user), 0);
    buf_puts(b, "</username><password>");
    buf_append_xml_escaped(b, c->env->o->password, strlen(c->env->o->password), 0);
    buf_puts(b, "</password></query></iq>");
    client_mark(c);
    c->state = CS_REGISTER;
}

static void start_auth(client *c, const xs_el *features)
{
    const bench_opts *o = c->env->o;
    xs_el mechs;
    if (!xscan_find(features, "mechanisms", &mechs) || !mech_offered(&mechs, o->mech)) {
        end_conn(c, CF_MECH);
        return;
    }
    char user[128];
    user_name(c, user, sizeof user);
    buf_printf(&c->out, "<auth xmlns='" NS_SASL "' mechanism='%s'>", sasl_mech_name(o->mech));
    if (sasl_initial(o->mech, &c->sasl, user, o->password, &c->out) < 0) {
        end_conn(c, CF_AUTH);
        return;
    }
    buf_puts(&c->out, "</auth>");
    client_mark(c);
    c->state = CS_SASL;
}

static void on_features(client *c, const xs_el *el)
{
    const bench_opts *o = c->env->o;
    xs_el f;
    if (!xscan_is(el, "features")) { end_conn(c, CF_PROTOCOL); return; }
    if (!c->ssl && o->starttls) {
        if (!xscan_find(el, "starttls", &f)) { end_conn(c, CF_TLS); return; }
        send_str(c, "<starttls xmlns='" NS_TLS "'/>");
        c->state = CS_PROCEED;
        return;
    }
    if (!c->authed) {
        if (c->purpose == CLIENT_REGISTER) start_register(c);
        else start_auth(c, el);
        return;
    }
    if (!xscan_find(el, "bind", &f)) { end_conn(c, CF_BIND); return; }
    xs_el sess, opt;
    /* a session is needed only when offered without <optional/> */
    c->need_session = xscan_find(el, "session", &sess) && !xscan_find(&sess, "optional", &opt);
    buf_printf(&c->out, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                        "<resource>%s</resource></bind></iq>", o->resource);
    client_mark(c);
    c->state = CS_BIND;
}

/* <proceed/>: switch to TLS; the stream header goes out through it. */
static int on_proceed(client *c, const xs_el *el)
{
    if (!xscan_is(el, "proceed") || !c->env->ssl_ctx) { end_conn(c, CF_TLS); return -1; }
    c->ssl = SSL_new(c->env->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) { end_conn(c, CF_TLS); return -1; }
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, c->env->o->domain);
    c->in_stream = 0;
    c->state = CS_HEADER;
    send_header(c);
    return 0;
}

/* The SASL exchange. Returns 1 when the stream restarts (drop the rest of
 * the input), 0 otherwise. */
static int on_sasl(client *c, const xs_el *el)
{
    const bench_opts *o = c->env->o;
    if (xscan_is(el, "challenge")) {
        char user[128];
        int missed = 0;
        user_name(c, user, sizeof user);
        buf_puts(&c->out, "<response xmlns='" NS_SASL "'>");
        if (sasl_challenge(o->mech, &c->sasl, &c->keys, user, o->password, el->inner,
                           el->inner_len, &c->out, &missed) < 0) {
            end_conn(c, CF_AUTH);
            return 0;
        }
        c->env->scram_misses += (uint64_t)missed;
        buf_puts(&c->out, "</response>");
        client_mark(c);
        return 0;
    }
    if (xscan_is(el, "success")) {
        if (sasl_success(o->mech, &c->sasl, el->inner, el->inner_len) < 0) {
            end_conn(c, CF_AUTH);
            return 0;
        }
        c->authed = 1;
        c->in_stream = 0;
        c->state = CS_HEADER;
        send_header(c);
        return 1;
    }
    end_conn(c, CF_AUTH);   /* <failure/>, <abort/> or anything else */
    return 0;
}

/* Type of an iq: 'r' result, 'e' error, 'g' get, 's' set, 0 other. */
static char iq_type(const xs_el *el)
{
    const char *v;
    size_t n;
    if (!xscan_is(el, "iq") || !xscan_attr(el, "type", &v, &n)) return 0;
    if (xscan_eq(v, n, "result")) return 'r';
    if (xscan_eq(v, n, "error")) return 'e';
    if (xscan_eq(v, n, "get")) return 'g';
    if (xscan_eq(v, n, "set")) return 's';
    return 0;
}

static void on_register(client *c, const xs_el *el)
{
    client_env *env = c->env;
    char t = iq_type(el);
    xs_el err, conflict;
    int ok = t == 'r' || (t == 'e' && xscan_find(el, "error", &err) &&
                          xscan_find(&err, "conflict", &conflict));
    if (!ok) { end_conn(c, t == 'e' ? CF_REGISTER : CF_PROTOCOL); return; }
    release(c);
    env->ev->ready(env->ud, c);
}

static void on_bind(client *c, const xs_el *el)
{
    char t = iq_type(el);
    xs_el b, j;
    char jid[1024];
    long n;
    if (t != 'r' || !xscan_find(el, "bind", &b) || !xscan_find(&b, "jid", &j) ||
        (n = xscan_text(&j, jid, sizeof jid)) <= 0) {
        end_conn(c, t == 'e' || t == 'r' ? CF_BIND : CF_PROTOCOL);
        return;
    }
    char *copy = malloc((size_t)n + 1);
    if (!copy) { end_conn(c, CF_BIND); return; }
    memcpy(copy, jid, (size_t)n + 1);
    free(c->jid);
    c->jid = copy;
    c->jid_len = (size_t)n;
    c->login_us = (uint32_t)(bench_now_us() - c->t_start_us);
    if (c->need_session) {
        send_str(c, "<iq type='set' id='sess1'><session "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
        c->state = CS_SESSION;
        return;
    }
    go_online(c);
}

/* Online: answer pings (and any other get/set we do not know with an
 * error), acknowledge roster pushes, hand the rest to the worker. */
static void on_online(client *c, const xs_el *el)
{
    char t = iq_type(el);
    if (t == 'g' || t == 's') {
        const char *id = "", *from = NULL;
        size_t idn = 0, fromn = 0;
        xs_el q;
        xscan_attr(el, "id", &id, &idn);
        int from_ok = xscan_attr(el, "from", &from, &fromn);
        int known = xscan_find(el, "ping", &q) || (t == 's' && xscan_find(el, "query", &q));
        buf_t *b = &c->out;
        buf_printf(b, "<iq type='%s'", known ? "result" : "error");
        put_raw_attr(b, "id", id, idn);
        if (from_ok) put_raw_attr(b, "to", from, fromn);
        if (known) buf_puts(b, "/>");
        else buf_puts(b, "><error type='cancel'><service-unavailable "
                         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        client_mark(c);
        if (!known) return;
    }
    c->env->ev->stanza(c->env->ud, c, el);
}

/* One top-level stanza. Returns 1 when the stream restarted (the rest of
 * the input belongs to the old stream and is dropped). */
static int on_stanza(client *c, const char *p, size_t n)
{
    xs_el el;
    if (c->env->o->verbose > 2)
        fprintf(stderr, "xmpp-bench: %s%u <- %.*s\n", c->env->o->user_prefix, c->user, (int)n, p);
    if (xscan_root(p, n, &el) < 0) { end_conn(c, CF_PROTOCOL); return 0; }
    if (xscan_is(&el, "error") && n > 13 && memcmp(p, "<stream:error", 13) == 0) {
        end_conn(c, CF_STREAM_ERROR);
        return 0;
    }
    switch (c->state) {
    case CS_FEATURES: on_features(c, &el); return 0;
    case CS_PROCEED: return on_proceed(c, &el) == 0;
    case CS_SASL: return on_sasl(c, &el);
    case CS_REGISTER: on_register(c, &el); return 0;
    case CS_BIND: on_bind(c, &el); return 0;
    case CS_SESSION:
        if (iq_type(&el) == 'r') go_online(c);
        else end_conn(c, iq_type(&el) == 'e' ? CF_SESSION : CF_PROTOCOL);
        return 0;
    case CS_ONLINE:
    case CS_CLOSING: on_online(c, &el); return 0;
    default: end_conn(c, CF_PROTOCOL); return 0;
    }
}

/* ---- input ---- */

/* Scan p[0..n) for stream items. Returns the bytes consumed, or -1 when
 * the connection ended or the stream restarted (drop the rest). */
static long scan(client *c, const char *p, size_t n)
{
    size_t pos = 0;
    uint32_t gen = c->gen;
    while (pos < n) {
        size_t used, st, len;
        xscan_kind k = xscan_frame(p + pos, n - pos, c->in_stream, &used, &st, &len);
        if (k == XS_MORE) { pos += used; break; }
        if (k == XS_ERROR) { end_conn(c, CF_PROTOCOL); return -1; }
        const char *item = p + pos + st;
        pos += used;
        if (k == XS_HEADER) {
            if (c->state != CS_HEADER || len < 8 || memcmp(item, "<stream:", 8) != 0) {
                end_conn(c, CF_PROTOCOL);
                return -1;
            }
            c->in_stream = 1;
            c->state = CS_FEATURES;
        } else if (k == XS_CLOSE) {
            end_conn(c, CF_CLOSED);
            return -1;
        } else if (on_stanza(c, item, len)) {
            return -1;
        }
        if (c->gen != gen) return -1;
    }
    return (long)pos;
}

/* New bytes from the socket. */
static void input(client *c, const char *p, size_t n)
{
    uint32_t gen = c->gen;
    c->env->bytes_in += n;
    if (buf_pending(&c->in)) {
        if (buf_append(&c->in, p, n) < 0) { end_conn(c, CF_PROTOCOL); return; }
        long used = scan(c, buf_head(&c->in), buf_pending(&c->in));
        if (c->gen != gen) return;
        if (used < 0) buf_reset(&c->in);
        else buf_consume(&c->in, (size_t)used);
    } else {
        long used = scan(c, p, n);
        if (c->gen != gen || used < 0) return;
        if ((size_t)used < n && buf_append(&c->in, p + used, n - (size_t)used) < 0) {
            end_conn(c, CF_PROTOCOL);
            return;
        }
    }
    if (buf_pending(&c->in) > MAX_CARRY) end_conn(c, CF_PROTOCOL);
}

static void client_read(client *c)
{
    client_env *env = c->env;
    uint32_t gen = c->gen;
    for (int round = 0; round < READ_ROUNDS; round++) {
        ssize_t r;
        if (c->ssl) {
            ERR_clear_error();
            int k = SSL_read(c->ssl, env->rbuf, (int)env->rbuf_size);
            if (k <= 0) {
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_READ) return;
                if (e == SSL_ERROR_WANT_WRITE) { c->rd_wants_wr = 1; set_interest(c); return; }
                end_conn(c, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? CF_CLOSED : CF_TLS);
                return;
            }
            r = k;
        } else {
            r = recv(c->fd, env->rbuf, env->rbuf_size, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
                end_conn(c, CF_CLOSED);
                return;
            }
            if (r == 0) { end_conn(c, CF_CLOSED); return; }
        }
        input(c, env->rbuf, (size_t)r);
        if (c->gen != gen) return;
        if (!c->ssl && (size_t)r < env->rbuf_size) return;
    }
    /* more may be waiting inside TLS, which epoll cannot see */
    if (c->ssl) {
        c->read_again = 1;
        client_mark(c);
    }
}

static void connected(client *c)
{
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
        end_conn(c, CF_CONNECT);
        return;
    }
    if (getpeername(c->fd, (struct sockaddr *)&peer, &len) < 0) return; /* not yet */
    c->state = CS_HEADER;
    send_header(c);
    flush(c);
}

static void on_io(loop_t *l, int fd, unsigned events, void *ud)
{
    client *c = ud;
    uint32_t gen = c->gen;
    if (c->fd != fd) return;
    if (c->state == CS_CONNECTING) {
        connected(c);
        return;
    }
    if ((events & LOOP_READ) || (c->rd_wants_wr && (events & LOOP_WRITE))) {
        c->rd_wants_wr = 0;
        client_read(c);
        if (c->gen != gen) return;
    }
    if ((events & LOOP_WRITE) || (c->wr_wants_rd && (events & LOOP_READ))) {
        c->wr_wants_rd = 0;
        flush(c);
        if (c->gen != gen) return;
    }
    set_interest(c);
}

void client_close(client *c)
{
    if (c->state == CS_IDLE || c->state == CS_CLOSING) return;
    if (c->state < CS_ONLINE) {
        end_conn(c, CF_CLOSED);
        return;
    }
    send_str(c, "</stream:stream>");
    c->state = CS_CLOSING;
    if (c->timer) loop_cancel_timer(c->env->loop, c->timer);
    c->timer = loop_add_timer(c->env->loop, (uint64_t)(c->env->o->timeout * 1000), on_timer, c);
}
