// Source syscalls for the view, run on a pool of threads of our own so that none of them can
// block the JavaScript thread that answers every FUSE request. Each call is one job: a short
// batch of syscalls (e.g. check the parent, open, fstat, read a small file whole, close) run
// on a pool thread, whose result comes back to the calling JavaScript thread (main or worker)
// through a thread-safe function. Up to BASE_THREADS start on demand; past them the pool grows
// only when jobs wait and no thread has taken one for STALL_MS (the busy ones look stuck), so a
// job stuck on a hung filesystem (or on this very mount, reached again inside its source)
// stalls only the requests that wait for it, while a burst of quick jobs does not start a
// thread each. Idle threads exit, so an idle daemon keeps none.
// Paths are bytes (not UTF-8), and directories are reached with openat/fstatat from
// descriptors the caller holds, never through a path string that could be swapped meanwhile.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include "fuse_binding.h"
#include "seal.h"

#define STAT_N 18
// A thread that found no job for this long exits.
#define IDLE_SECONDS 5
#define BASE_THREADS 4
#define STALL_MS 20
// Far above any real need: each thread blocked here is one request that is waiting anyway.
#define MAX_THREADS 4096
#define THREAD_STACK (256 * 1024)
// Our own error for a failed directory check (DirCheck): the caller resolves afresh.
#define E_DIR_MOVED (-1)

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "tsreverse native: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

enum op { OP_LSTAT, OP_LSTAT_EACH, OP_LIST, OP_WALK, OP_OPEN, OP_PREAD, OP_CLOSE, OP_READLINK };

// One JavaScript thread's channel for results. Node deletes the thread-safe function when that
// thread's environment ends (a worker terminated), whoever still holds it: pool threads reach it
// only through this state, under its lock, and see `closed` from then on. Freed by the last of
// the environment and the jobs in flight to let go of it.
typedef struct {
  pthread_mutex_t mu;
  napi_threadsafe_function tsfn;
  int closed;
  uint32_t refs;
  uint32_t inflight;  // the JavaScript thread's own count, to ref the function only while busy
} env_state;

static void state_unref(env_state *es) {
  pthread_mutex_lock(&es->mu);
  uint32_t left = --es->refs;
  pthread_mutex_unlock(&es->mu);
  if (left == 0) {
    pthread_mutex_destroy(&es->mu);
    free(es);
  }
}

typedef struct job {
  struct job *next;
  enum op op;
  env_state *es;
  napi_ref cb;
  // Inputs.
  int dirfd;  // AT_FDCWD for an absolute path
  char *path;
  char *names;  // NUL-separated (OP_WALK, OP_LSTAT_EACH)
  uint32_t n_names;
  int list;
  int fd;
  size_t len;
  int64_t pos;
  size_t below;  // OP_OPEN: read whole a regular file of fewer bytes on a local filesystem
  uint64_t exp_dev, exp_ino;
  char *check_path;  // a directory that must still be at this path first (DirCheck)
  uint64_t check_dev, check_ino;
  int64_t check_birth_ms;
  // OP_OPEN, OP_PREAD: with a sealer, what is read is returned sealed (the view's bytes): file
  // ID, then block-0 IV. OP_OPEN's whole file gets its header; OP_PREAD reads from a block start.
  sealer *sealer;
  uint8_t ids[32];
  // OP_OPEN: the FUSE open this job may answer itself with the sealed file (a held file), when
  // the fstat after the read still shows the lookup's size, mtime and ctime (`expect`: size,
  // mtime ms and ns part, ctime ms and ns part, as src/view/consistency.ts compares them).
  moved_req *reply;
  double expect[5];
  int answered;
  int buf_held;  // buf came from fuse_binding_held_new
  // Outputs.
  int err;
  const char *syscall;
  int rfd;
  double st[STAT_N];
  double *stats;  // OP_LSTAT_EACH: STAT_N per name
  int32_t *errs;
  // Names (OP_LIST, OP_WALK), bytes read (OP_OPEN, OP_PREAD), link target (OP_READLINK). Ours,
  // not a JavaScript Buffer: the environment that asked may end while a read is in flight.
  char *buf;
  size_t buf_len;
  uint32_t *offs;  // n_out + 1 offsets into buf
  uint32_t n_out;
} job;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t monitor_cv = PTHREAD_COND_INITIALIZER;
static job *queue_head, *queue_tail;
static uint32_t queued, idle_threads, threads;
static int monitor_running;
// When a pool thread last took a job (CLOCK_MONOTONIC, ms).
static int64_t last_pick_ms;

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

// ---- syscalls (pool threads) ----

