// The FUSE binding, on libfuse 3's low-level API. libfuse's threads read requests from
// /dev/fuse and hand each one to JavaScript through a thread-safe function, then go straight
// back to reading: they never wait for JavaScript. JavaScript answers later, from its own
// thread, by calling a reply function with the request it was handed. A request that waits
// (on a hung source syscall, say) therefore holds no libfuse thread, and the mount keeps
// answering everything else.
// Answered here without JavaScript: the reads and release of a file whose whole content was
// handed over at open ("held"), every write-side request (EROFS: the mount is read-only),
// and the xattr requests (gocryptfs 2.3 -reverse has no xattrs). JavaScript may lend an open
// request to sys.c's pool, whose thread answers it with a held file (a small file it read and
// sealed whole, unchanged since its lookup) or hands it back.
// Names cross as bytes (Buffers), sizes as doubles (exact below 2^53), inode numbers as two
// 32-bit halves (any 64-bit value), times to the nanosecond.
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <node_api.h>
#include "fuse_binding.h"

#define THROW(msg)                                    \
  do {                                                \
    napi_throw_error(env, NULL, "tsreverse fuse: " msg); \
    return NULL;                                      \
  } while (0)
#define CHECK(call) \
  if ((call) != napi_ok) THROW(#call " failed")

// What JavaScript is handed, by name (requestKinds): the index is the first argument of its
// request callback.
enum kind { K_LOOKUP, K_FORGET, K_GETATTR, K_READLINK, K_OPEN, K_READ, K_RELEASE, K_OPENDIR, K_READDIR, K_RELEASEDIR, K_STATFS, K_ACCESS, K_END, K_COUNT };
static const char *const kind_names[K_COUNT] = {"lookup", "forget", "getattr", "readlink", "open", "read", "release", "opendir", "readdir", "releasedir", "statfs", "access", "end"};

// Attributes as JavaScript packs them (ATTR_FIELDS in src/fuse/binding.ts).
// The inode number comes in 32-bit halves (A_INO the low one): it may exceed 2^53.
enum { A_INO, A_MODE, A_NLINK, A_UID, A_GID, A_RDEV, A_SIZE, A_BLOCKS, A_BLKSIZE, A_ATIME, A_ATIME_NS, A_MTIME, A_MTIME_NS, A_CTIME, A_CTIME_NS, A_INO_HIGH, ATTR_N };
enum { S_BSIZE, S_FRSIZE, S_BLOCKS, S_BFREE, S_BAVAIL, S_FILES, S_FFREE, S_FAVAIL, S_NAMEMAX, STATFS_N };

// A held file's fh is its address with this bit set; JavaScript's handles stay below 2^53.
#define HELD_TAG (UINT64_C(1) << 63)

typedef struct {
  size_t size;
  char bytes[];
} held_file;

#define HELD_OF(b) ((held_file *)((b) - offsetof(held_file, bytes)))

static size_t held_bytes;  // atomic: what every held file holds, for JavaScript to bound

typedef struct mount {
  struct fuse_session *se;
  pthread_t loop;
  // Node deletes the thread-safe function at the end of the environment, even while libfuse
  // threads still run (process.exit with a live mount): they reach it only under `mu`, and see
  // `tsfn_gone` from then on.
  pthread_mutex_t mu;
  napi_threadsafe_function tsfn;
  int tsfn_gone;
  napi_ref on_request;
  double attr_timeout, entry_timeout, negative_timeout;
  unsigned max_read;
  int keep_cache;
  // JavaScript thread only: requests handed over and not answered yet, and whether close()
  // was called. The session is destroyed once both allow it, never under an unanswered request.
  uint32_t pending;
  int closed;
} mount;

// One request on its way to JavaScript.
typedef struct msg {
  enum kind kind;
  fuse_req_t req;  // NULL for forget and end, which need no answer
  uint64_t a;      // the node (lookup: the parent), or the loop's result (end)
  uint64_t fh;
  int64_t off;
  uint64_t n;  // size (read, readdir), flags (open), mask (access)
  int plus;
  uint64_t *forgets;  // forget: (node, count) pairs
  uint32_t n_forgets;
  size_t name_len;
  char name[];
} msg;

// What JavaScript holds for one request; the request is answered at most once through it.
typedef struct {
  fuse_req_t req;
  mount *m;
} req_ref;

// ---- libfuse's threads ----

static mount *mount_of(fuse_req_t req) { return fuse_req_userdata(req); }

static void send_msg(mount *m, msg *g) {
  pthread_mutex_lock(&m->mu);
  int sent = !m->tsfn_gone && napi_call_threadsafe_function(m->tsfn, g, napi_tsfn_nonblocking) == napi_ok;
  pthread_mutex_unlock(&m->mu);
  if (!sent) {  // JavaScript is gone: the process is ending
    if (g->req) fuse_reply_err(g->req, EIO);
    free(g->forgets);
    free(g);
  }
}

static msg *new_msg(fuse_req_t req, enum kind k, const char *name) {
  size_t len = name ? strlen(name) : 0;
  msg *g = calloc(1, sizeof(msg) + len);
  if (!g) {
    if (req) fuse_reply_err(req, ENOMEM);
    return NULL;
  }
  g->kind = k;
  g->req = req;
  g->name_len = len;
  if (len) memcpy(g->name, name, len);
  return g;
}

static void ask(fuse_req_t req, enum kind k, fuse_ino_t ino, uint64_t fh, int64_t off, uint64_t n, int plus) {
  msg *g = new_msg(req, k, NULL);
  if (!g) return;
  g->a = ino, g->fh = fh, g->off = off, g->n = n, g->plus = plus;
  send_msg(mount_of(req), g);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  mount *m = userdata;
  // libfuse 3 takes max_read from the mount option and from here; they must agree.
  conn->max_read = m->max_read;
  // A listing carries every entry's attributes anyway: send them with each chunk (READDIRPLUS),
  // not only the first, sparing the kernel a LOOKUP per listed entry.
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  msg *g = new_msg(req, K_LOOKUP, name);
  if (!g) return;
  g->a = parent;
  send_msg(mount_of(req), g);
}

// Forgets need no answer: answered at once, counted in JavaScript later, in order with the
// lookups they undo (one queue).
static void forget_pairs(fuse_req_t req, size_t count, const struct fuse_forget_data *f) {
  mount *m = mount_of(req);
  msg *g = new_msg(NULL, K_FORGET, NULL);
  uint64_t *pairs = g ? malloc(count * 2 * sizeof(uint64_t)) : NULL;
  if (pairs) {
    for (size_t i = 0; i < count; i++) pairs[2 * i] = f[i].ino, pairs[2 * i + 1] = f[i].nlookup;
    g->forgets = pairs;
    g->n_forgets = (uint32_t)count;
  }
  fuse_reply_none(req);
  if (pairs) send_msg(m, g);
  else free(g);  // out of memory: the nodes stay known, which only costs memory
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct fuse_forget_data f = {.ino = ino, .nlookup = nlookup};
  forget_pairs(req, 1, &f);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) { forget_pairs(req, count, forgets); }

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ask(req, K_GETATTR, ino, 0, 0, 0, 0); }

