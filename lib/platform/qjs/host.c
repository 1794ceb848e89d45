/*
 * Native host of the standalone executable (scripts/build-standalone.mjs): QuickJS plus the few
 * system calls the plugins make, exposed to JavaScript as `globalThis.__cniHost`.
 *
 * Why this exists: a CNI plugin is exec'd for every ADD/DEL/CHECK and STATUS poll, so process
 * start-up is most of its cost. QuickJS with precompiled bytecode starts in ~1.5 ms here, less than
 * a Go binary; Bun's runtime needed ~6 ms before running a line of ours (README "Benchmark").
 *
 * The functions mirror lib/platform/libc.ts's `Libc` interface one to one (same arguments, raw results,
 * negative = failure, reason from errno()), so lib/platform/fs.ts and lib/kernel/netlink.ts run unchanged on it.
 * Everything else the plugins need from a runtime (process, TextEncoder/TextDecoder, timers,
 * child processes) is built in JavaScript on top of this and QuickJS's own `os` module by
 * lib/platform/qjs/prelude.ts. No policy lives here: each function is a thin system call wrapper.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <net/if.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "quickjs-libc.h"

#include "modules.h"

/* Each plugin's code is its own set of bytecode modules (plugins/main.ts, bundled per plugin
 * with the code split at its lazy imports); its entry module is "<plugin>/standalone.mjs". */
static const struct cni_module *find_module(const char *name) {
    for (size_t i = 0; i < cni_modules_count; i++)
        if (strcmp(cni_modules[i].name, name) == 0) return &cni_modules[i];
    return NULL;
}

/* Module loader: bytecode is read when a module is first imported, so a call reads only the
 * code it runs (reading bytecode is the largest part of a start-up). */
static JSModuleDef *load_module(JSContext *ctx, const char *name, void *opaque) {
    (void)opaque;
    const struct cni_module *m = find_module(name);
    if (!m) {
        JS_ThrowReferenceError(ctx, "could not load module '%s'", name);
        return NULL;
    }
    JSValue obj = JS_ReadObject(ctx, m->code, *m->size, JS_READ_OBJ_BYTECODE);
    if (JS_IsException(obj)) return NULL;
    if (JS_VALUE_GET_TAG(obj) != JS_TAG_MODULE) {
        JS_FreeValue(ctx, obj);
        JS_ThrowTypeError(ctx, "'%s' is not a module", name);
        return NULL;
    }
    JSModuleDef *def = JS_VALUE_GET_PTR(obj);
    JS_FreeValue(ctx, obj); /* the context keeps its loaded modules */
    return def;
}

/* Found by scripts/install-plugins.mjs inside an installed executable to recognise it as ours. */
#define MULTICALL_MARKER "cni-ts multi-call executable"

extern char **environ;

static JSValue string_from_utf8(JSContext *ctx, const uint8_t *p, size_t n);

/* errno of the last failed call, saved at once: the engine may call malloc & co. before
 * JavaScript gets to ask for it. */
static int last_errno;

static long saved(long r) {
    if (r < 0) last_errno = errno;
    return r;
}

/* The bytes of a typed array or ArrayBuffer argument (NULL + exception if it is neither). */
static uint8_t *bytes_of(JSContext *ctx, JSValueConst v, size_t *len) {
    size_t off, blen, bpe, size;
    uint8_t *p;
    JSValue ab = JS_GetTypedArrayBuffer(ctx, v, &off, &blen, &bpe);
    if (JS_IsException(ab)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        p = JS_GetArrayBuffer(ctx, len, v);
        return p;
    }
    p = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!p) return NULL;
    *len = blen;
    return p + off;
}

/* Argument helpers: each native function declares its arguments through these. */
#define INT(i, name) int64_t name; if (JS_ToInt64(ctx, &name, argv[i])) return JS_EXCEPTION
#define BUF(i, name) size_t name##_len; uint8_t *name = bytes_of(ctx, argv[i], &name##_len); \
    if (!name) return JS_ThrowTypeError(ctx, "expected a byte array")