static void fill_stat(const struct statx *sx, double *o) {
  o[0] = (double)makedev(sx->stx_dev_major, sx->stx_dev_minor);
  o[1] = (double)sx->stx_ino;
  o[2] = sx->stx_mode;
  o[3] = sx->stx_nlink;
  o[4] = sx->stx_uid;
  o[5] = sx->stx_gid;
  o[6] = (double)makedev(sx->stx_rdev_major, sx->stx_rdev_minor);
  o[7] = (double)sx->stx_size;
  o[8] = sx->stx_blksize;
  o[9] = (double)sx->stx_blocks;
  o[10] = (double)sx->stx_atime.tv_sec;
  o[11] = sx->stx_atime.tv_nsec;
  o[12] = (double)sx->stx_mtime.tv_sec;
  o[13] = sx->stx_mtime.tv_nsec;
  o[14] = (double)sx->stx_ctime.tv_sec;
  o[15] = sx->stx_ctime.tv_nsec;
  // 0 where the filesystem keeps no birth time, as Node reports it.
  int born = (sx->stx_mask & STATX_BTIME) != 0;
  o[16] = born ? (double)sx->stx_btime.tv_sec : 0;
  o[17] = born ? sx->stx_btime.tv_nsec : 0;
}

static int stat_at(int dirfd, const char *name, int flags, double *out) {
  struct statx sx;
  if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) return errno;
  fill_stat(&sx, out);
  return 0;
}

static int fstat_fd(int fd, double *out) { return stat_at(fd, "", AT_EMPTY_PATH, out); }

static int fail(job *j, int err, const char *syscall) {
  j->err = err;
  j->syscall = syscall;
  return err;
}

// The DirCheck: the directory the caller resolved is still at check_path (lstat, not followed).
static int check_dir(job *j) {
  if (!j->check_path) return 0;
  double st[STAT_N];
  int err = stat_at(AT_FDCWD, j->check_path, 0, st);
  if (err == ENOENT || err == ENOTDIR) return fail(j, E_DIR_MOVED, "lstat");
  if (err) return fail(j, err, "lstat");
  int64_t birth_ms = (int64_t)st[16] * 1000 + (int64_t)st[17] / 1000000;
  if (!S_ISDIR((mode_t)st[2]) || (uint64_t)st[0] != j->check_dev || (uint64_t)st[1] != j->check_ino || birth_ms != j->check_birth_ms)
    return fail(j, E_DIR_MOVED, "lstat");
  return 0;
}

// Appends every name of the directory `dirfd` (getdents order, without . and ..) to j->buf/offs.
static int list_names(job *j, int dirfd) {
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(j, errno, "opendir");
  DIR *d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return fail(j, err, "opendir");
  }
  size_t cap = 4096, n_cap = 64;
  j->buf = malloc(cap);
  j->offs = malloc(n_cap * sizeof(uint32_t));
  j->buf_len = 0;
  j->n_out = 0;
  int err = (j->buf && j->offs) ? 0 : ENOMEM;
  for (struct dirent *e; !err;) {
    errno = 0;
    if (!(e = readdir(d))) {
      err = errno;
      break;
    }
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    size_t len = strlen(e->d_name);
    if (j->buf_len + len > cap) {
      while (j->buf_len + len > cap) cap *= 2;
      char *b = realloc(j->buf, cap);
      if (!b) err = ENOMEM;
      else j->buf = b;
    }
    if (j->n_out + 2 > n_cap) {
      n_cap *= 2;
      uint32_t *o = realloc(j->offs, n_cap * sizeof(uint32_t));
      if (!o) err = ENOMEM;
      else j->offs = o;
    }
    if (err || j->buf_len + len > UINT32_MAX) break;
    j->offs[j->n_out++] = (uint32_t)j->buf_len;
    memcpy(j->buf + j->buf_len, e->d_name, len);
    j->buf_len += len;
  }
  closedir(d);
  if (err) return fail(j, err, "readdir");
  j->offs[j->n_out] = (uint32_t)j->buf_len;
  return 0;
}

static const char *next_name(const char *p) { return p + strlen(p) + 1; }

static const int DIR_FLAGS = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

static void run_walk(job *j) {
  int fd = openat(j->dirfd, j->path, DIR_FLAGS);
  if (fd < 0) {
    fail(j, errno, "open");
    return;
  }
  const char *name = j->names;
  for (uint32_t i = 0; i < j->n_names; i++, name = next_name(name)) {
    int next = openat(fd, name, DIR_FLAGS);
    int err = errno;
    close(fd);
    if (next < 0) {
      fail(j, err, "open");
      return;
    }
    fd = next;
  }
  int err = fstat_fd(fd, j->st);
  if (!err && j->list) err = list_names(j, fd);
  else if (err) fail(j, err, "fstat");
  if (err) {
    close(fd);
    return;
  }
  j->rfd = fd;
}