static void op_readlink(fuse_req_t req, fuse_ino_t ino) { ask(req, K_READLINK, ino, 0, 0, 0, 0); }

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ask(req, K_OPEN, ino, 0, 0, (uint64_t)fi->flags, 0); }

static held_file *held_of(const struct fuse_file_info *fi) {
  return (fi->fh & HELD_TAG) ? (held_file *)(uintptr_t)(fi->fh & ~HELD_TAG) : NULL;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  held_file *h = held_of(fi);
  if (!h) {
    ask(req, K_READ, ino, fi->fh, off, size, 0);
    return;
  }
  size_t at = off < 0 || (size_t)off > h->size ? h->size : (size_t)off;
  size_t n = h->size - at < size ? h->size - at : size;
  fuse_reply_buf(req, h->bytes + at, n);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  held_file *h = held_of(fi);
  if (!h) {
    ask(req, K_RELEASE, ino, fi->fh, 0, 0, 0);
    return;
  }
  __atomic_sub_fetch(&held_bytes, h->size, __ATOMIC_RELAXED);
  free(h);
  fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ask(req, K_OPENDIR, ino, 0, 0, 0, 0); }

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ask(req, K_READDIR, ino, fi->fh, off, size, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ask(req, K_READDIR, ino, fi->fh, off, size, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ask(req, K_RELEASEDIR, ino, fi->fh, 0, 0, 0); }

static void op_statfs(fuse_req_t req, fuse_ino_t ino) { ask(req, K_STATFS, ino, 0, 0, 0, 0); }

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask) { ask(req, K_ACCESS, ino, 0, 0, (uint64_t)mask, 0); }

