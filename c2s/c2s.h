/*
 * c2s.h - the client connection process: shared types of its modules.
 *
 * server.c   process state, bus dispatch, connection table, output flushing
 * listener.c SO_REUSEPORT listening socket and accept
 * conn.c     one client connection: socket and TLS I/O, buffers, close
 * stream.c   RFC 6120 stream negotiation and element dispatch by state
 * sasl.c     SASL PLAIN / SCRAM-SHA-1 / SCRAM-SHA-256 against storage
 * register.c XEP-0077 account creation before authentication
 * bind.c     resource binding through the user's sm shard, stanza hand-off
 * tls.c      the OpenSSL server context
 * tls_rec.c  the TLS 1.3 record layer after the handshake (tls_rec.h)
 */
#ifndef XMPP_C2S_H
#define XMPP_C2S_H

#include <stdint.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "bus.h"
#include "config.h"
#include "jid.h"
#include "loop.h"
#include "scram.h"
#include "xml.h"

/* Room for "local@domain/resource" and its NUL. */
#define C2S_JID_MAX (3 * JID_PART_MAX + 3)

typedef struct c2s c2s_t;
typedef struct conn conn_t;

typedef enum conn_state {
    CONN_HEADER,      /* waiting for a stream header */
    CONN_OPEN,        /* stream open, negotiating or established */
    CONN_TLS_HANDSHAKE, /* after <proceed/>, TLS handshake running */
    CONN_CLOSING,     /* flushing output, then close */
    CONN_CLOSED       /* socket closed, waiting to be freed */
} conn_state;

typedef enum sasl_mech { MECH_NONE = 0, MECH_PLAIN, MECH_SCRAM_SHA1, MECH_SCRAM_SHA256 } sasl_mech;

struct conn {
    c2s_t *srv;
    uint64_t id;             /* connection id: generation << 32 | table index */
    int fd;
    conn_state state;
    SSL *ssl;                /* during the TLS handshake, and after it unless rec took over */
    struct tls_rec *rec;     /* TLS 1.3 records after the handshake (tls_rec.c), or NULL */
    /* flags as bits: this struct lives as long as the connection */
    unsigned tls : 1;        /* TLS established */
    unsigned authed : 1;     /* SASL succeeded */
    unsigned bound : 1;      /* resource bound, session active */
    unsigned restart : 1;    /* reset the parser after the current feed */
    unsigned in_feed : 1;    /* inside xml_stream_feed (parser callbacks may run) */
    unsigned header_sent : 1; /* our stream header was written */
    unsigned want_write : 1; /* EPOLLOUT armed */
    unsigned dirty : 1;      /* on the flush list */
    unsigned feeds : 3;      /* reads parsed since the last parser sweep, up to 7 */
    xml_stream *parser;
    buf_t out;               /* bytes waiting to be written (freed when empty) */
    char *peer;              /* client address for logs */
    /* SASL */
    sasl_mech mech;          /* mechanism in progress */
    scram_server *scram;     /* SCRAM exchange in progress */
    char *plain_pass;        /* PLAIN password while the record is fetched */
    int auth_failures;
    uint32_t pending_req;    /* bus request in flight (0 = none) */
    char *user;              /* authenticated (or authenticating) localpart, or NULL */
    /* session */
    char *bare;              /* bare JID once authenticated, or NULL */
    char *full;              /* full JID once bound, or NULL */
    unsigned slot;           /* user slot of bare */
    xml_node *bind_iq;       /* bind request waiting for the sm's answer */
    buf_t early;             /* stanzas delivered before the bind answer arrived */
    xml_node *held_first;    /* stanzas received while bind is pending */
    xml_node *held_last;
    unsigned held_count;
    uint64_t auth_timer;     /* closes connections that do not authenticate */
    uint32_t last_in;        /* loop_now() / 1000 of the last byte read */
    uint32_t ping_at;        /* when our keepalive ping went out (seconds, as
                                last_in), 0 = none outstanding */
    conn_t *next_dirty;      /* flush list link */
};