/* A C string argument: a NUL-terminated Uint8Array (lib/platform/libc.ts cpath). */
#define CSTR(i, name) BUF(i, name##_b); \
    if (name##_b_len == 0 || name##_b[name##_b_len - 1] != 0) return JS_ThrowTypeError(ctx, "expected a NUL-terminated path"); \
    if (memchr(name##_b, 0, name##_b_len - 1)) return JS_ThrowTypeError(ctx, "path contains a NUL byte"); /* as node:fs refuses it */ \
    const char *name = (const char *)name##_b
/* A length argument must fit the buffer it describes: JavaScript must never write past it. */
#define FITS(len, buf) if ((len) < 0 || (size_t)(len) > buf##_len) return JS_ThrowRangeError(ctx, "length exceeds buffer")
#define FN(name) static JSValue h_##name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
#define RET(r) return JS_NewInt64(ctx, saved(r))

FN(open) { CSTR(0, path); INT(1, flags); INT(2, mode); RET(open(path, (int)flags, (mode_t)mode)); }
FN(close) { INT(0, fd); RET(close((int)fd)); }
FN(read) { INT(0, fd); BUF(1, buf); INT(2, len); FITS(len, buf); RET(read((int)fd, buf, (size_t)len)); }
FN(pread) { INT(0, fd); BUF(1, buf); INT(2, len); INT(3, off); FITS(len, buf); RET(pread((int)fd, buf, (size_t)len, (off_t)off)); }
FN(write) { INT(0, fd); BUF(1, buf); INT(2, len); FITS(len, buf); RET(write((int)fd, buf, (size_t)len)); }
FN(pwrite) { INT(0, fd); BUF(1, buf); INT(2, len); INT(3, off); FITS(len, buf); RET(pwrite((int)fd, buf, (size_t)len, (off_t)off)); }
FN(fdatasync) { INT(0, fd); RET(fdatasync((int)fd)); }
FN(ftruncate) { INT(0, fd); INT(1, len); RET(ftruncate((int)fd, (off_t)len)); }

/* fdatasync(2) on a thread of its own, so JavaScript runs on while the disk flushes (host-local
 * writes its leases before it loads the rest of its code, lib/platform/fs.ts fdatasync). Returns
 * the read end of a pipe that becomes readable, carrying the call's errno (0: done) as an int, when
 * the flush has ended; -1 when no thread could be started. The caller keeps `fd` open until then. */
struct flush_job {
    int fd, done;
};
static void *flush_thread(void *arg) {
    struct flush_job job = *(struct flush_job *)arg;
    free(arg);
    int err = fdatasync(job.fd) == 0 ? 0 : errno;
    if (write(job.done, &err, sizeof err) < 0) { /* the reader is gone: nothing to tell */ }
    close(job.done);
    return NULL;
}
FN(fdatasyncStart) {
    INT(0, fd);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) RET(-1);
    struct flush_job *job = malloc(sizeof *job);
    pthread_attr_t attr;
    pthread_t thread;
    int rc = job ? pthread_attr_init(&attr) : ENOMEM;
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024); /* it only calls fdatasync and write */
        *job = (struct flush_job){(int)fd, p[1]};
        rc = pthread_create(&thread, &attr, flush_thread, job);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        free(job);
        close(p[0]);
        close(p[1]);
        errno = rc;
        RET(-1);
    }
    RET(p[0]);
}
FN(fstat) {
    INT(0, fd);
    BUF(1, buf);
    if (buf_len < sizeof(struct stat)) return JS_ThrowRangeError(ctx, "stat buffer");
    RET(fstat((int)fd, (struct stat *)buf));
}
FN(stat) { CSTR(0, path); BUF(1, buf); if (buf_len < sizeof(struct stat)) return JS_ThrowRangeError(ctx, "stat buffer"); RET(stat(path, (struct stat *)buf)); }
FN(lstat) {
    CSTR(0, path);
    BUF(1, buf);
    if (buf_len < sizeof(struct stat)) return JS_ThrowRangeError(ctx, "stat buffer");
    RET(lstat(path, (struct stat *)buf));
}
FN(statfs) {
    CSTR(0, path);
    BUF(1, buf);
    if (buf_len < sizeof(struct statfs)) return JS_ThrowRangeError(ctx, "statfs buffer");
    RET(statfs(path, (struct statfs *)buf));
}
FN(readlink) { CSTR(0, path); BUF(1, buf); INT(2, len); FITS(len, buf); RET(readlink(path, (char *)buf, (size_t)len)); }
/* realpath(path, buf): 0 with the resolved path NUL-terminated in buf (PATH_MAX + 1 bytes), or -1. */
FN(realpath) {
    CSTR(0, path); BUF(1, buf);
    if (buf_len < PATH_MAX + 1) return JS_ThrowRangeError(ctx, "realpath buffer");
    if (!realpath(path, (char *)buf)) { last_errno = errno; return JS_NewInt32(ctx, -1); }
    return JS_NewInt32(ctx, 0);
}
FN(access) { CSTR(0, path); INT(1, mode); RET(access(path, (int)mode)); }
FN(mkdir) { CSTR(0, path); INT(1, mode); RET(mkdir(path, (mode_t)mode)); }
/* readdir(path): the entry names without "." and "..", or null (reason in errno()). */
FN(readdir) {
    CSTR(0, path);
    DIR *d = opendir(path);
    if (!d) { last_errno = errno; return JS_NULL; }
    JSValue names = JS_NewArray(ctx);
    uint32_t n = 0;
    struct dirent64 *e;
    while ((errno = 0, e = readdir64(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        JS_SetPropertyUint32(ctx, names, n++, string_from_utf8(ctx, (const uint8_t *)e->d_name, strlen(e->d_name)));
    }
    int err = errno;
    closedir(d);
    if (err) { last_errno = err; JS_FreeValue(ctx, names); return JS_NULL; }
    return names;
}
FN(link) { CSTR(0, from); CSTR(1, to); RET(link(from, to)); }
FN(unlink) { CSTR(0, path); RET(unlink(path)); }
FN(utimensat) {
    CSTR(0, path); INT(1, sec); INT(2, nsec);
    struct timespec times[2] = {{0, UTIME_OMIT}, {(time_t)sec, (long)nsec}};
    RET(utimensat(AT_FDCWD, path, times, 0));
}
/* The handler of SIGALRM during a lock wait and of SIGPIPE: the signal only interrupts or fails
 * the system call. */
static void interrupt_only(int sig) { (void)sig; }

static int64_t monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* flock(fd, op, timeout_ms): a blocking request is interrupted (EINTR) by a timer at the deadline,
 * as flock(1) -w does. Blocking, not polling: the lock is handed to a waiter the moment it is
 * released (under 20 concurrent ADDs it changes hands every few ms). The wait always ends:
 * SIGALRM is unblocked for it (a parent may start us with it blocked, and the mask is inherited),
 * and the timer keeps firing every 10 ms after the deadline, so a tick that lands just before
 * flock() starts waiting is followed by another; an interruption before the deadline (another
 * signal) waits again. */
FN(flock) {
    INT(0, fd); INT(1, op); INT(2, timeout_ms);
    if ((op & LOCK_NB) || timeout_ms <= 0) RET(flock((int)fd, (int)op));
    int64_t deadline = monotonic_ms() + timeout_ms;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupt_only; /* no SA_RESTART: the timer interrupts flock() */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old_sa);
    sigset_t alarm_only, old_mask;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_only, &old_mask);
    struct itimerval timer = {{0, 10000}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &timer, NULL);
    int r, e;
    do {
        r = flock((int)fd, (int)op);
        e = errno;
    } while (r < 0 && e == EINTR && monotonic_ms() < deadline);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old_sa, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    if (r < 0) last_errno = e;
    return JS_NewInt32(ctx, r);
}
FN(socket) { INT(0, domain); INT(1, type); INT(2, proto); RET(socket((int)domain, (int)type, (int)proto)); }
FN(send) { INT(0, fd); BUF(1, buf); INT(2, len); INT(3, flags); FITS(len, buf); RET(send((int)fd, buf, (size_t)len, (int)flags)); }
FN(recv) { INT(0, fd); BUF(1, buf); INT(2, len); INT(3, flags); FITS(len, buf); RET(recv((int)fd, buf, (size_t)len, (int)flags)); }
FN(setsockopt) {
    INT(0, fd);
    INT(1, level);
    INT(2, name);
    BUF(3, val);
    INT(4, len);
    FITS(len, val);
    RET(setsockopt((int)fd, (int)level, (int)name, val, (socklen_t)len));
}
/* socketpair(domain, type, protocol, fds: 8-byte buffer receiving two ints) */
FN(socketpair) {
    INT(0, domain); INT(1, type); INT(2, proto); BUF(3, fds);
    if (fds_len < 2 * sizeof(int)) return JS_ThrowRangeError(ctx, "socketpair buffer");
    RET(socketpair((int)domain, (int)type, (int)proto, (int *)fds));
}
FN(setns) { INT(0, fd); INT(1, nstype); RET(setns((int)fd, (int)nstype)); }
/* Only the interface requests lib/kernel/netlink.ts makes (struct ifreq in and out): any other
 * request code would let JavaScript pass a 40-byte buffer where the kernel reads or writes more. */