// ENOSYS makes the kernel answer every later getxattr itself (EOPNOTSUPP): `ls -l` asks two per
// entry, which would cost more than the lookup.
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) { fuse_reply_err(req, ENOSYS); }

// An empty list keeps `getfattr -d` and `rsync -X` quiet.
static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  if (size == 0) fuse_reply_xattr(req, 0);
  else fuse_reply_buf(req, NULL, 0);
}

// The write side. The VFS refuses writes on a ro mount before they get here; what still
// arrives is answered as gocryptfs -reverse answers it.
static void rofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) { rofs(req); }
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) { rofs(req); }
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) { rofs(req); }
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { rofs(req); }
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) { rofs(req); }
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) { rofs(req); }
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) { rofs(req); }
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) { rofs(req); }
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) { rofs(req); }
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) { rofs(req); }
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) { rofs(req); }
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) { rofs(req); }

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .access = op_access,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .write = op_write,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .create = op_create,
    .fallocate = op_fallocate,
};

// Runs the session until the kernel ends the connection (unmounted), then tells JavaScript.
static void *loop_thread(void *arg) {
  mount *m = arg;
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  int rc = cfg ? fuse_session_loop_mt(m->se, cfg) : -ENOMEM;
  if (cfg) fuse_loop_cfg_destroy(cfg);
  msg *g = new_msg(NULL, K_END, NULL);
  if (g) {
    g->a = (uint64_t)(int64_t)rc;
    send_msg(m, g);
  }
  return NULL;
}

// ---- the JavaScript thread ----

static void session_done(mount *m) {
  if (m->closed && m->pending == 0 && m->se) {
    fuse_session_destroy(m->se);
    m->se = NULL;
  }
}

// A request is answered: its ref can no longer answer it.
static void settle(req_ref *r) {
  r->req = NULL;
  r->m->pending--;
  session_done(r->m);
}

// Collected by JavaScript's GC without an answer (a bug in JavaScript): the kernel still gets one.
static void req_ref_finalize(napi_env env, void *data, void *hint) {
  req_ref *r = data;
  if (r->req) {
    fuse_reply_err(r->req, EIO);
    settle(r);
  }
  free(r);
}

static napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static void deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  mount *m = context;
  msg *g = data;
  if (!env || m->closed) {  // the environment is ending
    if (g->req) fuse_reply_err(g->req, EIO);
    free(g->forgets);
    free(g);
    return;
  }
  napi_value undef, cb, argv[8];
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, m->on_request, &cb);
  argv[0] = num(env, g->kind);
  argv[1] = undef;
  if (g->req) {
    req_ref *r = malloc(sizeof(req_ref));
    if (!r || napi_create_external(env, r, req_ref_finalize, NULL, &argv[1]) != napi_ok) {
      free(r);
      fuse_reply_err(g->req, ENOMEM);
      free(g);
      return;
    }
    r->req = g->req;
    r->m = m;
    m->pending++;
  }
  argv[2] = num(env, g->kind == K_END ? (double)(int64_t)g->a : (double)g->a);
  argv[3] = num(env, (double)g->fh);
  argv[4] = num(env, (double)g->off);
  argv[5] = num(env, (double)g->n);
  napi_get_boolean(env, g->plus, &argv[6]);
  argv[7] = undef;
  if (g->kind == K_LOOKUP) {
    void *out;
    napi_create_buffer_copy(env, g->name_len, g->name_len ? g->name : "", &out, &argv[7]);
  } else if (g->kind == K_FORGET) {
    napi_value ab;
    void *out;
    size_t n = (size_t)g->n_forgets * 2;
    napi_create_arraybuffer(env, n * sizeof(double), &out, &ab);
    for (size_t i = 0; i < n; i++) ((double *)out)[i] = (double)g->forgets[i];
    napi_create_typedarray(env, napi_float64_array, n, ab, 0, &argv[7]);
  }
  free(g->forgets);
  free(g);
  // The handlers answer exceptions themselves; one that escapes is Node's uncaught exception.
  napi_call_function(env, undef, cb, 8, argv, NULL);
}

