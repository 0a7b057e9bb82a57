/*
 * jid.c - JID parsing and normalization (RFC 7622), see jid.h.
 *
 * A JID string is split per RFC 7622 §3.1 (the resource is everything
 * after the first '/', the localpart everything before the first '@' that
 * precedes that '/'), then each part is prepared with libidn's stringprep
 * profiles: nodeprep for the localpart, nameprep for the domainpart and
 * resourceprep for the resourcepart. libidn also rejects invalid UTF-8.
 * Each prepared part must be 1..JID_PART_MAX bytes. A domainpart loses one
 * trailing dot before anything else (RFC 7622 §3.2); it may be an IPv4
 * literal or a bracketed IPv6 literal (validated with inet_pton, the IPv6
 * form rewritten canonically with inet_ntop); otherwise, after nameprep,
 * its ASCII characters must be letters, digits, '-' or '.', with no empty
 * label.
 */
#include "jid.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

/* Scratch size for stringprep, which works in place and may expand its
 * input (NFKC). A raw part longer than PREP_BUF - 1 bytes is rejected. */
#define PREP_BUF (JID_PART_MAX * 4 + 1)

/* Non-zero if the ASCII byte c passes the profile unchanged except for
 * case folding, so stringprep would only lowercase it (or, for
 * resourceprep, leave it alone). Anything else takes the full path. */
static int ascii_plain(unsigned char c, const Stringprep_profile *profile)
{
    if (profile == stringprep_xmpp_resourceprep) return c >= 0x20 && c < 0x7f;
    if (profile == stringprep_nameprep)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    return c > 0x20 && c < 0x7f && !strchr("\"&'/:<>@", c);
}

/* The common case without libidn: a part made only of such bytes maps to
 * itself, lowercased for nodeprep and nameprep. Returns 1 when done (out
 * filled), 0 when the full stringprep path is needed. */
static int prep_ascii(const char *in, size_t len, const Stringprep_profile *profile, char *out)
{
    if (len > JID_PART_MAX) return 0;
    int fold = profile != stringprep_xmpp_resourceprep;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!ascii_plain(c, profile)) return 0;
        out[i] = (char)(fold && c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[len] = '\0';
    return 1;
}

/* Prepare the len bytes at in with profile into out (JID_PART_MAX + 1
 * bytes). 0 if the result is 1..JID_PART_MAX bytes, -1 otherwise. */
static int prep_part(const char *in, size_t len, const Stringprep_profile *profile, char *out)
{
    char tmp[PREP_BUF];
    if (len == 0 || len >= sizeof tmp) return -1;
    if (prep_ascii(in, len, profile, out)) return 0;
    memcpy(tmp, in, len);
    tmp[len] = '\0';
    if (stringprep(tmp, sizeof tmp, 0, profile) != STRINGPREP_OK) return -1;
    size_t n = strlen(tmp);
    if (n == 0 || n > JID_PART_MAX) return -1;
    memcpy(out, tmp, n + 1);
    return 0;
}

/* Non-zero if the len bytes at s are only ASCII digits and dots. */
static int all_digits_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9'))) return 0;
    }
    return 1;
}

/* IPv4 literal: the len bytes must be a dotted quad inet_pton accepts
 * (glibc rejects leading zeros, so the text is already canonical). */
static int ipv4_literal(const char *s, size_t len, char *out)
{
    char tmp[INET_ADDRSTRLEN];
    struct in_addr a;
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1) return -1;
    memcpy(out, tmp, len + 1);
    return 0;
}

/* IPv6 literal "[addr]": validated and written back as "[canonical]". */
static int ipv6_literal(const char *s, size_t len, char *out)
{
    char tmp[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (len < 3 || s[0] != '[' || s[len - 1] != ']') return -1;
    size_t n = len - 2;
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, s + 1, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, &a) != 1) return -1;
    if (!inet_ntop(AF_INET6, &a, tmp, sizeof tmp)) return -1;
    snprintf(out, JID_PART_MAX + 1, "[%s]", tmp);
    return 0;
}