// Filesystems whose files read without side effects and say their size (statfs f_type,
// linux/magic.h): only these have small files read whole at open. Elsewhere (/proc, /sys,
// network and FUSE filesystems) a file is read only when a reader asks.
static int ordinary_fs(int fd) {
  static const unsigned long types[] = {
      0xef53 /* ext2/3/4 */, 0x58465342 /* xfs */,    0x9123683e /* btrfs */, 0xf2f52010 /* f2fs */,
      0x2fc12fc1 /* zfs */,  0xca451a4e /* bcachefs */, 0x3153464a /* jfs */, 0x52654973 /* reiserfs */,
      0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */, 0x794c7630 /* overlayfs */, 0x4d44 /* vfat */,
      0x2011bab0 /* exfat */, 0x7366746e /* ntfs3 */,
  };
  struct statfs s;
  if (fstatfs(fd, &s) != 0) return 0;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if ((unsigned long)s.f_type == types[i]) return 1;
  return 0;
}

static ssize_t pread_fully(int fd, uint8_t *into, size_t len, int64_t pos, job *j) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, into + got, len - got, pos + (int64_t)got);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(j, errno, "read");
      return -1;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

// The consistency check's fields of a stat (src/view/source-io.ts statusOf).
static int same_status(const double *st, const double *want) {
  double ms_m = st[12] * 1000 + floor(st[13] / 1e6), ms_c = st[14] * 1000 + floor(st[15] / 1e6);
  return st[7] == want[0] && ms_m == want[1] && fmod(st[13], 1e6) == want[2] && ms_c == want[3] && fmod(st[15], 1e6) == want[4];
}

// Replaces the plaintext j->buf[0..len) with its sealed blocks, after the file header if
// `header`. On failure the job fails with EIO (OpenSSL) or ENOMEM.
static void seal_read(job *j, size_t len, int64_t pos, int header) {
  size_t hl = header ? SEAL_HEADER_LEN : 0, n = hl + seal_size(len);
  // What an open may answer itself is made a held file from the start, not copied into one.
  uint8_t *out = j->reply ? (uint8_t *)fuse_binding_held_new(n) : malloc(n ? n : 1);
  if (!out) {
    fail(j, ENOMEM, "read");
  } else {
    if (header) seal_header(j->ids, out);
    if (seal_blocks(j->sealer, (uint8_t *)j->buf, len, (uint64_t)(pos / SEAL_PLAIN_BLOCK), j->ids, j->ids + 16, out + hl)) {
      fail(j, EIO, "seal");
      if (j->reply) fuse_binding_held_free((char *)out);
      else free(out);
      out = NULL;
      n = 0;
    }
  }
  free(j->buf);
  j->buf = (char *)out;
  j->buf_len = out ? n : 0;
  j->buf_held = out && j->reply;
}

static void run_open(job *j) {
  if (check_dir(j)) return;
  // O_NONBLOCK: a FIFO swapped in for the file must not hang the open.
  int fd = openat(j->dirfd, j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fail(j, errno, "open");
    return;
  }
  int err = fstat_fd(fd, j->st);
  if (err) {
    fail(j, err, "fstat");
  } else if (!S_ISREG((mode_t)j->st[2]) || (uint64_t)j->st[0] != j->exp_dev || (uint64_t)j->st[1] != j->exp_ino) {
    fail(j, ENOENT, "open");  // another file is there by now
  } else if (j->below > 0 && j->st[7] > 0 && j->st[7] < (double)j->below && ordinary_fs(fd)) {
    j->buf = malloc(j->below);
    if (!j->buf) {
      fail(j, ENOMEM, "read");
    } else {
      ssize_t got = pread_fully(fd, (uint8_t *)j->buf, j->below, 0, j);
      if (got >= 0 && (size_t)got < j->below) {
        // Read whole: the fstat after the read is what the consistency check compares.
        j->buf_len = (size_t)got;
        if ((err = fstat_fd(fd, j->st))) fail(j, err, "fstat");
        close(fd);
        if (!err && j->sealer) seal_read(j, (size_t)got, 0, 1);
        if (!j->err && j->reply && same_status(j->st, j->expect)) {
          fuse_binding_reply_held(j->reply, j->buf);
          j->buf = NULL;
          j->answered = 1;
        }
        return;
      }
      free(j->buf);  // grew meanwhile: read it as a large file
      j->buf = NULL;
    }
  }
  if (j->err) {
    close(fd);
    return;
  }
  j->rfd = fd;
}