static void tsfn_finalized(napi_env env, void *data, void *hint) {
  mount *m = data;
  pthread_mutex_lock(&m->mu);
  m->tsfn_gone = 1;
  pthread_mutex_unlock(&m->mu);
}

// Lines libfuse logs while the JavaScript thread mounts, kept for the error it throws.
static __thread int capturing;
static __thread char *captured;
static __thread size_t captured_len;

static void log_line(enum fuse_log_level level, const char *fmt, va_list ap) {
  if (!capturing) {
    vfprintf(stderr, fmt, ap);
    return;
  }
  char line[512];
  int n = vsnprintf(line, sizeof line, fmt, ap);
  if (n <= 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  char *grown = realloc(captured, captured_len + len + 1);
  if (!grown) return;
  memcpy(grown + captured_len, line, len);
  captured = grown;
  captured_len += len;
  captured[captured_len] = 0;
}

static napi_value mount_error(napi_env env, const char *what) {
  char msg[1024];
  const char *why = captured_len ? captured : "see fusermount3's reason on standard error";
  snprintf(msg, sizeof msg, "%s: %s", what, why);
  size_t len = strlen(msg);
  while (len && msg[len - 1] == '\n') msg[--len] = 0;
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ';';
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void *get_buffer(napi_env env, napi_value v, size_t *len) {
  void *data = NULL;
  *len = 0;
  if (napi_get_buffer_info(env, v, &data, len) != napi_ok) return NULL;
  return data;
}

static double get_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static void *get_typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *len) {
  napi_typedarray_type t;
  void *data = NULL;
  *len = 0;
  if (napi_get_typedarray_info(env, v, &t, len, &data, NULL, NULL) != napi_ok || t != want) return NULL;
  return data;
}

// mount(mountpoint: Buffer, args: string[], conf: Float64Array, onRequest): the session, mounted
// and served. conf: maxRead, attrTimeout, entryTimeout, negativeTimeout, keepCache. Throws with
// libfuse's own reason (and fusermount3 prints its own on stderr) when the mount is refused.
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  size_t mnt_len, conf_len;
  const char *mnt_bytes = get_buffer(env, a[0], &mnt_len);
  const double *conf = get_typed(env, a[2], napi_float64_array, &conf_len);
  uint32_t nargs = 0;
  if (!mnt_bytes || !conf || conf_len != 5 || napi_get_array_length(env, a[1], &nargs) != napi_ok || nargs > 64) THROW("mount: bad arguments");
  char *argv[66] = {"tsreverse"};
  int ok = 1;
  for (uint32_t i = 0; i < nargs && ok; i++) {
    napi_value s;
    size_t len;
    ok = napi_get_element(env, a[1], i, &s) == napi_ok && napi_get_value_string_utf8(env, s, NULL, 0, &len) == napi_ok && (argv[i + 1] = malloc(len + 1)) &&
         napi_get_value_string_utf8(env, s, argv[i + 1], len + 1, &len) == napi_ok;
  }
  char *mnt = malloc(mnt_len + 1);
  mount *m = calloc(1, sizeof(mount));
  if (!ok || !mnt || !m) {
    for (uint32_t i = 1; i <= nargs; i++) free(argv[i]);
    free(mnt), free(m);
    THROW("mount: out of memory");
  }
  memcpy(mnt, mnt_bytes, mnt_len);
  mnt[mnt_len] = 0;
  m->max_read = (unsigned)conf[0];
  m->attr_timeout = conf[1];
  m->entry_timeout = conf[2];
  m->negative_timeout = conf[3];
  m->keep_cache = conf[4] != 0;
  pthread_mutex_init(&m->mu, NULL);

  struct fuse_args args = FUSE_ARGS_INIT((int)nargs + 1, argv);
  capturing = 1, captured = NULL, captured_len = 0;
  m->se = fuse_session_new(&args, &ops, sizeof ops, m);
  fuse_opt_free_args(&args);  // what parsing allocated; our strings are freed below
  napi_value result = NULL;
  if (!m->se) {
    mount_error(env, "invalid FUSE options");
  } else if (fuse_session_mount(m->se, mnt) != 0) {
    mount_error(env, "cannot mount");
    fuse_session_destroy(m->se);
  }
  free(captured);
  capturing = 0, captured = NULL, captured_len = 0;
  for (uint32_t i = 1; i <= nargs; i++) free(argv[i]);
  free(mnt);
  bool failed;
  napi_is_exception_pending(env, &failed);
  if (failed) {
    pthread_mutex_destroy(&m->mu);
    free(m);
    return NULL;
  }

  napi_value name;
  napi_create_string_utf8(env, "tsreverse-fuse", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, a[3], 1, &m->on_request);
  // The thread-safe function keeps the process alive while mounted (until unref()).
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, m, tsfn_finalized, m, deliver, &m->tsfn) != napi_ok) {
    fuse_session_unmount(m->se);
    fuse_session_destroy(m->se);
    THROW("mount: cannot create the thread-safe function");
  }
  // Signals are the JavaScript thread's: libfuse's threads, started from this one, block them all.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&m->loop, NULL, loop_thread, m);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    fuse_session_unmount(m->se);
    fuse_session_destroy(m->se);
    napi_release_threadsafe_function(m->tsfn, napi_tsfn_abort);
    THROW("mount: cannot start the session thread");
  }
  CHECK(napi_create_external(env, m, NULL, NULL, &result));
  return result;
}

