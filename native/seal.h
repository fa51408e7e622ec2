// gocryptfs content encryption (seal.c), for the pool threads of sys.c.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#define SEAL_HEADER_LEN 18
#define SEAL_PLAIN_BLOCK 4096
#define SEAL_OVERHEAD 32

// A content key with its precomputed S2V constants, shared by the jobs that use it.
typedef struct sealer sealer;

void sealer_ref(sealer *s);
void sealer_unref(sealer *s);

// The sealer a JavaScript value (from sealer()) wraps, or NULL.
sealer *sealer_of(napi_env env, napi_value v);

// Bytes of the sealed blocks of `len` plaintext bytes (no header).
size_t seal_size(size_t len);

// Seals plain[0..len) as content blocks from block `first` into out (seal_size(len) bytes),
// waiting first for a free sealing slot (sealThreads). 0, or -1 if OpenSSL failed.
int seal_blocks(sealer *s, const uint8_t *plain, size_t len, uint64_t first, const uint8_t file_id[16], const uint8_t iv0[16], uint8_t *out);

// The 18-byte file header BE16(2) || fileId.
void seal_header(const uint8_t file_id[16], uint8_t *out);

// Frees the calling thread's cipher contexts (a pool thread that ends).
void seal_thread_end(void);

// Defines sealer, sealBlocks and sealThreads on the addon's exports.
napi_status seal_binding_define(napi_env env, napi_value exports);