FN(ioctl) {
    INT(0, fd); INT(1, req); BUF(2, arg);
    if (req != SIOCGIFNAME && req != SIOCGIFINDEX) return JS_ThrowRangeError(ctx, "ioctl request 0x%llx not allowed", (unsigned long long)req);
    if (arg_len < sizeof(struct ifreq)) return JS_ThrowRangeError(ctx, "ifreq buffer");
    RET(ioctl((int)fd, (unsigned long)req, arg));
}
FN(errno) { return JS_NewInt32(ctx, last_errno); }

FN(getrandom) {
    BUF(0, buf);
    for (size_t done = 0; done < buf_len;) {
        ssize_t n = getrandom(buf + done, buf_len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return JS_ThrowInternalError(ctx, "getrandom: %s", strerror(errno));
        }
        done += (size_t)n;
    }
    return JS_UNDEFINED;
}

/* --- UTF-8 (TextEncoder / TextDecoder) --- */

/* QuickJS writes a lone UTF-16 surrogate as its 3-byte form (ED A0..BF xx); TextEncoder and
 * node:crypto write U+FFFD (EF BF BD), also 3 bytes: replaced in place, so both builds derive the
 * same bytes (file names, hashes) from the same string. A valid pair is one 4-byte sequence. */
static void replace_lone_surrogates(uint8_t *p, size_t n) {
    for (size_t i = 0; i + 2 < n; i++)
        if (p[i] == 0xed && p[i + 1] >= 0xa0 && p[i + 1] <= 0xbf) {
            p[i] = 0xef, p[i + 1] = 0xbf, p[i + 2] = 0xbd;
            i += 2;
        }
}