// The session, the one argument of fuseUnref and fuseClose.
static mount *session_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  mount *m = NULL;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok) napi_get_value_external(env, a[0], (void **)&m);
  return m;
}

// unref(session): the mount no longer keeps the process alive (it still serves until it ends).
static napi_value js_unref(napi_env env, napi_callback_info info) {
  mount *m = session_arg(env, info);
  if (m && !m->closed) napi_unref_threadsafe_function(env, m->tsfn);
  return NULL;
}

// close(session), after the "end" request: joins the loop, lets go of the mount (unmounting it
// if the kernel still has it) and of the thread-safe function. The session itself goes once
// its last request is answered. The mount struct stays: refs and the external point to it.
static napi_value js_close(napi_env env, napi_callback_info info) {
  mount *m = session_arg(env, info);
  if (!m || m->closed) return NULL;
  m->closed = 1;
  pthread_join(m->loop, NULL);
  fuse_session_unmount(m->se);
  napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
  napi_delete_reference(env, m->on_request);
  session_done(m);
  return NULL;
}

// unmount(session): detaches the mount from this process, without fusermount3 (root: a lazy
// umount2), for when no helper can be started (out of descriptors). libfuse closes the session's
// descriptor too: whoever still uses the mount gets ENOTCONN, and the loop ends with the mount.
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  mount *m = session_arg(env, info);
  if (m && !m->closed) fuse_session_unmount(m->se);
  return NULL;
}

// The request of a ref that has not been answered yet; NULL (and a TypeError) otherwise.
static req_ref *ref_arg(napi_env env, napi_value v) {
  req_ref *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || !r || !r->req) {
    napi_throw_type_error(env, NULL, "tsreverse fuse: not an unanswered request");
    return NULL;
  }
  return r;
}