static void run(job *j) {
  int err;
  switch (j->op) {
    case OP_LSTAT:
      if (check_dir(j)) return;
      if ((err = stat_at(j->dirfd, j->path, 0, j->st))) fail(j, err, "lstat");
      return;
    case OP_LSTAT_EACH: {
      const char *name = j->names;
      for (uint32_t i = 0; i < j->n_names; i++, name = next_name(name))
        j->errs[i] = stat_at(j->dirfd, name, 0, j->stats + (size_t)i * STAT_N);
      if ((err = fstat_fd(j->dirfd, j->st))) fail(j, err, "fstat");
      return;
    }
    case OP_LIST:
      // The stat first: a change made after it moves the directory's mtime past the one returned.
      if ((err = fstat_fd(j->dirfd, j->st))) fail(j, err, "fstat");
      else list_names(j, j->dirfd);
      return;
    case OP_WALK:
      run_walk(j);
      return;
    case OP_OPEN:
      run_open(j);
      return;
    case OP_PREAD: {
      if (!(j->buf = malloc(j->len ? j->len : 1))) {
        fail(j, ENOMEM, "read");
        return;
      }
      ssize_t got = pread_fully(j->fd, (uint8_t *)j->buf, j->len, j->pos, j);
      if (got < 0) return;
      j->buf_len = (size_t)got;
      if ((err = fstat_fd(j->fd, j->st))) fail(j, err, "fstat");
      else if (j->sealer) seal_read(j, (size_t)got, j->pos, 0);
      return;
    }
    case OP_CLOSE:
      err = fstat_fd(j->fd, j->st);
      // Linux frees the descriptor even when close fails: it is never closed twice.
      if (close(j->fd) != 0 && !err) err = errno;
      if (err) fail(j, err, "close");
      return;
    case OP_READLINK: {
      for (size_t cap = 4096;; cap *= 4) {
        free(j->buf);
        if (!(j->buf = malloc(cap))) {
          fail(j, ENOMEM, "readlink");
          return;
        }
        ssize_t n = readlinkat(j->dirfd, j->path, j->buf, cap);
        if (n < 0) {
          fail(j, errno, "readlink");
          return;
        }
        if ((size_t)n < cap) {
          j->buf_len = (size_t)n;
          return;
        }
      }
    }
  }
}

// ---- the pool ----

static void free_job(napi_env env, job *j);

static void *pool_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pool_mu);
  for (;;) {
    while (!queue_head) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += IDLE_SECONDS;
      idle_threads++;
      int rc = pthread_cond_timedwait(&pool_cv, &pool_mu, &until);
      idle_threads--;
      if (rc == ETIMEDOUT && !queue_head) {
        int last = --threads == 0;
        pthread_mutex_unlock(&pool_mu);
        seal_thread_end();
        // The pool is idle: what its reads and seals freed goes back to the system, not kept
        // for good by an idle daemon (malloc keeps freed memory of busy times otherwise).
        if (last) malloc_trim(0);
        return NULL;
      }
    }
    job *j = queue_head;
    queue_head = j->next;
    if (!queue_head) queue_tail = NULL;
    queued--;
    last_pick_ms = now_ms();
    pthread_mutex_unlock(&pool_mu);
    run(j);
    if (j->sealer) {
      sealer_unref(j->sealer);
      j->sealer = NULL;
    }
    env_state *es = j->es;
    pthread_mutex_lock(&es->mu);
    // Closed: the thread that asked is gone, and the result has nowhere to go.
    int sent = !es->closed && napi_call_threadsafe_function(es->tsfn, j, napi_tsfn_nonblocking) == napi_ok;
    pthread_mutex_unlock(&es->mu);
    if (!sent) free_job(NULL, j);
    state_unref(es);
    pthread_mutex_lock(&pool_mu);
  }
}

// Starts a detached thread running fn, with every signal blocked: signals are the JavaScript
// thread's to handle. Called with pool_mu held.
static int start_thread(void *(*fn)(void *)) {
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&t, &attr, fn, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return err;
}

static void add_pool_thread(void) {
  if (threads < MAX_THREADS && start_thread(pool_thread) == 0) threads++;
}

// While jobs wait, adds a thread whenever none was taken for STALL_MS; sleeps otherwise.
static void *monitor_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pool_mu);
  for (;;) {
    if (queued == 0) {
      pthread_cond_wait(&monitor_cv, &pool_mu);
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += STALL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&monitor_cv, &pool_mu, &until);
    if (queued > idle_threads && now_ms() - last_pick_ms >= STALL_MS) add_pool_thread();
  }
  return NULL;
}

