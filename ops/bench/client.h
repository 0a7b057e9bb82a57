/*
 * client.h - one simulated XMPP client: its connection and login state
 * machine.
 *
 * A client connects (from a chosen 127.x source address), opens the
 * stream, optionally negotiates STARTTLS, then either registers its
 * account (XEP-0077, a <conflict/> counts as done) or authenticates
 * (PLAIN or SCRAM with cached keys), restarts the stream, binds a
 * resource, opens a session if the server insists, and sends initial
 * presence if asked. Once online, stanzas go to the worker's events;
 * pings and roster pushes are answered here.
 *
 * Output is appended to the client's buffer and flushed for all clients
 * at once in the loop's before-sleep hook (client_flush_dirty), so a burst
 * of stanzas costs one write per connection. Input is read into the
 * worker's shared buffer and scanned in place; only a partial stanza is
 * copied into the client.
 *
 * Client structs live in the worker's array for the whole run and are
 * reused across connections: no callback frees one.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "bench.h"
#include "buf.h"
#include "loop.h"
#include "sasl.h"
#include "xscan.h"

/* Why a login (or a registration) failed. */
#define CLIENT_FAILS(X) \
    X(CF_CONNECT, "connect")       \
    X(CF_TLS, "tls")               \
    X(CF_MECH, "mechanism")        \
    X(CF_AUTH, "auth")             \
    X(CF_BIND, "bind")             \
    X(CF_SESSION, "session")       \
    X(CF_REGISTER, "register")     \
    X(CF_TIMEOUT, "timeout")       \
    X(CF_CLOSED, "closed")         \
    X(CF_STREAM_ERROR, "stream_error") \
    X(CF_PROTOCOL, "protocol")

typedef enum client_fail {
#define X(e, s) e,
    CLIENT_FAILS(X)
#undef X
    CF_COUNT
} client_fail;

const char *client_fail_name(client_fail f);

typedef enum client_purpose { CLIENT_LOGIN = 0, CLIENT_REGISTER } client_purpose;

typedef enum client_state {
    CS_IDLE = 0,     /* no connection */
    CS_CONNECTING,   /* connect() in progress */
    CS_HEADER,       /* waiting for the server's stream header */
    CS_FEATURES,     /* waiting for <stream:features/> */
    CS_PROCEED,      /* sent <starttls/> */
    CS_REGISTER,     /* sent the registration iq */
    CS_SASL,         /* in the SASL exchange */
    CS_BIND,         /* sent the bind iq */
    CS_SESSION,      /* sent the session iq */
    CS_ONLINE,       /* logged in */
    CS_CLOSING,      /* sent </stream:stream>, waiting for the server's */
} client_state;

typedef struct client client;

/* What the worker hears from its clients. c is never freed by the call. */
typedef struct client_events {
    /* Login (or registration) done; for a login, c->login_us is set and
     * the client is CS_ONLINE. A registered client is already closed. */
    void (*ready)(void *ud, client *c);
    /* Login or registration failed; the client is closed (CS_IDLE). */
    void (*failed)(void *ud, client *c, client_fail why);
    /* An online or closing client's connection ended; clean is 1 after our
     * own client_close() completed, 0 when the server or network ended it. */
    void (*closed)(void *ud, client *c, int clean);
    /* A stanza for an online client (el points into a read buffer valid
     * during the call only). iq get/set pings are answered before this. */
    void (*stanza)(void *ud, client *c, const xs_el *el);
} client_events;

/* What all clients of a worker share. */
typedef struct client_env {
    loop_t *loop;
    const bench_opts *o;
    SSL_CTX *ssl_ctx;          /* one context for every connection, or NULL */
    char *rbuf;                /* shared read buffer */
    size_t rbuf_size;
    client *dirty;             /* clients with output or input left to process */
    const client_events *ev;
    void *ud;                  /* passed to the events */
    uint64_t scram_misses;     /* logins that had to run PBKDF2 */
    uint64_t bytes_in, bytes_out; /* application bytes */
} client_env;

struct client {
    client_env *env;
    int fd;                    /* -1 when idle */
    uint32_t idx;              /* position in the worker's array */
    uint32_t user;             /* account number: <prefix><user> */
    uint32_t src;              /* source address index (127.0.0.1 + src) */
    uint8_t state;             /* client_state */
    uint8_t purpose;           /* client_purpose */
    uint8_t want_presence;     /* send <presence/> once online */
    uint8_t in_stream;         /* the server's stream header was seen */
    uint8_t authed;            /* SASL succeeded on this connection */
    uint8_t dirty;             /* on env->dirty */
    uint8_t read_again;        /* TLS holds decrypted input not yet read */
    uint8_t rd_wants_wr;       /* SSL_read needs the socket writable */
    uint8_t wr_wants_rd;       /* SSL_write needs the socket readable */
    uint8_t need_session;      /* the server wants a session iq */
    uint8_t online_flag;       /* scenario use: counted as online */
    uint32_t gen;              /* bumped when a connection ends */
    SSL *ssl;                  /* TLS after STARTTLS, or NULL */
    buf_t in;                  /* an incomplete stanza carried over */
    buf_t out;                 /* output not yet written */
    uint64_t timer;            /* login or close deadline */
    uint64_t t_start_us;       /* when connect() was called */
    uint32_t login_us;         /* connect() to the bind result */
    char *jid;                 /* full JID from the bind result */
    size_t jid_len;
    sasl_state sasl;           /* exchange in progress */
    sasl_keys keys;            /* this user's cached SCRAM keys */
    client *next_dirty;        /* link on env->dirty */
    /* scenario fields */
    uint32_t in_flight;        /* msg: messages sent and not yet received */
    uint8_t queued;            /* msg: on the refill list */
    client *next_queued;       /* msg: link on the refill list */
    uint8_t *flags;            /* presence: per contact state, or NULL */
    uint32_t nflags;           /* presence: contacts with a flag */
};

/* Set up a client slot (once). */
void client_init(client *c, client_env *env, uint32_t idx, uint32_t user, uint32_t src);
/* Start a connection for purpose. Returns 0 when connect() is under way,
 * -1 if the socket could not even be created (nothing is called back). */
int client_start(client *c, client_purpose purpose, int presence);
/* Append bytes to the output and schedule a flush. A failure to allocate
 * ends the connection (closed or failed is called back later). */
void client_send(client *c, const char *p, size_t n);
/* The output buffer, for callers that format in place; call
 * client_mark() afterwards. */
static inline buf_t *client_out(client *c) { return &c->out; }
void client_mark(client *c);
/* Close gracefully: </stream:stream>, wait for the server's close (bounded
 * by the login timeout), then closed(clean = 1). An idle client is left
 * alone; one still logging in is failed with CF_CLOSED. */
void client_close(client *c);
/* Drop the connection now, calling nothing. */
void client_abort(client *c);
/* Before-sleep hook: flush every dirty client. */
void client_flush_dirty(loop_t *l, void *env);
/* Free what the slot holds (connection, buffers, jid). */
void client_free(client *c);

/* A new TLS client context (no verification; shared by every client). */
SSL_CTX *client_tls_ctx(void);

#endif