static napi_value result(napi_env env, req_ref *r, int rc) {
  settle(r);
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

static void to_stat(const double *a, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)((uint64_t)a[A_INO_HIGH] << 32 | (uint64_t)a[A_INO]);
  st->st_mode = (mode_t)a[A_MODE];
  st->st_nlink = (nlink_t)a[A_NLINK];
  st->st_uid = (uid_t)a[A_UID];
  st->st_gid = (gid_t)a[A_GID];
  st->st_rdev = (dev_t)a[A_RDEV];
  st->st_size = (off_t)a[A_SIZE];
  st->st_blocks = (blkcnt_t)a[A_BLOCKS];
  st->st_blksize = (blksize_t)a[A_BLKSIZE];
  st->st_atim.tv_sec = (time_t)a[A_ATIME];
  st->st_atim.tv_nsec = (long)a[A_ATIME_NS];
  st->st_mtim.tv_sec = (time_t)a[A_MTIME];
  st->st_mtim.tv_nsec = (long)a[A_MTIME_NS];
  st->st_ctim.tv_sec = (time_t)a[A_CTIME];
  st->st_ctim.tv_nsec = (long)a[A_CTIME_NS];
}

static const double *attr_arg(napi_env env, napi_value v, size_t count) {
  size_t len;
  const double *a = get_typed(env, v, napi_float64_array, &len);
  static const double none[1];
  if (count == 0) return a ? a : none;  // an empty listing: its array may have no data at all
  if (!a || len < count * ATTR_N) {
    napi_throw_type_error(env, NULL, "tsreverse fuse: attributes must be a Float64Array of ATTR_N per entry");
    return NULL;
  }
  return a;
}

#define REPLY_ARGS(n)                                    \
  size_t argc = n;                                       \
  napi_value a[n];                                       \
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL)); \
  req_ref *r = ref_arg(env, a[0]);                       \
  if (!r) return NULL

// replyErr(req, errno): errno positive, 0 for success without data.
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  return result(env, r, fuse_reply_err(r->req, (int)get_num(env, a[1])));
}

// replyEntry(req, node, attr): node 0 (attr ignored) is a negative entry, cached for the
// negative timeout. 0, or -ENOENT when the lookup was interrupted (the kernel took no reference).
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  REPLY_ARGS(3);
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.ino = (fuse_ino_t)get_num(env, a[1]);
  if (e.ino) {
    const double *attr = attr_arg(env, a[2], 1);
    if (!attr) return NULL;
    to_stat(attr, &e.attr);
    e.attr_timeout = r->m->attr_timeout;
    e.entry_timeout = r->m->entry_timeout;
  } else {
    e.entry_timeout = r->m->negative_timeout;
  }
  return result(env, r, fuse_reply_entry(r->req, &e));
}

// replyAttr(req, attr)
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  const double *attr = attr_arg(env, a[1], 1);
  if (!attr) return NULL;
  struct stat st;
  to_stat(attr, &st);
  return result(env, r, fuse_reply_attr(r->req, &st, r->m->attr_timeout));
}

// replyReadlink(req, target: Buffer)
static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  size_t len;
  const char *bytes = get_buffer(env, a[1], &len);
  char *target = bytes ? malloc(len + 1) : NULL;
  if (!target) return result(env, r, fuse_reply_err(r->req, bytes ? ENOMEM : EIO));
  memcpy(target, bytes, len);
  target[len] = 0;
  int rc = fuse_reply_readlink(r->req, target);
  free(target);
  return result(env, r, rc);
}

// replyOpen(req, fh, data?: Buffer): with data, the file's whole content, copied here and
// answered here until release (fh is then unused). 0, or -ENOENT when the open was interrupted:
// the kernel will send no release, so the caller releases fh itself (a held copy is freed here).
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  REPLY_ARGS(3);
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = (uint64_t)get_num(env, a[1]);
  fi.keep_cache = r->m->keep_cache;
  held_file *h = NULL;
  size_t len;
  const char *bytes = get_buffer(env, a[2], &len);
  if (bytes && (h = malloc(sizeof(held_file) + len))) {
    h->size = len;
    memcpy(h->bytes, bytes, len);
    __atomic_add_fetch(&held_bytes, len, __ATOMIC_RELAXED);
    fi.fh = (uint64_t)(uintptr_t)h | HELD_TAG;
  }
  int rc = fuse_reply_open(r->req, &fi);
  if (rc != 0 && h) {
    __atomic_sub_fetch(&held_bytes, h->size, __ATOMIC_RELAXED);
    free(h);
  }
  return result(env, r, rc);
}

// ---- open requests lent to sys.c's pool ----

