/*
 * envelope.h - the internal wire format between processes.
 *
 * An envelope is a fixed 64-byte header (layout below, all integers
 * big-endian) and a body (stanza bytes or a JSON document, possibly
 * empty). On the wire, envelopes travel in batches: one ZeroMQ frame holds
 * one or more records of
 *
 *   [4-byte body length][64-byte header][body]
 *
 * so one ZeroMQ message (and one I/O thread wake-up) carries every
 * envelope a process produced for that peer in one loop iteration.
 * Routers read only the headers.
 *
 *  off size field
 *   0   1   magic 0x58 ('X')
 *   1   1   version (ENV_VERSION)
 *   2   1   type (env_type)
 *   3   1   dest kind: 0 = node id, 1 = user slot (router resolves)
 *   4   2   flags
 *   6   2   slot (dest kind 1), 0..1023
 *   8   8   connection id on the c2s node (0 if none)
 *  16   8   trace id (0 if none)
 *  24   4   request id (0 if not a request or reply)
 *  28   2   body length hint (min(len, 65535); informational)
 *  30   1   dest node id length (0..16)
 *  31   1   src node id length (1..16)
 *  32  16   dest node id, NUL-padded
 *  48  16   src node id, NUL-padded
 */
#ifndef XMPP_ENVELOPE_H
#define XMPP_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENV_MAGIC 0x58
#define ENV_VERSION 2
#define ENV_HDR_LEN 64
#define ENV_NODE_MAX 16   /* bytes of a node id, without NUL */
#define ENV_REC_PREFIX 4  /* body length in front of each record */
#define ENV_BODY_MAX (64u << 20) /* larger bodies are refused */

typedef enum env_type {
#define X(name, value, desc) ENV_##name = value,
#include "envelope_types.def"
#undef X
} env_type;

enum env_dest_kind { ENV_DEST_NODE = 0, ENV_DEST_SLOT = 1 };

/* flags */
#define ENV_F_ERROR 0x0001   /* reply carries an error */

typedef struct env_hdr {
    uint8_t type;                       /* env_type */
    uint8_t dest_kind;                  /* env_dest_kind */
    uint16_t flags;                     /* ENV_F_* */
    uint16_t slot;                      /* destination slot (dest kind slot) */
    uint64_t conn;                      /* connection id on a c2s node */
    uint64_t trace;                     /* trace id for logs */
    uint32_t req;                       /* request id */
    uint16_t body_hint;                 /* body length, capped */
    char dest[ENV_NODE_MAX + 1];        /* destination node id ("" for slot) */
    char src[ENV_NODE_MAX + 1];         /* source node id */
    int via;                            /* not on the wire: index of the router
                                           the envelope arrived through */
} env_hdr;

/* Name of a type for logs ("STANZA_OUT"), or "UNKNOWN". */
const char *env_type_name(unsigned type);
/* Non-zero if type is in envelope_types.def. */
int env_type_valid(unsigned type);
/* Encode h into out[ENV_HDR_LEN]. Returns 0, or -1 if a node id is too
 * long or the type is unknown. */
int env_encode(const env_hdr *h, unsigned char out[ENV_HDR_LEN]);
/* Decode a header frame. Returns 0, or -1 if the frame has the wrong
 * length, magic or version, an unknown type or dest kind, a slot out of
 * range, or malformed node ids. */
int env_decode(const void *frame, size_t len, env_hdr *h);
/* Set dest to a node id (truncation is an error: returns -1). */
int env_set_dest_node(env_hdr *h, const char *node);
void env_set_dest_slot(env_hdr *h, unsigned slot);

struct buf;
/* Append one record (h encoded, then body) to a batch. Returns 0, or -1
 * if h cannot be encoded, the body is over ENV_BODY_MAX or memory runs
 * out (the batch is left unchanged). */
int env_batch_add(struct buf *batch, const env_hdr *h, const void *body, size_t len);

/* One record of a received batch, pointing into it. */
typedef struct env_rec {
    const unsigned char *raw;   /* the whole record: length, header, body */
    size_t raw_len;
    const unsigned char *hdr;   /* ENV_HDR_LEN bytes, not yet decoded */
    const char *body;
    size_t len;
} env_rec;

/* Step through a batch: start with *off = 0. Returns 1 with *r filled,
 * 0 at the end, -1 if the rest of the batch is truncated or a length is
 * over ENV_BODY_MAX (the caller drops the rest). Headers are not decoded
 * here: each may still be malformed. */
int env_batch_next(const void *data, size_t size, size_t *off, env_rec *r);

#endif
