/*
 * scram_json.c - SCRAM records in the storage protocol's JSON (see
 * scram_json.h and storage-workers/README.md, "user.create").
 */
#include "scram_json.h"

#include <openssl/crypto.h>

#include "buf.h"

json_t *scram_b64_json(const unsigned char *p, size_t n)
{
    buf_t b = BUF_INIT;
    json_t *s = NULL;
    if (scram_b64_encode(p, n, &b) == 0) s = json_stringn(buf_head(&b), buf_pending(&b));
    buf_free(&b);
    return s;
}

json_t *scram_record_json(const scram_record *r)
{
    size_t klen = scram_hash_len(r->hash);
    return json_pack("{s:o, s:I, s:o, s:o}", "salt", scram_b64_json(r->salt, r->salt_len), "iter", (json_int_t)r->iter,
                     "stored_key", scram_b64_json(r->stored_key, klen), "server_key", scram_b64_json(r->server_key, klen));
}

json_t *scram_records_json(const char *password, unsigned iter, const char **err)
{
    const scram_hash hashes[] = {SCRAM_SHA1, SCRAM_SHA256};
    json_t *obj = json_object();
    *err = obj ? NULL : "out of memory";
    for (size_t i = 0; obj && i < sizeof hashes / sizeof hashes[0]; i++) {
        scram_record r;
        json_t *rec = NULL;
        if (scram_make_record(hashes[i], password, NULL, 0, iter, &r) < 0)
            *err = "the password is not acceptable (SASLprep rejects it)";
        else if (!(rec = scram_record_json(&r)) || json_object_set_new(obj, scram_mech_name(hashes[i]), rec) < 0)
            *err = "out of memory";
        OPENSSL_cleanse(&r, sizeof r);
        if (!rec) {
            json_decref(obj);
            obj = NULL;
        }
    }
    return obj;
}