struct moved_req {
  fuse_req_t req;
  req_ref *r;
  napi_ref keep;  // keeps r (JavaScript's reference) alive until the loan ends
};

moved_req *fuse_binding_lend(napi_env env, napi_value v) {
  req_ref *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || !r || !r->req) return NULL;
  moved_req *mv = malloc(sizeof *mv);
  if (!mv) return NULL;
  if (napi_create_reference(env, v, 1, &mv->keep) != napi_ok) {
    free(mv);
    return NULL;
  }
  mv->req = r->req;
  mv->r = r;
  r->req = NULL;  // still counted in pending: answered or handed back when the loan ends
  return mv;
}

char *fuse_binding_held_new(size_t len) {
  held_file *h = malloc(sizeof(held_file) + (len ? len : 1));
  if (!h) return NULL;
  h->size = len;
  return h->bytes;
}

void fuse_binding_held_free(char *bytes) {
  if (bytes) free(HELD_OF(bytes));
}

void fuse_binding_reply_held(moved_req *mv, char *bytes) {
  held_file *h = HELD_OF(bytes);
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = (uint64_t)(uintptr_t)h | HELD_TAG;
  fi.keep_cache = mount_of(mv->req)->keep_cache;
  __atomic_add_fetch(&held_bytes, h->size, __ATOMIC_RELAXED);
  if (fuse_reply_open(mv->req, &fi) != 0) {
    __atomic_sub_fetch(&held_bytes, h->size, __ATOMIC_RELAXED);
    free(h);
  }
  mv->req = NULL;
}

void fuse_binding_end_loan(napi_env env, moved_req *mv, int answered) {
  if (answered) settle(mv->r);
  else mv->r->req = mv->req;
  napi_delete_reference(env, mv->keep);
  free(mv);
}

// replyData(req, buf: Buffer, n): the first n bytes of buf.
static napi_value js_reply_data(napi_env env, napi_callback_info info) {
  REPLY_ARGS(3);
  size_t len;
  const char *bytes = get_buffer(env, a[1], &len);
  double n = get_num(env, a[2]);
  if (!bytes || n < 0 || n > (double)len) return result(env, r, fuse_reply_err(r->req, EIO));
  return result(env, r, fuse_reply_buf(r->req, bytes, (size_t)n));
}

// replyStatfs(req, st: Float64Array of STATFS_N)
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  size_t len;
  const double *s = get_typed(env, a[1], napi_float64_array, &len);
  if (!s || len != STATFS_N) return result(env, r, fuse_reply_err(r->req, EIO));
  struct statvfs v;
  memset(&v, 0, sizeof v);
  v.f_bsize = (unsigned long)s[S_BSIZE];
  v.f_frsize = (unsigned long)s[S_FRSIZE];
  v.f_blocks = (fsblkcnt_t)s[S_BLOCKS];
  v.f_bfree = (fsblkcnt_t)s[S_BFREE];
  v.f_bavail = (fsblkcnt_t)s[S_BAVAIL];
  v.f_files = (fsfilcnt_t)s[S_FILES];
  v.f_ffree = (fsfilcnt_t)s[S_FFREE];
  v.f_favail = (fsfilcnt_t)s[S_FAVAIL];
  v.f_namemax = (unsigned long)s[S_NAMEMAX];
  return result(env, r, fuse_reply_statfs(r->req, &v));
}