// Queues a job for an idle thread, a new one while there are fewer than BASE_THREADS, or else
// the first busy one to be free (the monitor adds threads if none is).
static int submit(job *j) {
  pthread_mutex_lock(&pool_mu);
  j->next = NULL;
  if (queue_tail) queue_tail->next = j;
  else queue_head = j;
  queue_tail = j;
  queued++;
  int err = 0;
  if (queued <= idle_threads) {
    pthread_cond_signal(&pool_cv);
  } else if (threads < BASE_THREADS) {
    add_pool_thread();
    if (threads == 0) {  // nothing can run it: take it back (nothing else is queued then)
      queue_head = queue_tail = NULL;
      queued = 0;
      err = EAGAIN;
    }
  } else {
    if (!monitor_running && start_thread(monitor_thread) == 0) monitor_running = 1;
    pthread_cond_signal(&monitor_cv);
  }
  pthread_mutex_unlock(&pool_mu);
  return err;
}

// ---- results (the JavaScript thread that asked) ----

static napi_value errno_error(napi_env env, int err, const char *syscall) {
  const char *code = err == E_DIR_MOVED ? "EDIRMOVED" : strerrorname_np(err);
  const char *text = err == E_DIR_MOVED ? "directory moved since it was resolved" : strerror(err);
  if (!code) code = "EIO";
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s, %s", code, text, syscall ? syscall : "?");
  // Lower case as Node's own messages ("ENOENT: no such file or directory, lstat").
  size_t at = strlen(code) + 2;
  if (at < sizeof msg && msg[at] >= 'A' && msg[at] <= 'Z') msg[at] += 'a' - 'A';
  napi_value c, m, e, n, s;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err == E_DIR_MOVED ? 0 : -err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, syscall ? syscall : "", NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  return e;
}

static napi_value f64_array(napi_env env, const double *src, size_t n) {
  napi_value ab, arr;
  void *data;
  napi_create_arraybuffer(env, n * sizeof(double), &data, &ab);
  memcpy(data, src, n * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr);
  return arr;
}

static napi_value u32_array(napi_env env, const uint32_t *src, size_t n) {
  napi_value ab, arr;
  void *data;
  napi_create_arraybuffer(env, n * sizeof(uint32_t), &data, &ab);
  if (n) memcpy(data, src, n * sizeof(uint32_t));
  napi_create_typedarray(env, napi_uint32_array, n, ab, 0, &arr);
  return arr;
}

static napi_value bytes(napi_env env, const char *src, size_t n) {
  napi_value b;
  void *data;
  napi_create_buffer_copy(env, n, n ? src : "", &data, &b);
  return b;
}

static void free_bytes(napi_env env, void *data, void *hint) { free(data); }

// j->buf handed over without a copy where Node allows it (else copied); the job lets go of it.
static napi_value owned_bytes(napi_env env, job *j) {
  napi_value b;
  if (j->buf_len > 0 && !j->buf_held && napi_create_external_buffer(env, j->buf_len, j->buf, free_bytes, NULL, &b) == napi_ok) {
    j->buf = NULL;
    return b;
  }
  return bytes(env, j->buf, j->buf_len);
}

static void set(napi_env env, napi_value o, const char *key, napi_value v) { napi_set_named_property(env, o, key, v); }

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

// The result object of a job that worked.
static napi_value result_of(napi_env env, job *j) {
  napi_value r;
  napi_create_object(env, &r);
  switch (j->op) {
    case OP_LSTAT:
    case OP_CLOSE:
      set(env, r, "st", f64_array(env, j->st, STAT_N));
      break;
    case OP_LSTAT_EACH: {
      set(env, r, "stats", f64_array(env, j->stats, (size_t)j->n_names * STAT_N));
      napi_value ab, errs;
      void *data;
      napi_create_arraybuffer(env, j->n_names * sizeof(int32_t), &data, &ab);
      if (j->n_names) memcpy(data, j->errs, j->n_names * sizeof(int32_t));
      napi_create_typedarray(env, napi_int32_array, j->n_names, ab, 0, &errs);
      set(env, r, "errs", errs);
      set(env, r, "st", f64_array(env, j->st, STAT_N));
      break;
    }
    case OP_LIST:
    case OP_WALK:
      set(env, r, "st", f64_array(env, j->st, STAT_N));
      if (j->op == OP_WALK) {
        set(env, r, "fd", int_value(env, j->rfd));
        j->rfd = -1;  // the caller's now
      }
      if (j->offs) {
        set(env, r, "names", bytes(env, j->buf, j->buf_len));
        set(env, r, "offsets", u32_array(env, j->offs, j->n_out + 1));
      }
      break;
    case OP_OPEN:
      set(env, r, "st", f64_array(env, j->st, STAT_N));
      if (j->answered) {
        napi_value t;
        napi_get_boolean(env, true, &t);
        set(env, r, "answered", t);
      } else if (j->rfd >= 0) {
        set(env, r, "fd", int_value(env, j->rfd));
        j->rfd = -1;
      } else {
        set(env, r, "data", owned_bytes(env, j));
      }
      break;
    case OP_PREAD:
      set(env, r, "data", owned_bytes(env, j));
      set(env, r, "st", f64_array(env, j->st, STAT_N));
      break;
    case OP_READLINK:
      set(env, r, "target", bytes(env, j->buf, j->buf_len));
      break;
  }
  return r;
}