/* The UTF-8 bytes of a JS string in a buffer the caller frees (NULL + exception on failure). */
static uint8_t *utf8_of(JSContext *ctx, JSValueConst v, size_t *len) {
    const char *s = JS_ToCStringLen(ctx, len, v);
    if (!s) return NULL;
    uint8_t *copy = js_malloc(ctx, *len + 1);
    if (copy) {
        memcpy(copy, s, *len + 1);
        replace_lone_surrogates(copy, *len);
    }
    JS_FreeCString(ctx, s);
    return copy;
}

FN(utf8Encode) {
    size_t len;
    uint8_t *s = utf8_of(ctx, argv[0], &len);
    if (!s) return JS_EXCEPTION;
    JSValue ab = JS_NewArrayBufferCopy(ctx, s, len);
    js_free(ctx, s);
    return ab;
}

/*
 * UTF-8 decoding as TextDecoder does it (the WHATWG Encoding Standard's decoder): each maximal
 * subpart of an ill-formed sequence becomes one U+FFFD and decoding resumes at the byte that ended
 * it, so `80 41` is U+FFFD "A" and `E2 82 41` is U+FFFD "A" (the byte that broke a sequence is never
 * swallowed: two different byte strings such as directory entries never decode alike because of
 * it). Overlongs, surrogates and code points past U+10FFFF are caught by narrowing the range of the
 * first continuation byte. Writes well-formed UTF-8 (at most 3 bytes per input byte: a U+FFFD) to
 * `out` when given and returns its length; *errors counts the replacements.
 */
static size_t utf8_sanitize(const uint8_t *p, size_t n, uint8_t *out, size_t *errors) {
    size_t o = 0, start = 0;
    unsigned needed = 0, seen = 0;
    uint8_t lower = 0x80, upper = 0xbf;
    *errors = 0;
#define EMIT(src, len) do { if (out) memcpy(out + o, (src), (len)); o += (len); } while (0)
#define REPLACE() do { EMIT("\xef\xbf\xbd", 3); (*errors)++; } while (0)
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (needed == 0) {
            start = i;
            if (c < 0x80) { EMIT(&p[i], 1); continue; }
            if (c >= 0xc2 && c <= 0xdf) needed = 1;
            else if (c >= 0xe0 && c <= 0xef) {
                needed = 2;
                if (c == 0xe0) lower = 0xa0; /* overlong */
                if (c == 0xed) upper = 0x9f; /* UTF-16 surrogates */
            } else if (c >= 0xf0 && c <= 0xf4) {
                needed = 3;
                if (c == 0xf0) lower = 0x90; /* overlong */
                if (c == 0xf4) upper = 0x8f; /* past U+10FFFF */
            } else REPLACE(); /* a continuation byte without a lead, C0, C1, F5..FF */
            continue;
        }
        if (c < lower || c > upper) {
            /* The subpart so far is one error; `c` starts over (it may be ASCII or a lead byte). */
            needed = seen = 0;
            lower = 0x80, upper = 0xbf;
            REPLACE();
            i--;
            continue;
        }
        lower = 0x80, upper = 0xbf;
        if (++seen == needed) {
            EMIT(&p[start], needed + 1);
            needed = seen = 0;
        }
    }
    if (needed) REPLACE(); /* truncated at the end */