// replyDir(req, plus, size, index, names: Buffer, offsets: Uint32Array, attrs: Float64Array,
// nodes: Float64Array | null, base): the entries of a listing chunk from `index` on, as many as
// fit in `size` bytes; base is the listing's index of the chunk's first entry, and entry i's
// offset (where the next request resumes) is base + i + 1. With plus, each
// entry carries its node and attributes, and the kernel takes a reference on each node sent.
// Returns how many were sent (0 if the answer did not reach the kernel), or -errno.
static napi_value js_reply_dir(napi_env env, napi_callback_info info) {
  REPLY_ARGS(9);
  bool plus = false;
  napi_get_value_bool(env, a[1], &plus);
  size_t size = (size_t)get_num(env, a[2]);
  double index = get_num(env, a[3]);
  size_t names_len, n_offs, n_nodes = 0;
  const char *names = get_buffer(env, a[4], &names_len);
  const uint32_t *offs = get_typed(env, a[5], napi_uint32_array, &n_offs);
  size_t count = n_offs ? n_offs - 1 : 0;
  const double *attrs = attr_arg(env, a[6], count);
  if (!attrs) return NULL;
  const double *nodes = plus ? get_typed(env, a[7], napi_float64_array, &n_nodes) : NULL;
  double base = get_num(env, a[8]);
  if ((!names && names_len) || !offs || (plus && n_nodes < count) || index < 0 || !(base >= 0)) return result(env, r, fuse_reply_err(r->req, EIO));
  char *buf = malloc(size ? size : 1);
  char *name = malloc(256);
  size_t name_cap = 256, used = 0, i = (size_t)index;
  if (!buf || !name) {
    free(buf), free(name);
    return result(env, r, fuse_reply_err(r->req, ENOMEM));
  }
  for (; i < count; i++) {
    uint32_t from = offs[i], to = offs[i + 1];
    if (to < from || to > names_len) break;
    size_t len = to - from;
    if (len + 1 > name_cap) {
      char *grown = realloc(name, len + 1);
      if (!grown) break;
      name = grown, name_cap = len + 1;
    }
    memcpy(name, names + from, len);
    name[len] = 0;
    size_t room = size - used, need;
    if (plus) {
      struct fuse_entry_param e;
      memset(&e, 0, sizeof e);
      e.ino = (fuse_ino_t)nodes[i];
      to_stat(attrs + i * ATTR_N, &e.attr);
      e.attr_timeout = r->m->attr_timeout;
      e.entry_timeout = r->m->entry_timeout;
      need = fuse_add_direntry_plus(r->req, buf + used, room, name, &e, (off_t)base + (off_t)(i + 1));
    } else {
      struct stat st;
      to_stat(attrs + i * ATTR_N, &st);
      need = fuse_add_direntry(r->req, buf + used, room, name, &st, (off_t)base + (off_t)(i + 1));
    }
    if (need > room) break;
    used += need;
  }
  free(name);
  int rc = fuse_reply_buf(r->req, buf, used);
  free(buf);
  settle(r);
  napi_value out;
  napi_create_double(env, rc == 0 ? (double)(i - (size_t)index) : 0, &out);
  return out;
}

// heldBytes(): what every held file holds.
static napi_value js_held_bytes(napi_env env, napi_callback_info info) {
  return num(env, (double)__atomic_load_n(&held_bytes, __ATOMIC_RELAXED));
}

napi_status fuse_binding_define(napi_env env, napi_value exports) {
  fuse_set_log_func(log_line);
  napi_value kinds;
  napi_status s = napi_create_array_with_length(env, K_COUNT, &kinds);
  for (uint32_t i = 0; s == napi_ok && i < K_COUNT; i++) {
    napi_value k;
    s = napi_create_string_utf8(env, kind_names[i], NAPI_AUTO_LENGTH, &k);
    if (s == napi_ok) s = napi_set_element(env, kinds, i, k);
  }
  napi_property_descriptor props[] = {
      {"requestKinds", NULL, NULL, NULL, NULL, kinds, napi_enumerable, NULL},
      {"libfuseVersion", NULL, NULL, NULL, NULL, num(env, fuse_version()), napi_enumerable, NULL},
      {"fuseMount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"fuseUnref", NULL, js_unref, NULL, NULL, NULL, napi_default, NULL},
      {"fuseClose", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"fuseUnmount", NULL, js_unmount, NULL, NULL, NULL, napi_default, NULL},
      {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, js_reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyData", NULL, js_reply_data, NULL, NULL, NULL, napi_default, NULL},
      {"replyStatfs", NULL, js_reply_statfs, NULL, NULL, NULL, napi_default, NULL},
      {"replyDir", NULL, js_reply_dir, NULL, NULL, NULL, napi_default, NULL},
      {"heldBytes", NULL, js_held_bytes, NULL, NULL, NULL, napi_default, NULL},
  };
  if (s == napi_ok) s = napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return s;
}