static void free_job(napi_env env, job *j) {
  if (j->rfd >= 0) close(j->rfd);
  if (env && j->cb) napi_delete_reference(env, j->cb);
  // Without an environment the request stays lent: the process is ending.
  if (env && j->reply) fuse_binding_end_loan(env, j->reply, j->answered);
  sealer_unref(j->sealer);
  if (j->buf_held) fuse_binding_held_free(j->buf);
  else free(j->buf);
  free(j->path), free(j->names), free(j->check_path), free(j->stats), free(j->errs), free(j->offs), free(j);
}

static void deliver(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  job *j = data;
  env_state *es = context;
  if (!env) {  // the environment is gone; so may be `es`
    free_job(NULL, j);
    return;
  }
  if (--es->inflight == 0) napi_unref_threadsafe_function(env, es->tsfn);
  napi_value cb, undef, args[2];
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, j->cb, &cb);
  if (j->err) {
    args[0] = errno_error(env, j->err, j->syscall);
    args[1] = undef;
  } else {
    napi_get_null(env, &args[0]);
    args[1] = result_of(env, j);
  }
  free_job(env, j);
  napi_call_function(env, undef, cb, 2, args, NULL);
}

// ---- the JavaScript surface ----

static env_state *state_of(napi_env env) {
  env_state *es = NULL;
  napi_get_instance_data(env, (void **)&es);
  return es;
}

// A Buffer argument as a NUL-terminated copy (NULL for null/undefined).
static int copy_bytes(napi_env env, napi_value v, char **out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *out = NULL;
  if (t == napi_null || t == napi_undefined) return 0;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -1;
  *out = malloc(len + 1);
  if (!*out) return -1;
  memcpy(*out, data, len);
  (*out)[len] = 0;
  return 0;
}