#undef REPLACE
#undef EMIT
    return o;
}

/* A JS string from bytes that should be UTF-8, decoded as TextDecoder does (ill-formed parts
 * become U+FFFD): file names, environment variables, a child's output. */
static JSValue string_from_utf8(JSContext *ctx, const uint8_t *p, size_t n) {
    size_t errors, len = utf8_sanitize(p, n, NULL, &errors);
    if (errors == 0) return JS_NewStringLen(ctx, (const char *)p, n);
    uint8_t *clean = js_malloc(ctx, len);
    if (!clean) return JS_EXCEPTION;
    utf8_sanitize(p, n, clean, &errors);
    JSValue str = JS_NewStringLen(ctx, (const char *)clean, len);
    js_free(ctx, clean);
    return str;
}

FN(utf8Decode) {
    BUF(0, buf);
    int fatal = JS_ToBool(ctx, argv[1]);
    /* A leading BOM is dropped, as TextDecoder does by default. */
    if (buf_len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf) buf += 3, buf_len -= 3;
    size_t errors;
    if (fatal && (utf8_sanitize(buf, buf_len, NULL, &errors), errors))
        return JS_ThrowTypeError(ctx, "The encoded data was not valid for encoding utf-8");
    return string_from_utf8(ctx, buf, buf_len);
}

/* --- SHA-1 and SHA-512 (lib/platform/hash.ts: the reference plugins' name hashes) --- */

#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define ROR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

/* Merkle–Damgård padding shared by both: the message, 0x80, zeros, then its bit length big-endian
 * in the last `length_bytes` of the last block (the top 8 are enough for any length we hash). */
static size_t padded_length(size_t len, size_t block, size_t length_bytes) { return ((len + length_bytes) / block + 1) * block; }