/* Check a nameprep'd hostname: ASCII bytes limited to [a-z0-9.-] (nameprep
 * has lowercased A-Z), bytes >= 0x80 are prepared Unicode, and no label is
 * empty (no leading dot, "..", or trailing dot). 0/-1. */
static int hostname_ok(const char *s)
{
    size_t label = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '.') {
            if (label == 0) return -1;
            label = 0;
            continue;
        }
        int ok = *p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
        if (!ok) return -1;
        label++;
    }
    return label == 0 ? -1 : 0;
}

/* Prepare a domainpart of len bytes into out; see the file comment. */
static int domain_prep(const char *in, size_t len, char *out)
{
    if (len > 0 && in[len - 1] == '.') len--;
    if (len == 0) return -1;
    if (in[0] == '[') return ipv6_literal(in, len, out);
    if (all_digits_dots(in, len)) return ipv4_literal(in, len, out);
    if (prep_part(in, len, stringprep_nameprep, out) < 0) return -1;
    size_t n = strlen(out);
    /* NFKC may have produced digits and dots from other forms. */
    if (all_digits_dots(out, n)) {
        char tmp[JID_PART_MAX + 1];
        memcpy(tmp, out, n + 1);
        return ipv4_literal(tmp, n, out);
    }
    return hostname_ok(out);
}

int jid_nodeprep(const char *in, char *out)
{
    return prep_part(in, strlen(in), stringprep_xmpp_nodeprep, out);
}

int jid_nameprep(const char *in, char *out)
{
    return domain_prep(in, strlen(in), out);
}

int jid_resourceprep(const char *in, char *out)
{
    return prep_part(in, strlen(in), stringprep_xmpp_resourceprep, out);
}

int jid_parse(const char *s, jid_t *out)
{
    if (!s || !out) return -1;
    size_t len = strlen(s);
    const char *slash = memchr(s, '/', len);
    size_t head = slash ? (size_t)(slash - s) : len; /* local@domain */
    const char *at = memchr(s, '@', head);
    const char *dom = at ? at + 1 : s;
    size_t dom_len = head - (size_t)(dom - s);

    out->local[0] = out->resource[0] = '\0';
    if (at && prep_part(s, (size_t)(at - s), stringprep_xmpp_nodeprep, out->local) < 0)
        return -1;
    if (domain_prep(dom, dom_len, out->domain) < 0) return -1;
    if (slash && prep_part(slash + 1, len - head - 1, stringprep_xmpp_resourceprep,
                           out->resource) < 0)
        return -1;
    return 0;
}

/* Write local@domain/resource (the parts present) into out. On overflow
 * out is emptied (so that a truncated JID is never used by mistake) and -1
 * returned; else the length. (Not snprintf: this runs for every stanza.) */
static int jid_format(const jid_t *j, int with_resource, char *out, size_t outsz)
{
    size_t ll = jid_has_local(j) ? strlen(j->local) : 0, dl = strlen(j->domain);
    size_t rl = with_resource && jid_has_resource(j) ? strlen(j->resource) : 0;
    size_t n = (ll ? ll + 1 : 0) + dl + (rl ? rl + 1 : 0);
    if (n >= outsz) {
        if (outsz > 0) out[0] = '\0';
        return -1;
    }
    char *p = out;
    if (ll) {
        memcpy(p, j->local, ll);
        p += ll;
        *p++ = '@';
    }
    memcpy(p, j->domain, dl);
    p += dl;
    if (rl) {
        *p++ = '/';
        memcpy(p, j->resource, rl);
        p += rl;
    }
    *p = '\0';
    return (int)n;
}

int jid_bare(const jid_t *j, char *out, size_t outsz)
{
    return jid_format(j, 0, out, outsz);
}

int jid_full(const jid_t *j, char *out, size_t outsz)
{
    return jid_format(j, 1, out, outsz);
}

int jid_bare_eq(const jid_t *a, const jid_t *b)
{
    return strcmp(a->local, b->local) == 0 && strcmp(a->domain, b->domain) == 0;
}