static double number_arg(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static job *new_job(napi_env env, enum op op, napi_value cb) {
  job *j = calloc(1, sizeof(job));
  if (!j) return NULL;
  j->op = op;
  j->rfd = -1;
  j->fd = -1;
  j->dirfd = AT_FDCWD;
  napi_create_reference(env, cb, 1, &j->cb);
  return j;
}

static napi_value start(napi_env env, job *j) {
  env_state *es = state_of(env);
  j->es = es;
  pthread_mutex_lock(&es->mu);
  es->refs++;
  pthread_mutex_unlock(&es->mu);
  if (es->inflight++ == 0) napi_ref_threadsafe_function(env, es->tsfn);
  int err = submit(j);
  if (err) {
    state_unref(es);
    if (--es->inflight == 0) napi_unref_threadsafe_function(env, es->tsfn);
    free_job(env, j);
    napi_throw(env, errno_error(env, err, "pthread_create"));
  }
  return NULL;
}

static napi_value oom(napi_env env, job *j) {
  if (j) free_job(env, j);
  napi_throw_error(env, "ENOMEM", "tsreverse native: out of memory");
  return NULL;
}

// Reads the optional DirCheck arguments: checkPath, dev, ino, birthMs.
static int read_check(napi_env env, job *j, napi_value *a) {
  if (copy_bytes(env, a[0], &j->check_path)) return -1;
  j->check_dev = (uint64_t)number_arg(env, a[1]);
  j->check_ino = (uint64_t)number_arg(env, a[2]);
  j->check_birth_ms = (int64_t)number_arg(env, a[3]);
  return 0;
}

// Reads the optional sealing arguments: sealer (null: plaintext), ids (fileId || iv0, 32 bytes).
static int read_seal(napi_env env, job *j, napi_value *a) {
  napi_valuetype t;
  napi_typeof(env, a[0], &t);
  if (t == napi_null || t == napi_undefined) return 0;
  void *ids;
  size_t len;
  if (!(j->sealer = sealer_of(env, a[0])) || napi_get_buffer_info(env, a[1], &ids, &len) != napi_ok || len != 32) {
    j->sealer = NULL;
    return -1;
  }
  sealer_ref(j->sealer);
  memcpy(j->ids, ids, 32);
  return 0;
}

static napi_value bad_seal(napi_env env, job *j) {
  free_job(env, j);
  napi_throw_type_error(env, NULL, "tsreverse native: expected a sealer, 32 bytes of file ID and block-0 IV, and an unanswered open with its 5 status numbers");
  return NULL;
}

static int32_t int_arg(napi_env env, napi_value v) {
  int32_t i = 0;
  napi_get_value_int32(env, v, &i);
  return i;
}

// The arguments of a call whose last one is the callback, and its job (NULL: an exception is
// pending).
static job *begin(napi_env env, napi_callback_info info, enum op op, size_t argc, napi_value *a) {
  size_t got = argc;
  if (napi_get_cb_info(env, info, &got, a, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "tsreverse native: napi_get_cb_info failed");
    return NULL;
  }
  job *j = new_job(env, op, a[argc - 1]);
  if (!j) oom(env, NULL);
  return j;
}

// lstat(dirfd, name, checkPath, checkDev, checkIno, checkBirthMs, cb): dirfd -100 is AT_FDCWD.
static napi_value js_lstat(napi_env env, napi_callback_info info) {
  napi_value a[7];
  job *j = begin(env, info, OP_LSTAT, 7, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  if (copy_bytes(env, a[1], &j->path) || read_check(env, j, a + 2)) return oom(env, j);
  return start(env, j);
}

// lstatEach(dirfd, names (NUL-separated), count, cb)
static napi_value js_lstat_each(napi_env env, napi_callback_info info) {
  napi_value a[4];
  job *j = begin(env, info, OP_LSTAT_EACH, 4, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  j->n_names = (uint32_t)int_arg(env, a[2]);
  if (copy_bytes(env, a[1], &j->names)) return oom(env, j);
  j->stats = malloc(((size_t)j->n_names + 1) * STAT_N * sizeof(double));
  j->errs = malloc(((size_t)j->n_names + 1) * sizeof(int32_t));
  if (!j->stats || !j->errs) return oom(env, j);
  return start(env, j);
}

// list(dirfd, cb)
static napi_value js_list(napi_env env, napi_callback_info info) {
  napi_value a[2];
  job *j = begin(env, info, OP_LIST, 2, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  return start(env, j);
}

// walk(dirfd, first, names (NUL-separated), count, list, cb)
static napi_value js_walk(napi_env env, napi_callback_info info) {
  napi_value a[6];
  job *j = begin(env, info, OP_WALK, 6, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  j->n_names = (uint32_t)int_arg(env, a[3]);
  bool list = false;
  napi_get_value_bool(env, a[4], &list);
  j->list = list;
  if (copy_bytes(env, a[1], &j->path) || copy_bytes(env, a[2], &j->names)) return oom(env, j);
  if (!j->names && !(j->names = calloc(1, 1))) return oom(env, j);
  return start(env, j);
}

// Reads the optional FUSE open to answer: the request (null: none) and the five numbers of
// the status it needs (see job.expect). Only with a sealer.
static int read_reply(napi_env env, job *j, napi_value *a) {
  napi_valuetype t;
  napi_typeof(env, a[0], &t);
  if (t == napi_null || t == napi_undefined) return 0;
  napi_typedarray_type type;
  size_t n = 0;
  void *data = NULL;
  if (!j->sealer || napi_get_typedarray_info(env, a[1], &type, &n, &data, NULL, NULL) != napi_ok || type != napi_float64_array || n != 5) return -1;
  memcpy(j->expect, data, sizeof j->expect);
  return (j->reply = fuse_binding_lend(env, a[0])) ? 0 : -1;
}

// open(dirfd, name, expectedDev, expectedIno, below, sealer, ids, reply, expect, checkPath,
// checkDev, checkIno, checkBirthMs, cb)
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value a[14];
  job *j = begin(env, info, OP_OPEN, 14, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  j->exp_dev = (uint64_t)number_arg(env, a[2]);
  j->exp_ino = (uint64_t)number_arg(env, a[3]);
  j->below = (size_t)number_arg(env, a[4]);
  if (read_seal(env, j, a + 5) || read_reply(env, j, a + 7)) return bad_seal(env, j);
  if (copy_bytes(env, a[1], &j->path) || read_check(env, j, a + 9)) return oom(env, j);
  return start(env, j);
}

// pread(fd, length, position, sealer, ids, cb): `length` bytes from `position`, fewer at end of
// file; with a sealer, position is a block's start and the bytes come back sealed.
static napi_value js_pread(napi_env env, napi_callback_info info) {
  napi_value a[6];
  job *j = begin(env, info, OP_PREAD, 6, a);
  if (!j) return NULL;
  j->fd = int_arg(env, a[0]);
  j->len = (size_t)number_arg(env, a[1]);
  j->pos = (int64_t)number_arg(env, a[2]);
  if (read_seal(env, j, a + 3) || (j->sealer && j->pos % SEAL_PLAIN_BLOCK)) return bad_seal(env, j);
  return start(env, j);
}

// closeFile(fd, cb): fstat, then close.
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value a[2];
  job *j = begin(env, info, OP_CLOSE, 2, a);
  if (!j) return NULL;
  j->fd = int_arg(env, a[0]);
  return start(env, j);
}

// readlink(dirfd, name, cb)
static napi_value js_readlink(napi_env env, napi_callback_info info) {
  napi_value a[3];
  job *j = begin(env, info, OP_READLINK, 3, a);
  if (!j) return NULL;
  j->dirfd = int_arg(env, a[0]);
  if (copy_bytes(env, a[1], &j->path)) return oom(env, j);
  return start(env, j);
}

// harden(): no core dumps and no ptrace by other users' processes, for a process that holds
// keys. Synchronous; throws on failure.
static napi_value js_harden(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    napi_throw(env, errno_error(env, errno, "setrlimit"));
    return NULL;
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    napi_throw(env, errno_error(env, errno, "prctl"));
    return NULL;
  }
  return NULL;
}

// trim(): hands the heap's free memory back to the system (malloc_trim); true when some was.
// glibc keeps what a huge listing freed (its buffers and Node's) for reuse otherwise.
static napi_value js_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_get_boolean(env, malloc_trim(0) != 0, &r);
  return r;
}

// exitNow(code): _exit(2), without the runtime's teardown. A server that has unmounted has
// nothing left to tear down, and Node 20 can crash tearing down a worker whose native calls are
// still in flight (a thread-safe function closed twice; fixed in Node 24.14 and 25.4).
static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  _exit(int_arg(env, a[0]));
}

// utimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): sets both times exactly, not
// following a final symlink. Synchronous (restore writes its own files).
static napi_value js_utimens(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  char *path;
  if (copy_bytes(env, a[0], &path) || !path) {
    napi_throw_type_error(env, NULL, "utimens: path must be a Buffer");
    return NULL;
  }
  struct timespec ts[2] = {
      {(time_t)number_arg(env, a[1]), (long)number_arg(env, a[2])},
      {(time_t)number_arg(env, a[3]), (long)number_arg(env, a[4])},
  };
  int rc = utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  free(path);
  if (rc != 0) napi_throw(env, errno_error(env, err, "utimensat"));
  return NULL;
}

// Node calls this when it deletes the thread-safe function, at the end of the environment.
static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  env_state *es = data;
  pthread_mutex_lock(&es->mu);
  es->closed = 1;
  pthread_mutex_unlock(&es->mu);
  state_unref(es);
}

