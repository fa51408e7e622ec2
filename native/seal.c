// gocryptfs' content encryption (spec 3.3, 4), run by the pool threads of sys.c right after
// they read the plaintext, so a read's bytes never go through JavaScript before they are sealed.
// AES-SIV (RFC 5297) with a 64-byte key: S2V over [BE64(blockNo) || fileId, nonce, plaintext]
// under the first half (CMAC), CTR under the second; each block is nonce || V || C, the nonce
// being the file's block-0 IV plus the block number. S2V and CTR are composed from OpenSSL's
// AES-256 ECB, CBC and CTR (OpenSSL 3's own AES-SIV keys a CMAC context per message): every
// thread keeps one context of each, keyed once per key, whose IV alone is reset per block.
// OpenSSL is the one inside the node binary (its symbols resolve at dlopen), never a system one.
#define _GNU_SOURCE
#include "seal.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_LEN 64

struct sealer {
  uint32_t refs;   // atomic
  uint64_t serial; // which key a thread's contexts hold (an address may be reused)
  uint8_t key[KEY_LEN];
  uint8_t sub1[16], sub2[16];  // CMAC subkeys K1', K2' (RFC 4493)
  uint8_t dbl_d0[16];          // dbl(CMAC(0^128)): S2V's state before its first component
};

// One thread's contexts, keyed for the sealer with `serial` (0: none yet).
static __thread struct {
  uint64_t serial;
  EVP_CIPHER_CTX *ecb, *cbc, *ctr;
} tctx;

static uint64_t next_serial = 1;  // atomic

// At most `seal_limit` threads seal at once (0: no limit); the rest wait for a slot.
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t limit_cv = PTHREAD_COND_INITIALIZER;
static uint32_t seal_limit, sealing;

static const uint8_t ZERO16[16];

// RFC 5297 dbl: doubling in GF(2^128), big-endian. src and dst may be the same.
static void dbl(const uint8_t *src, uint8_t *dst) {
  uint8_t carry = src[0] >> 7;
  for (int i = 0; i < 15; i++) dst[i] = (uint8_t)((src[i] << 1) | (src[i + 1] >> 7));
  dst[15] = (uint8_t)((src[15] << 1) ^ (carry * 0x87));
}

static void xor16(uint8_t *dst, const uint8_t *src) {
  for (int i = 0; i < 16; i++) dst[i] ^= src[i];
}

static int keyed(EVP_CIPHER_CTX *c, const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *iv) {
  return EVP_EncryptInit_ex(c, cipher, NULL, key, iv) == 1 && EVP_CIPHER_CTX_set_padding(c, 0) == 1;
}

static int update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len) {
  int n;
  return len == 0 || (len <= INT32_MAX && EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1);
}

void seal_thread_end(void) {
  // EVP_CIPHER_CTX_free wipes the key schedules.
  EVP_CIPHER_CTX_free(tctx.ecb), EVP_CIPHER_CTX_free(tctx.cbc), EVP_CIPHER_CTX_free(tctx.ctr);
  memset(&tctx, 0, sizeof tctx);
}

// The calling thread's contexts, keyed for s.
static int thread_ctx(sealer *s) {
  if (tctx.serial == s->serial) return 0;
  if (!tctx.ecb && !(tctx.ecb = EVP_CIPHER_CTX_new())) return -1;
  if (!tctx.cbc && !(tctx.cbc = EVP_CIPHER_CTX_new())) return -1;
  if (!tctx.ctr && !(tctx.ctr = EVP_CIPHER_CTX_new())) return -1;
  tctx.serial = 0;
  if (!keyed(tctx.ecb, EVP_aes_256_ecb(), s->key, NULL) || !keyed(tctx.cbc, EVP_aes_256_cbc(), s->key, ZERO16) ||
      !keyed(tctx.ctr, EVP_aes_256_ctr(), s->key + 32, ZERO16))
    return -1;
  tctx.serial = s->serial;
  return 0;
}

static sealer *sealer_new(const uint8_t *key) {
  sealer *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->refs = 1;
  s->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
  memcpy(s->key, key, KEY_LEN);
  uint8_t l[16], d0[16];
  if (thread_ctx(s) || !update(tctx.ecb, l, ZERO16, 16)) {
    sealer_unref(s);
    return NULL;
  }
  dbl(l, s->sub1);
  dbl(s->sub1, s->sub2);
  // D0 = CMAC(0^128): one complete block, masked with K1'.
  memcpy(d0, s->sub1, 16);
  if (!update(tctx.ecb, d0, d0, 16)) {
    sealer_unref(s);
    return NULL;
  }
  dbl(d0, s->dbl_d0);
  OPENSSL_cleanse(l, sizeof l);
  return s;
}