struct c2s {
    const config_t *cfg;
    loop_t *loop;
    bus_t *bus;
    const char *node;        /* our node id */
    const char *domain;      /* served domain, normalized (points to domain_buf) */
    char domain_buf[JID_PART_MAX + 1];
    SSL_CTX *tls_ctx;
    int tls_takeover;        /* records of TLS 1.3 connections by tls_rec.c */
    int require_tls;
    xml_limits limits;
    unsigned auth_timeout_ms;
    unsigned ping_interval;  /* seconds of silence before a ping, 0 = never */
    unsigned ping_timeout;   /* seconds a pinged client has to send anything */
    uint64_t pings;          /* keepalive pings sent */
    char *caps;              /* the domain's XEP-0115 <c/> for stream features, learnt
                                from the sm's bind answers; NULL until the first */
    int max_auth_failures;
    size_t max_out;          /* output buffer limit per connection */
    int listen_fd;
    conn_t **conns;          /* table indexed by low 32 bits of the id */
    uint32_t *gens;          /* generation per table slot */
    uint32_t nconns_cap;
    uint32_t *free_idx;      /* free table slots */
    uint32_t nfree;
    uint32_t nconns;         /* live connections */
    conn_t *dirty_head;      /* connections with output to flush */
    uint64_t trim_timer;     /* pending heap trim (conn.c), or 0 */
    uint64_t sweep_timer;    /* next parser sweep (conn.c), or 0 */
    /* counters */
    uint64_t accepted, closed, stanzas_in, stanzas_out, auth_ok, auth_fail;
};

/* server.c */
int c2s_run(const config_t *cfg, loop_t *loop, const char *node_id);
int c2s_conn_register(c2s_t *s, conn_t *c);
void c2s_conn_unregister(c2s_t *s, conn_t *c);
conn_t *c2s_conn_find(c2s_t *s, uint64_t id);
void c2s_mark_dirty(c2s_t *s, conn_t *c);

/* register.c: XEP-0077 before authentication */
int register_enabled(const c2s_t *s);
/* 1 if el was a registration IQ (answered), 0 if not one. */
int register_handle(conn_t *c, const xml_node *el);

/* listener.c */
int listener_open(c2s_t *s);
void listener_close(c2s_t *s);

/* conn.c */
conn_t *conn_new(c2s_t *s, int fd, const char *peer);
/* Id prefix of the keepalive pings c2s sends; answers are consumed. */
#define C2S_PING_ID "c2s-ping-"
/* After a read was parsed: free the parser unless the connection is busy. */
void conn_fed(conn_t *c);
/* Input arrived: the client is alive (keepalive pings, conn.c). */
void conn_heard(conn_t *c);
/* Start and stop the sweep that frees the parsers of quiet connections. */
int conn_sweep_start(c2s_t *s);
void conn_sweep_stop(c2s_t *s);
/* Queue bytes for the client (flushed before the loop sleeps). */
void conn_write(conn_t *c, const char *data, size_t len);
void conn_write_str(conn_t *c, const char *s);
/* Serialize a tree in the client namespace and queue it. */
void conn_write_node(conn_t *c, const xml_node *n);
/* Try to write queued bytes now. 0, or -1 if the connection failed. */
int conn_flush(conn_t *c);
/* Begin STARTTLS on the socket (after <proceed/> was flushed). 0/-1. */
int conn_start_tls(conn_t *c);
/* The connection's name for logs: its full JID, else its peer address. */
static inline const char *conn_name(const conn_t *c) { return c->full ? c->full : c->peer; }
/* Close after flushing what is queued. */
void conn_close_after_flush(conn_t *c);
/* Tear down now: unbind, cancel requests, close the socket. The memory
 * is released later by the flush hook, so c stays valid (state
 * CONN_CLOSED) until the loop iteration ends; callers check the state
 * after anything that may have closed the connection. */
void conn_destroy(conn_t *c, const char *reason);
/* Release a CONN_CLOSED connection (flush hook only). */
void conn_free(conn_t *c);

/* stream.c */
void stream_init(conn_t *c);
/* Send <stream:error> with the condition (and optional text) and close. */
void stream_error(conn_t *c, const char *condition, const char *text);
/* Handle bytes read from the client. */
void stream_input(conn_t *c, const char *data, size_t len);
/* A top-level element in the established state (after bind). */
void stream_send_features(conn_t *c);
/* Expect a new stream header (after SASL success): immediately when
 * called outside the parser, else once the current feed returns. */
void stream_restart(conn_t *c);

/* sasl.c */
void sasl_write_mechanisms(conn_t *c);
void sasl_handle(conn_t *c, xml_node *el);
void sasl_reset(conn_t *c);

/* bind.c */
void bind_handle_iq(conn_t *c, xml_node *iq);
/* Client stanza after bind: stamp from and hand to the user's sm. Takes
 * ownership of st. */
void bind_route_stanza(conn_t *c, xml_node *st);
/* Tell the sm the session is over. */
void bind_unbind(conn_t *c, const char *reason);
void bind_free_held(conn_t *c);

/* tls.c */
/* The server context; *takeover tells whether TLS 1.3 connections hand
 * their records to tls_rec.c after the handshake (c2s.tls_record_takeover). */
SSL_CTX *tls_server_ctx(const config_t *cfg, int *takeover);

#endif