static napi_value init(napi_env env, napi_value exports) {
  // Pool threads and libfuse's (fuse.c) outlive any one environment: the code they run must
  // never be unloaded, as Node unloads an addon when the last worker that loaded it ends.
  Dl_info self;
  if (dladdr((void *)init, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
  env_state *es = calloc(1, sizeof(env_state));
  if (!es) return oom(env, NULL);
  pthread_mutex_init(&es->mu, NULL);
  es->refs = 1;  // the environment's, until tsfn_finalized
  napi_value name;
  napi_create_string_utf8(env, "tsreverse-sys", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, es, tsfn_finalized, es, deliver, &es->tsfn));
  // Only jobs in flight keep the process alive.
  CHECK(napi_unref_threadsafe_function(env, es->tsfn));
  CHECK(napi_set_instance_data(env, es, NULL, NULL));
  napi_property_descriptor props[] = {
      {"lstat", NULL, js_lstat, NULL, NULL, NULL, napi_default, NULL},
      {"lstatEach", NULL, js_lstat_each, NULL, NULL, NULL, napi_default, NULL},
      {"list", NULL, js_list, NULL, NULL, NULL, napi_default, NULL},
      {"walk", NULL, js_walk, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"pread", NULL, js_pread, NULL, NULL, NULL, napi_default, NULL},
      {"closeFile", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"readlink", NULL, js_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"harden", NULL, js_harden, NULL, NULL, NULL, napi_default, NULL},
      {"trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL},
      {"utimens", NULL, js_utimens, NULL, NULL, NULL, napi_default, NULL},
      {"exitNow", NULL, js_exit_now, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(fuse_binding_define(env, exports));
  CHECK(seal_binding_define(env, exports));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