void sealer_ref(sealer *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void sealer_unref(sealer *s) {
  if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  OPENSSL_cleanse(s, sizeof *s);
  free(s);
}

size_t seal_size(size_t len) { return len + SEAL_OVERHEAD * ((len + SEAL_PLAIN_BLOCK - 1) / SEAL_PLAIN_BLOCK); }

void seal_header(const uint8_t file_id[16], uint8_t *out) {
  out[0] = 0, out[1] = 2;
  memcpy(out + 2, file_id, 16);
}

static void be64(uint64_t v, uint8_t *out) {
  for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

// One content block: p[0..len) (1..4096 bytes) sealed into out = nonce || V || C.
static int seal_block(sealer *s, const uint8_t *p, size_t len, uint64_t block_no, const uint8_t *file_id, const uint8_t *iv0, uint8_t *out) {
  uint8_t *nonce = out, *v = out + 16, *c = out + 32;
  // nonce = iv0 with block_no added to its last 8 bytes (big-endian, mod 2^64).
  uint64_t low = 0;
  for (int i = 8; i < 16; i++) low = (low << 8) | iv0[i];
  memcpy(nonce, iv0, 8);
  be64(low + block_no, nonce + 8);

  // CMACs of the associated data (24 bytes: two blocks, the last padded, K2') and of the nonce
  // (one complete block, K1'): the first aData block and the nonce's block in one ECB call.
  uint8_t in[32], mac[32], d[16];
  be64(block_no, in);
  memcpy(in + 8, file_id, 8);
  memcpy(in + 16, nonce, 16);
  xor16(in + 16, s->sub1);
  if (!update(tctx.ecb, mac, in, 32)) return -1;
  memcpy(in, file_id + 8, 8);
  in[8] = 0x80;
  memset(in + 9, 0, 7);
  xor16(in, s->sub2);
  xor16(in, mac);
  if (!update(tctx.ecb, in, in, 16)) return -1;
  // D = dbl(dbl(D0) ^ CMAC(ad)) ^ CMAC(nonce)
  memcpy(d, s->dbl_d0, 16);
  xor16(d, in);
  dbl(d, d);
  xor16(d, mac + 16);

  // V = CMAC(T): T = p xorend D when len >= 16, else dbl(D) ^ pad(p). The blocks before the
  // last two are p's own, chained through CBC (output into c, which CTR overwrites); the rest
  // (at most 32 bytes) is built here.
  uint8_t t[32], tout[32];
  size_t blocks = (len + 15) / 16, head = blocks >= 2 ? 16 * (blocks - 2) : 0, tlen = len - head, padded;
  if (EVP_EncryptInit_ex(tctx.cbc, NULL, NULL, NULL, ZERO16) != 1 || !update(tctx.cbc, c, p, head)) return -1;
  if (len >= 16) {
    memcpy(t, p + head, tlen);
    for (int i = 0; i < 16; i++) t[tlen - 16 + i] ^= d[i];
    padded = (tlen + 15) & ~(size_t)15;
    if (tlen < padded) {
      t[tlen] = 0x80;
      memset(t + tlen + 1, 0, padded - tlen - 1);
      xor16(t + padded - 16, s->sub2);
    } else {
      xor16(t + padded - 16, s->sub1);
    }
  } else {
    dbl(d, t);
    for (size_t i = 0; i < len; i++) t[i] ^= p[i];
    t[len] ^= 0x80;
    xor16(t, s->sub1);
    padded = 16;
  }
  if (!update(tctx.cbc, tout, t, padded)) return -1;
  memcpy(v, tout + padded - 16, 16);

  // CTR from V with bits 63 and 31 cleared.
  uint8_t ctr[16];
  memcpy(ctr, v, 16);
  ctr[8] &= 0x7f;
  ctr[12] &= 0x7f;
  if (EVP_EncryptInit_ex(tctx.ctr, NULL, NULL, NULL, ctr) != 1 || !update(tctx.ctr, c, p, len)) return -1;
  return 0;
}

static void limit_enter(void) {
  pthread_mutex_lock(&limit_mu);
  while (seal_limit && sealing >= seal_limit) pthread_cond_wait(&limit_cv, &limit_mu);
  sealing++;
  pthread_mutex_unlock(&limit_mu);
}

static void limit_leave(void) {
  pthread_mutex_lock(&limit_mu);
  sealing--;
  pthread_cond_signal(&limit_cv);
  pthread_mutex_unlock(&limit_mu);
}

int seal_blocks(sealer *s, const uint8_t *plain, size_t len, uint64_t first, const uint8_t file_id[16], const uint8_t iv0[16], uint8_t *out) {
  limit_enter();
  int err = thread_ctx(s);
  for (size_t at = 0, i = 0; !err && at < len; at += SEAL_PLAIN_BLOCK, i++) {
    size_t n = len - at < SEAL_PLAIN_BLOCK ? len - at : SEAL_PLAIN_BLOCK;
    err = seal_block(s, plain + at, n, first + i, file_id, iv0, out + i * (SEAL_PLAIN_BLOCK + SEAL_OVERHEAD));
  }
  limit_leave();
  return err;
}

// ---- the JavaScript surface ----

static const napi_type_tag SEALER_TAG = {0x7473726576657273, 0x65616c6572000001};

static void sealer_finalize(napi_env env, void *data, void *hint) { sealer_unref(data); }

sealer *sealer_of(napi_env env, napi_value v) {
  bool ok = false;
  void *s = NULL;
  if (napi_check_object_type_tag(env, v, &SEALER_TAG, &ok) != napi_ok || !ok) return NULL;
  return napi_get_value_external(env, v, &s) == napi_ok ? s : NULL;
}

static void *buffer_of(napi_env env, napi_value v, size_t *len) {
  void *data = NULL;
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is || napi_get_buffer_info(env, v, &data, len) != napi_ok) return NULL;
  return data ? data : (void *)ZERO16;
}

// sealer(key: Buffer of 64 bytes): the key, copied and prepared; wiped when the last job using
// it ends after the value is collected (or the environment ends).
static napi_value js_sealer(napi_env env, napi_callback_info info) {
  size_t argc = 1, len = 0;
  napi_value a[1], out;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  const uint8_t *key = argc == 1 ? buffer_of(env, a[0], &len) : NULL;
  if (!key || len != KEY_LEN) {
    napi_throw_range_error(env, NULL, "sealer: the content key must be a 64-byte Buffer");
    return NULL;
  }
  sealer *s = sealer_new(key);
  if (!s) {
    napi_throw_error(env, NULL, "sealer: OpenSSL could not set up AES-256");
    return NULL;
  }
  if (napi_create_external(env, s, sealer_finalize, NULL, &out) != napi_ok || napi_type_tag_object(env, out, &SEALER_TAG) != napi_ok) {
    napi_throw_error(env, NULL, "sealer: napi_create_external failed");
    return NULL;
  }
  return out;
}

// sealBlocks(sealer, plain, firstBlock, fileId, iv0): the content blocks of plain, on this thread.
static napi_value js_seal_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 5, plen = 0, idlen = 0, ivlen = 0;
  napi_value a[5], out;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  sealer *s = argc == 5 ? sealer_of(env, a[0]) : NULL;
  const uint8_t *plain = s ? buffer_of(env, a[1], &plen) : NULL;
  const uint8_t *id = plain ? buffer_of(env, a[3], &idlen) : NULL;
  const uint8_t *iv0 = id ? buffer_of(env, a[4], &ivlen) : NULL;
  double first = -1;
  napi_get_value_double(env, a[2], &first);
  if (!iv0 || idlen != 16 || ivlen != 16 || !(first >= 0 && first <= 9007199254740991.0)) {
    napi_throw_type_error(env, NULL, "sealBlocks(sealer, plain: Buffer, firstBlock, fileId: 16 bytes, iv0: 16 bytes)");
    return NULL;
  }
  void *data;
  size_t n = seal_size(plen);
  if (napi_create_buffer(env, n, &data, &out) != napi_ok) {
    napi_throw_error(env, NULL, "sealBlocks: out of memory");
    return NULL;
  }
  if (seal_blocks(s, plain, plen, (uint64_t)first, id, iv0, data)) {
    napi_throw_error(env, NULL, "sealBlocks: OpenSSL failed");
    return NULL;
  }
  return out;
}

// sealThreads(n): at most n threads seal at once (0: no limit).
static napi_value js_seal_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  uint32_t n = 0;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc < 1 || napi_get_value_uint32(env, a[0], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "sealThreads(n: number)");
    return NULL;
  }
  pthread_mutex_lock(&limit_mu);
  seal_limit = n;
  pthread_cond_broadcast(&limit_cv);
  pthread_mutex_unlock(&limit_mu);
  return NULL;
}

napi_status seal_binding_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sealer", NULL, js_sealer, NULL, NULL, NULL, napi_default, NULL},
      {"sealBlocks", NULL, js_seal_blocks, NULL, NULL, NULL, napi_default, NULL},
      {"sealThreads", NULL, js_seal_threads, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
