/*
 * envelope.c - encode and decode the fixed 64-byte envelope header
 * (layout in envelope.h and docs/envelope.md).
 */
#include "envelope.h"

#include <string.h>

#include "buf.h"

const char *env_type_name(unsigned type)
{
    switch (type) {
#define X(name, value, desc) case value: return #name;
#include "envelope_types.def"
#undef X
    default: return "UNKNOWN";
    }
}

int env_type_valid(unsigned type)
{
    switch (type) {
#define X(name, value, desc) case value: return 1;
#include "envelope_types.def"
#undef X
    default: return 0;
    }
}

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }
static void put32(unsigned char *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(unsigned char *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const unsigned char *p) { return ((uint32_t)get16(p) << 16) | get16(p + 2); }
static uint64_t get64(const unsigned char *p) { return ((uint64_t)get32(p) << 32) | get32(p + 4); }

int env_encode(const env_hdr *h, unsigned char out[ENV_HDR_LEN])
{
    size_t dl = strnlen(h->dest, ENV_NODE_MAX + 1), sl = strnlen(h->src, ENV_NODE_MAX + 1);
    if (dl > ENV_NODE_MAX || sl > ENV_NODE_MAX || !env_type_valid(h->type)) return -1;
    if (h->dest_kind > ENV_DEST_SLOT || h->slot >= 1024) return -1;
    memset(out, 0, ENV_HDR_LEN);
    out[0] = ENV_MAGIC;
    out[1] = ENV_VERSION;
    out[2] = h->type;
    out[3] = h->dest_kind;
    put16(out + 4, h->flags);
    put16(out + 6, h->slot);
    put64(out + 8, h->conn);
    put64(out + 16, h->trace);
    put32(out + 24, h->req);
    put16(out + 28, h->body_hint);
    out[30] = (unsigned char)dl;
    out[31] = (unsigned char)sl;
    memcpy(out + 32, h->dest, dl);
    memcpy(out + 48, h->src, sl);
    return 0;
}

/* A node id field: len bytes of printable ASCII, then only NUL padding. */
static int node_field(const unsigned char *p, unsigned len, char *out)
{
    if (len > ENV_NODE_MAX) return -1;
    for (unsigned i = 0; i < ENV_NODE_MAX; i++) {
        if (i < len && (p[i] <= 0x20 || p[i] >= 0x7f)) return -1;
        if (i >= len && p[i] != 0) return -1;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

int env_decode(const void *frame, size_t len, env_hdr *h)
{
    const unsigned char *p = frame;
    if (len != ENV_HDR_LEN || p[0] != ENV_MAGIC || p[1] != ENV_VERSION) return -1;
    if (!env_type_valid(p[2]) || p[3] > ENV_DEST_SLOT) return -1;
    memset(h, 0, sizeof *h);
    h->type = p[2];
    h->dest_kind = p[3];
    h->flags = get16(p + 4);
    h->slot = get16(p + 6);
    h->conn = get64(p + 8);
    h->trace = get64(p + 16);
    h->req = get32(p + 24);
    h->body_hint = get16(p + 28);
    if (h->slot >= 1024) return -1;
    if (node_field(p + 32, p[30], h->dest) < 0 || node_field(p + 48, p[31], h->src) < 0) return -1;
    if (p[31] == 0) return -1;
    if (h->dest_kind == ENV_DEST_NODE && p[30] == 0) return -1;
    return 0;
}

int env_set_dest_node(env_hdr *h, const char *node)
{
    size_t n = strlen(node);
    if (n == 0 || n > ENV_NODE_MAX) return -1;
    memcpy(h->dest, node, n + 1);
    h->dest_kind = ENV_DEST_NODE;
    return 0;
}

void env_set_dest_slot(env_hdr *h, unsigned slot)
{
    h->dest_kind = ENV_DEST_SLOT;
    h->slot = (uint16_t)(slot % 1024);
    h->dest[0] = '\0';
}

int env_batch_add(buf_t *batch, const env_hdr *h, const void *body, size_t len)
{
    if (len > ENV_BODY_MAX || buf_reserve(batch, ENV_REC_PREFIX + ENV_HDR_LEN + len) < 0) return -1;
    unsigned char *p = (unsigned char *)batch->data + batch->len;
    if (env_encode(h, p + ENV_REC_PREFIX) < 0) return -1;
    put32(p, (uint32_t)len);
    if (len) memcpy(p + ENV_REC_PREFIX + ENV_HDR_LEN, body, len);
    batch->len += ENV_REC_PREFIX + ENV_HDR_LEN + len;
    batch->data[batch->len] = '\0';
    return 0;
}

int env_batch_next(const void *data, size_t size, size_t *off, env_rec *r)
{
    const unsigned char *p = (const unsigned char *)data + *off;
    size_t left = size - *off;
    if (*off >= size) return 0;
    if (left < ENV_REC_PREFIX + ENV_HDR_LEN) return -1;
    uint32_t len = get32(p);
    if (len > ENV_BODY_MAX || len > left - ENV_REC_PREFIX - ENV_HDR_LEN) return -1;
    r->raw = p;
    r->raw_len = ENV_REC_PREFIX + ENV_HDR_LEN + len;
    r->hdr = p + ENV_REC_PREFIX;
    r->body = (const char *)p + ENV_REC_PREFIX + ENV_HDR_LEN;
    r->len = len;
    *off += r->raw_len;
    return 1;
}
