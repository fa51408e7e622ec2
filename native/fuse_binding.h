// The FUSE binding (fuse.c), defined on the exports of the addon whose init is in sys.c.
#pragma once
#include <node_api.h>

napi_status fuse_binding_define(napi_env env, napi_value exports);

// An open request JavaScript lends to another thread (sys.c's pool), which may answer it with a
// held file; until it is handed back, JavaScript's reference to it cannot answer it.
typedef struct moved_req moved_req;

// On the JavaScript thread: lends the unanswered request `req`; NULL if it is not one.
moved_req *fuse_binding_lend(napi_env env, napi_value req);

// On any thread: the bytes of a new held file of len bytes (NULL: out of memory), and its release.
char *fuse_binding_held_new(size_t len);
void fuse_binding_held_free(char *bytes);

// On any thread: answers the lent open with the held file `bytes` (from fuse_binding_held_new,
// taken whatever happens). The request is answered then, even when the kernel refused the
// answer (an interrupted open: no release will come, so the held file is freed here).
void fuse_binding_reply_held(moved_req *mv, char *bytes);

// On the JavaScript thread, once the lending thread is done: `answered` by
// fuse_binding_reply_held, or else handed back to JavaScript's reference to answer.
void fuse_binding_end_loan(napi_env env, moved_req *mv, int answered);