static void padded_block(const uint8_t *msg, size_t len, size_t off, size_t total, uint8_t *blk, size_t block) {
    for (size_t i = 0; i < block; i++) {
        size_t k = off + i;
        blk[i] = k < len ? msg[k] : k == len ? 0x80 : 0;
    }
    if (off + block == total)
        for (int i = 0; i < 8; i++) blk[block - 1 - i] = (uint8_t)(((uint64_t)len * 8) >> (8 * i));
}

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    size_t total = padded_length(len, 64, 8);
    for (size_t off = 0; off < total; off += 64) {
        uint8_t blk[64];
        padded_block(msg, len, off, total, blk, 64);
        uint32_t w[80];
        for (int i = 0; i < 16; i++) w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
            else { f = b ^ c ^ d; k = 0xca62c1d6; }
            uint32_t t = ROL32(a, 5) + f + e + k + w[i];
            e = d; d = c; c = ROL32(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    for (int i = 0; i < 20; i++) out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static const uint64_t K512[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL, 0x3956c25bf348b538ULL,
    0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL, 0xd807aa98a3030242ULL, 0x12835b0145706fbeULL,
    0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL, 0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL,
    0xc19bf174cf692694ULL, 0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL, 0x983e5152ee66dfabULL,
    0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL, 0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL,
    0x06ca6351e003826fULL, 0x142929670a0e6e70ULL, 0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL,
    0x53380d139d95b3dfULL, 0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL, 0xd192e819d6ef5218ULL,
    0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL, 0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL,
    0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL, 0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL,
    0x682e6ff3d6b2b8a3ULL, 0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL, 0xca273eceea26619cULL,
    0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL, 0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL,
    0x113f9804bef90daeULL, 0x1b710b35131c471bULL, 0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL,
    0x431d67c49c100d4cULL, 0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

static void sha512(const uint8_t *msg, size_t len, uint8_t out[64]) {
    uint64_t h[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
                     0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    size_t total = padded_length(len, 128, 16);
    for (size_t off = 0; off < total; off += 128) {
        uint8_t blk[128];
        padded_block(msg, len, off, total, blk, 128);
        uint64_t w[80];
        for (int i = 0; i < 16; i++) {
            w[i] = 0;
            for (int j = 0; j < 8; j++) w[i] = (w[i] << 8) | blk[8 * i + j];
        }
        for (int i = 16; i < 80; i++) {
            uint64_t s0 = ROR64(w[i - 15], 1) ^ ROR64(w[i - 15], 8) ^ (w[i - 15] >> 7);
            uint64_t s1 = ROR64(w[i - 2], 19) ^ ROR64(w[i - 2], 61) ^ (w[i - 2] >> 6);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 80; i++) {
            uint64_t t1 = hh + (ROR64(e, 14) ^ ROR64(e, 18) ^ ROR64(e, 41)) + ((e & f) ^ (~e & g)) + K512[i] + w[i];
            uint64_t t2 = (ROR64(a, 28) ^ ROR64(a, 34) ^ ROR64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    for (int i = 0; i < 64; i++) out[i] = (uint8_t)(h[i / 8] >> (56 - 8 * (i % 8)));
}

/* hexDigest(algorithm, text): the UTF-8 bytes of `text` hashed, as lowercase hex. */
FN(hexDigest) {
    const char *alg = JS_ToCString(ctx, argv[0]);
    if (!alg) return JS_EXCEPTION;
    int is512 = strcmp(alg, "sha512") == 0, is1 = strcmp(alg, "sha1") == 0;
    JS_FreeCString(ctx, alg);
    if (!is512 && !is1) return JS_ThrowTypeError(ctx, "unsupported digest");
    size_t len;
    uint8_t *s = utf8_of(ctx, argv[1], &len);
    if (!s) return JS_EXCEPTION;
    uint8_t d[64];
    size_t n = is512 ? 64 : 20;
    if (is512) sha512(s, len, d); else sha1(s, len, d);
    js_free(ctx, s);
    char hex[129];
    for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return JS_NewStringLen(ctx, hex, 2 * n);
}

/* --- process --- */

FN(environ) {
    JSValue obj = JS_NewObject(ctx);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        JSAtom key = JS_NewAtomLen(ctx, *e, (size_t)(eq - *e));
        if (key == JS_ATOM_NULL) return JS_EXCEPTION;
        /* A name listed twice keeps its first value, as getenv(3), Node and Go read it. Defined,
         * not assigned: a variable named __proto__ stays a variable. */
        int known = JS_GetOwnProperty(ctx, NULL, obj, key);
        if (known == 0) JS_DefinePropertyValue(ctx, obj, key, string_from_utf8(ctx, (const uint8_t *)eq + 1, strlen(eq + 1)), JS_PROP_C_W_E);
        JS_FreeAtom(ctx, key);
        if (known < 0) return JS_EXCEPTION;
    }
    return obj;
}

FN(exit) {
    INT(0, code);
    fflush(stdout);
    fflush(stderr);
    _exit((int)code); /* nothing to tear down: every result is already written with write(2) */
}

static const JSCFunctionListEntry host_funcs[] = {
    JS_CFUNC_DEF("open", 3, h_open), JS_CFUNC_DEF("close", 1, h_close), JS_CFUNC_DEF("read", 3, h_read),
    JS_CFUNC_DEF("pread", 4, h_pread), JS_CFUNC_DEF("write", 3, h_write), JS_CFUNC_DEF("pwrite", 4, h_pwrite),
    JS_CFUNC_DEF("fdatasync", 1, h_fdatasync), JS_CFUNC_DEF("fdatasyncStart", 1, h_fdatasyncStart),
    JS_CFUNC_DEF("ftruncate", 2, h_ftruncate),
    JS_CFUNC_DEF("fstat", 2, h_fstat), JS_CFUNC_DEF("stat", 2, h_stat), JS_CFUNC_DEF("lstat", 2, h_lstat),
    JS_CFUNC_DEF("statfs", 2, h_statfs), JS_CFUNC_DEF("readlink", 3, h_readlink), JS_CFUNC_DEF("realpath", 2, h_realpath),
    JS_CFUNC_DEF("access", 2, h_access), JS_CFUNC_DEF("mkdir", 2, h_mkdir), JS_CFUNC_DEF("readdir", 1, h_readdir),
    JS_CFUNC_DEF("link", 2, h_link), JS_CFUNC_DEF("unlink", 1, h_unlink), JS_CFUNC_DEF("utimensat", 3, h_utimensat),
    JS_CFUNC_DEF("flock", 3, h_flock), JS_CFUNC_DEF("socket", 3, h_socket), JS_CFUNC_DEF("send", 4, h_send),
    JS_CFUNC_DEF("recv", 4, h_recv), JS_CFUNC_DEF("setsockopt", 5, h_setsockopt),
    JS_CFUNC_DEF("setns", 2, h_setns), JS_CFUNC_DEF("socketpair", 4, h_socketpair),
    JS_CFUNC_DEF("ioctl", 3, h_ioctl), JS_CFUNC_DEF("errno", 0, h_errno), JS_CFUNC_DEF("getrandom", 1, h_getrandom),
    JS_CFUNC_DEF("utf8Encode", 1, h_utf8Encode), JS_CFUNC_DEF("utf8Decode", 2, h_utf8Decode),
    JS_CFUNC_DEF("hexDigest", 2, h_hexDigest), JS_CFUNC_DEF("environ", 0, h_environ), JS_CFUNC_DEF("exit", 1, h_exit),
};

/* The plugin to run: the name this executable was invoked by (a link such as /opt/cni/bin/bridge),
 * else its first argument (`cni-ts bridge`); -1 when neither names one. */
static int select_plugin(int argc, char **argv) {
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    const char *own = argc > 0 ? (slash ? slash + 1 : argv[0]) : "";
    for (size_t i = 0; i < cni_plugins_count; i++)
        if (strcmp(own, cni_plugins[i]) == 0) return (int)i;
    for (size_t i = 0; argc > 1 && i < cni_plugins_count; i++)
        if (strcmp(argv[1], cni_plugins[i]) == 0) return (int)i;
    return -1;
}

/* ---- memory for the JavaScript engine ----
 * A plugin process lives for milliseconds, and its engine allocates and frees tens of thousands of
 * small blocks (objects, strings, shapes, bytecode read at each import). Through glibc's malloc that
 * was ~20% of the instructions of every call (binning and coalescing, and the malloc_usable_size
 * QuickJS's accounting asks after each call): callgrind, VERSION 3.03 -> 2.37 M, host-local ADD
 * 8.96 -> 7.07 M, bridge STATUS 10.31 -> 8.21 M; CPU time of a host-local STATUS -20%, for ~130 KiB
 * more resident memory. Blocks come from one arena reserved at start, whose pages the kernel
 * provides on first touch: a freed block of at most SMALL_MAX bytes goes onto the free list of its
 * size class and serves the next block of that class, a larger one is taken back only when it is the
 * last one handed out (the common case for a string or array that grew and was freed). Once the arena
 * is used up, blocks come from malloc, so a call that handles much data (GC of thousands of leases)
 * is bounded by memory as before, not by the arena. Only the engine's thread allocates here. */
#define ARENA_SIZE ((size_t)256 << 20) /* address space; untouched pages cost nothing */
#define ARENA_ALIGN 16
#define ARENA_HEADER 16 /* block size (usable bytes), kept in front of the block: alignment */
#define SMALL_MAX 512
static uint8_t *arena_base, *arena_next, *arena_end;
static void *arena_free_lists[SMALL_MAX / ARENA_ALIGN + 1];

static inline size_t arena_round(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }
static inline int in_arena(const void *p) { return (const uint8_t *)p >= arena_base && (const uint8_t *)p < arena_end; }
static inline size_t *arena_size_of(const void *p) { return (size_t *)((uint8_t *)p - ARENA_HEADER); }

static size_t arena_usable_size(const void *p) {
    if (!p) return 0;
    return in_arena(p) ? *arena_size_of(p) : malloc_usable_size((void *)p);
}

static void *arena_malloc(JSMallocState *s, size_t size) {
    size_t n = arena_round(size ? size : 1);
    void *p = NULL;
    if (n <= SMALL_MAX && arena_free_lists[n / ARENA_ALIGN]) {
        p = arena_free_lists[n / ARENA_ALIGN];
        arena_free_lists[n / ARENA_ALIGN] = *(void **)p;
    } else if (arena_base && (size_t)(arena_end - arena_next) >= n + ARENA_HEADER) {
        p = arena_next + ARENA_HEADER;
        arena_next += n + ARENA_HEADER;
        *arena_size_of(p) = n;
    } else {
        if (s->malloc_size + size > s->malloc_limit) return NULL;
        p = malloc(size);
        if (!p) return NULL;
        n = malloc_usable_size(p);
    }
    s->malloc_count++;
    s->malloc_size += n;
    return p;
}

static void arena_free(JSMallocState *s, void *p) {
    if (!p) return;
    size_t n = arena_usable_size(p);
    s->malloc_count--;
    s->malloc_size -= n;
    if (!in_arena(p)) {
        free(p);
    } else if ((uint8_t *)p + n == arena_next) {
        arena_next = (uint8_t *)p - ARENA_HEADER;
    } else if (n <= SMALL_MAX) {
        *(void **)p = arena_free_lists[n / ARENA_ALIGN];
        arena_free_lists[n / ARENA_ALIGN] = p;
    }
}

static void *arena_realloc(JSMallocState *s, void *p, size_t size) {
    if (!p) return size ? arena_malloc(s, size) : NULL;
    if (size == 0) {
        arena_free(s, p);
        return NULL;
    }
    size_t old = arena_usable_size(p);
    if (in_arena(p)) {
        size_t n = arena_round(size);
        if (n <= old) return p;
        if ((uint8_t *)p + old == arena_next && (size_t)(arena_end - (uint8_t *)p) >= n) { /* the last block grows in place */
            arena_next = (uint8_t *)p + n;
            *arena_size_of(p) = n;
            s->malloc_size += n - old;
            return p;
        }
    } else {
        void *q = realloc(p, size);
        if (!q) return NULL;
        s->malloc_size += malloc_usable_size(q) - old;
        return q;
    }
    void *q = arena_malloc(s, size);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    arena_free(s, p);
    return q;
}

static const JSMallocFunctions arena_functions = {arena_malloc, arena_free, arena_realloc, arena_usable_size};

static void arena_init(void) {
    void *m = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return; /* every block from malloc */
    arena_base = arena_next = m;
    arena_end = arena_base + ARENA_SIZE;
}

int main(int argc, char **argv) {
    int plugin = select_plugin(argc, argv);
    if (plugin < 0) {
        fprintf(stderr, MULTICALL_MARKER "; usage: cni-ts <");
        for (size_t i = 0; i < cni_plugins_count; i++) fprintf(stderr, "%s%s", i ? "|" : "", cni_plugins[i]);
        fprintf(stderr, ">, or invoke it through a link named after the plugin\n");
        return 1;
    }
    /* A closed stdout fails the write with EPIPE (lib/cni/stdio.ts then exits 70) instead of
     * killing the plugin. Handled, not ignored: an ignored signal stays ignored in the programs we
     * exec (iptables, nft), a handled one is reset to its default there. */
    struct sigaction pipe_sa;
    memset(&pipe_sa, 0, sizeof pipe_sa);
    pipe_sa.sa_handler = interrupt_only;
    sigemptyset(&pipe_sa.sa_mask);
    sigaction(SIGPIPE, &pipe_sa, NULL);
    arena_init();
    JSRuntime *rt = JS_NewRuntime2(&arena_functions, NULL);
    if (!rt) return 70;
    /* A plugin lives for milliseconds and allocates a few MiB: reference counting frees almost
     * everything, and a cycle collection during start-up only costs time (~10% of a VERSION). */
    JS_SetGCThreshold(rt, 64 << 20);
    js_std_init_handlers(rt);
    JSContext *ctx = JS_NewContext(rt);
    if (!ctx) return 70;
    JS_SetModuleLoaderFunc(rt, NULL, load_module, NULL);
    js_init_module_os(ctx, "os"); /* timers, pipes and child processes for lib/platform/qjs/prelude.ts */
    js_std_add_helpers(ctx, argc, argv); /* scriptArgs */

    JSValue global = JS_GetGlobalObject(ctx);
    JSValue host = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, host, host_funcs, sizeof host_funcs / sizeof host_funcs[0]);
    char exe[PATH_MAX + 1];
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX);
    JS_SetPropertyStr(ctx, host, "execPath", JS_NewStringLen(ctx, exe, n > 0 ? (size_t)n : 0));
    JS_SetPropertyStr(ctx, host, "pid", JS_NewInt32(ctx, getpid()));
    JS_SetPropertyStr(ctx, global, "__cniHost", host);
    JS_FreeValue(ctx, global);

    /* First the runtime surface (lib/platform/qjs/prelude.ts), then the plugin's entry module. Each exits 1
     * with the error on stderr if it throws. */
    char entry[64];
    snprintf(entry, sizeof entry, "%s/standalone.mjs", cni_plugins[plugin]);
    const struct cni_module *prelude = find_module("prelude.mjs"), *m = find_module(entry);
    if (!prelude || !m) return 70;
    js_std_eval_binary(ctx, prelude->code, *prelude->size, 0);
    js_std_eval_binary(ctx, m->code, *m->size, 0);
    js_std_loop(ctx); /* promises and timers until nothing is pending */

    /* Every finished call leaves through process.exit() (lib/cni/stdio.ts main). Getting here means the
     * entry never finished (a rejected promise nothing awaited): fail, as Node does, never exit 0
     * without a result. */
    fprintf(stderr, "%s: ended without a result\n", cni_plugins[plugin]);
    fflush(stderr);
    _exit(70);
}
