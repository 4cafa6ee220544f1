/* A fake NVML: a shared library exporting the NVML entry points gpuaas
 * uses (src/gpu/nvml_types.h), answering from a description file, so the
 * real dlopen path runs on machines without a GPU. libc only; it is loaded
 * into the gpuaas process. Built by mk/fakenvml.mk, never into libgpuaas.a.
 *
 * The file is named by the environment variable GPUAAS_FAKE_NVML_CONFIG
 * (read at nvmlInit_v2). One directive a line; '#' outside quotes starts a
 * comment; words are separated by blanks; a value may be "double quoted"
 * (no escapes, no '"' inside).
 *
 *   seed <word>          optional; UUIDs derive from it and the indices
 *   driver <version>     optional; default "0.0-fake"
 *   gpu key=value ...    one GPU; index = order of the gpu lines (0-based)
 *   xid gpu=<i> code=<n> an XID error event on GPU i (an append-only log)
 *
 * gpu keys (each at most once; name or model is required):
 *   name="NVIDIA A10G"   what nvmlDeviceGetName answers (1..63 characters)
 *   model=A10G           shorthand: name defaults to "NVIDIA <model>"
 *   memory=24Gi          total memory (plain bytes or Ki/Mi/Gi/Ti, K/M/G/T)
 *   mem_used=1Gi         used memory (default 0, at most memory)
 *   util=0..100          GPU utilisation %, mem_util=0..100 memory one
 *   temp=<C>  power_mw=<mW>  ecc=<volatile uncorrected count>
 *   mig_mode=0|1         MIG capable, off/on
 *   mig=1g.5gb,1g.5gb,2g.10gb  MIG devices (implies mig_mode=1); each
 *                        "<n>g.<m>gb[+suffix]", m GiB of memory, or "-"
 *                        for an empty slot (NVML_ERROR_NOT_FOUND); the
 *                        GPU instance id is the slot + 1, the compute
 *                        instance id 0
 * A key left out makes its NVML call answer NVML_ERROR_NOT_SUPPORTED
 * (without mig_mode/mig: a GPU without MIG), so "not available" paths can
 * be tested; a GPU with util but no mem_util reports memory util 0.
 *
 * Changing things while a process runs:
 * - the file is read again on any call once its inode, size or mtime has
 *   changed, and on every call in the 2 s after a change (so that two
 *   writes within one clock tick are not missed); write a new file and
 *   rename it over the old one, so no reader sees half of it. A new file
 *   that does not parse, or that has a different number of GPUs (a torn
 *   write), is ignored and the previous state kept.
 * - <directory of the file>/util/<gpu index>, if it exists and holds a
 *   number 0..100, overrides that GPU's util on every read.
 * - XID events: an event set delivers each xid line once, in file order,
 *   those present when the set was created included (real NVML reports
 *   only later ones); append a line to post a new event. Waiting never
 *   blocks: no event pending answers NVML_ERROR_TIMEOUT at once.
 *
 * Limits: 16 GPUs, 7 MIG devices each, 256 xid lines, a 64 KiB file, 1024
 * byte lines. Anything malformed makes nvmlInit_v2 fail with
 * NVML_ERROR_UNKNOWN; nvmlErrorString then names the file, line and
 * problem. Without the variable nvmlInit_v2 answers
 * NVML_ERROR_LIBRARY_NOT_FOUND ("GPUAAS_FAKE_NVML_CONFIG not set").
 * UUIDs are GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (MIG-... for MIG
 * devices): a hash of the seed and the indices, whose last four hex digits
 * encode the GPU and MIG index, so they are stable and unique per file.
 * All state is static and guarded by one mutex: no allocation, nothing
 * to free at dlclose.
 *
 * Built with -DFAKENVML_CORE_ONLY it exports only the entry points gpuaas
 * cannot do without, to test how it copes with an old or partial library. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpu/nvml_types.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

#define FAKE_GPUS_MAX 16
#define FAKE_MIG_MAX 7
#define FAKE_XID_MAX 256
#define FAKE_EVENT_SETS_MAX 8
#define FAKE_FILE_MAX (64 * 1024)
#define FAKE_LINE_MAX 1024
#define FAKE_PATH_MAX 4096
#define FAKE_NAME_MAX 96
#define FAKE_PROFILE_MAX 24
/* short enough that "<name> MIG <profile>" fits NVML's 96-byte buffer */
#define FAKE_GPU_NAME_MAX 63
#define FAKE_ERROR_MAX 512
#define FAKE_ENV "GPUAAS_FAKE_NVML_CONFIG"
#define FAKE_RACY_S 2

/* A device handle: a GPU (mig < 0) or one of its MIG devices. Handles are
 * slots in static tables, so they stay valid across reloads. */
struct nvmlDevice_st {
    unsigned gpu;
    int mig;
};

struct nvmlEventSet_st {
    bool used;
    unsigned long long types[FAKE_GPUS_MAX]; /* registered per GPU */
    unsigned cursor;                         /* next xid line to deliver */
};

struct fake_mig {
    char profile[FAKE_PROFILE_MAX]; /* "": an empty slot */
    long long memory;
};

struct fake_gpu {
    char name[FAKE_NAME_MAX];
    long long memory, mem_used, power_mw, ecc; /* -1: not given */
    int util, mem_util, temp, mig_mode;        /* -1: not given */
    unsigned mig_count;
    struct fake_mig mig[FAKE_MIG_MAX];
};

struct fake_xid {
    unsigned gpu;
    unsigned long long code;
};

struct fake_config {
    char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    uint64_t seed;
    unsigned gpu_count;
    struct fake_gpu gpu[FAKE_GPUS_MAX];
    unsigned xid_count;
    struct fake_xid xid[FAKE_XID_MAX];
};

/* The file's identity when last read: a change means "read it again". */
struct fake_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_init_refs; /* nvmlInit/nvmlShutdown nest, as in NVML */
static char g_path[FAKE_PATH_MAX];
static struct fake_stamp g_stamp;
static struct fake_config g_cfg;
static struct fake_config g_scratch; /* parse target, under g_lock */
static char g_file[FAKE_FILE_MAX + 1];
static struct nvmlDevice_st g_gpu_handle[FAKE_GPUS_MAX];
static struct nvmlDevice_st g_mig_handle[FAKE_GPUS_MAX][FAKE_MIG_MAX];
static struct nvmlEventSet_st g_event_set[FAKE_EVENT_SETS_MAX];
/* The last nvmlInit_v2 failure, for nvmlErrorString. */
static nvmlReturn_t g_error_code = NVML_SUCCESS;
static char g_error[FAKE_ERROR_MAX];

/* ---- parsing ------------------------------------------------------------ */

struct parser {
    const char *path;
    unsigned line;
    char *err;
    size_t err_size;
};

__attribute__((format(printf, 2, 3))) static int parse_fail(struct parser *p, const char *fmt, ...)
{
    char what[FAKE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->line)
        snprintf(p->err, p->err_size, "fake NVML: %s:%u: %s", p->path, p->line, what);
    else
        snprintf(p->err, p->err_size, "fake NVML: %s: %s", p->path, what);
    return -1;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads an unsigned decimal number of at most 18 digits at *s. */
static bool read_number(const char **s, unsigned long long *ret)
{
    unsigned long long v = 0;
    int n = 0;
    for (; is_digit(**s); (*s)++) {
        if (++n > 18)
            return false;
        v = v * 10 + (unsigned long long)(**s - '0');
    }
    if (n == 0)
        return false;
    *ret = v;
    return true;
}

static bool parse_uint(const char *text, unsigned long long max, unsigned long long *ret)
{
    unsigned long long v;
    if (!read_number(&text, &v) || *text || v > max)
        return false;
    *ret = v;
    return true;
}

/* "24Gi", "512Mi", "80G", "1073741824" -> bytes. */
static bool parse_bytes(const char *text, long long *ret)
{
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } units[] = {
        {"", 1ULL},          {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30},
        {"Ti", 1ULL << 40},  {"K", 1000ULL},     {"M", 1000000ULL},  {"G", 1000000000ULL},
        {"T", 1000000000000ULL},
    };
    unsigned long long v;
    if (!read_number(&text, &v))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(text, units[i].suffix) != 0)
            continue;
        if (v > (unsigned long long)INT64_MAX / units[i].mult)
            return false;
        *ret = (long long)(v * units[i].mult);
        return true;
    }
    return false;
}

/* "<n>g.<m>gb[+suffix]": the MIG profile names drivers use. */
static bool parse_profile(const char *text, size_t len, struct fake_mig *ret)
{
    char buf[FAKE_PROFILE_MAX];
    unsigned long long slices, gb;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    const char *s = buf;
    if (!read_number(&s, &slices) || slices < 1 || slices > 8 || strncmp(s, "g.", 2) != 0)
        return false;
    s += 2;
    if (!read_number(&s, &gb) || gb < 1 || gb > 1024 || strncmp(s, "gb", 2) != 0)
        return false;
    s += 2;
    if (*s == '+') {
        s++;
        if (!*s)
            return false;
        for (; *s; s++)
            if (!((*s >= 'a' && *s <= 'z') || is_digit(*s)))
                return false;
    } else if (*s) {
        return false;
    }
    memcpy(ret->profile, buf, len + 1);
    ret->memory = (long long)(gb << 30);
    return true;
}

/* Splits the next word off *s into a NUL-terminated token, handling one
 * "quoted" part. Returns 0 (token), 1 (end of line) or -1 (bad quoting). */
static int next_token(char **s, char **ret)
{
    char *p = *s;
    while (is_blank(*p))
        p++;
    if (!*p || *p == '#')
        return 1;
    char *start = p, *out = p;
    bool quoted = false;
    for (; *p && (quoted || !is_blank(*p)); p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (*p == '#' && !quoted)
            break;
        *out++ = *p;
    }
    if (quoted)
        return -1;
    /* a comment right after the word ends the line */
    bool end = *p == '#';
    if (*p && !end)
        p++;
    *out = '\0';
    *s = end ? p + strlen(p) : p;
    *ret = start;
    return 0;
}

static int parse_gpu_key(struct parser *p, struct fake_gpu *g, const char *key, const char *value,
                         char *model)
{
    unsigned long long u;
    if (strcmp(key, "name") == 0) {
        if (!*value || strlen(value) > FAKE_GPU_NAME_MAX)
            return parse_fail(p, "name must be 1..%d characters", FAKE_GPU_NAME_MAX);
        memcpy(g->name, value, strlen(value) + 1);
    } else if (strcmp(key, "model") == 0) {
        if (!*value || strlen(value) >= 32)
            return parse_fail(p, "model must be 1..31 characters");
        memcpy(model, value, strlen(value) + 1);
    } else if (strcmp(key, "memory") == 0) {
        if (!parse_bytes(value, &g->memory) || g->memory == 0)
            return parse_fail(p, "memory: want bytes like 24Gi, got \"%s\"", value);
    } else if (strcmp(key, "mem_used") == 0) {
        if (!parse_bytes(value, &g->mem_used))
            return parse_fail(p, "mem_used: want bytes like 1Gi, got \"%s\"", value);
    } else if (strcmp(key, "util") == 0 || strcmp(key, "mem_util") == 0) {
        if (!parse_uint(value, 100, &u))
            return parse_fail(p, "%s: want 0..100, got \"%s\"", key, value);
        *(strcmp(key, "util") == 0 ? &g->util : &g->mem_util) = (int)u;
    } else if (strcmp(key, "temp") == 0) {
        if (!parse_uint(value, 200, &u))
            return parse_fail(p, "temp: want 0..200, got \"%s\"", value);
        g->temp = (int)u;
    } else if (strcmp(key, "power_mw") == 0) {
        if (!parse_uint(value, 10000000, &u))
            return parse_fail(p, "power_mw: want 0..10000000, got \"%s\"", value);
        g->power_mw = (long long)u;
    } else if (strcmp(key, "ecc") == 0) {
        if (!parse_uint(value, 1000000000000ULL, &u))
            return parse_fail(p, "ecc: want a count, got \"%s\"", value);
        g->ecc = (long long)u;
    } else if (strcmp(key, "mig_mode") == 0) {
        if (!parse_uint(value, 1, &u))
            return parse_fail(p, "mig_mode: want 0 or 1, got \"%s\"", value);
        g->mig_mode = (int)u;
    } else if (strcmp(key, "mig") == 0) {
        for (const char *s = value;;) {
            size_t n = strcspn(s, ",");
            if (g->mig_count == FAKE_MIG_MAX)
                return parse_fail(p, "mig: at most %d MIG devices", FAKE_MIG_MAX);
            if (n == 1 && s[0] == '-')
                g->mig[g->mig_count].profile[0] = '\0';
            else if (!parse_profile(s, n, &g->mig[g->mig_count]))
                return parse_fail(p, "mig: want profiles like 1g.5gb, got \"%.*s\"", (int)n, s);
            g->mig_count++;
            if (!s[n])
                break;
            s += n + 1;
        }
    } else {
        return parse_fail(p, "unknown gpu key \"%s\"", key);
    }
    return 0;
}

static int parse_gpu(struct parser *p, struct fake_config *cfg, char *rest)
{
    static const char *const keys[] = {"name", "model", "memory", "mem_used", "util", "mem_util",
                                       "temp", "power_mw", "ecc", "mig_mode", "mig"};
    bool seen[sizeof keys / sizeof keys[0]] = {false};
    char model[32] = "";
    if (cfg->gpu_count == FAKE_GPUS_MAX)
        return parse_fail(p, "at most %d gpu lines", FAKE_GPUS_MAX);
    struct fake_gpu *g = &cfg->gpu[cfg->gpu_count];
    memset(g, 0, sizeof *g);
    g->memory = g->mem_used = g->power_mw = g->ecc = -1;
    g->util = g->mem_util = g->temp = g->mig_mode = -1;

    char *tok;
    int t;
    while ((t = next_token(&rest, &tok)) == 0) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return parse_fail(p, "want key=value, got \"%s\"", tok);
        *eq = '\0';
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], tok) != 0)
            k++;
        if (k < sizeof keys / sizeof keys[0]) {
            if (seen[k])
                return parse_fail(p, "gpu key \"%s\" given twice", tok);
            seen[k] = true;
        }
        if (parse_gpu_key(p, g, tok, eq + 1, model) < 0)
            return -1;
    }
    if (t < 0)
        return parse_fail(p, "unterminated quote");
    if (!g->name[0] && !model[0])
        return parse_fail(p, "gpu needs name= or model=");
    if (!g->name[0])
        snprintf(g->name, sizeof g->name, "NVIDIA %s", model);
    if (g->mem_used >= 0 && (g->memory < 0 || g->mem_used > g->memory))
        return parse_fail(p, "mem_used needs memory= and must not exceed it");
    if (g->memory >= 0 && g->mem_used < 0)
        g->mem_used = 0;
    if (g->util >= 0 && g->mem_util < 0)
        g->mem_util = 0;
    if (g->mig_count > 0 && g->mig_mode == 0)
        return parse_fail(p, "mig devices need mig_mode=1");
    if (g->mig_count > 0)
        g->mig_mode = 1;
    cfg->gpu_count++;
    return 0;
}

static int parse_xid(struct parser *p, struct fake_config *cfg, char *rest)
{
    unsigned long long gpu = 0, code = 0;
    bool have_gpu = false, have_code = false;
    char *tok;
    int t;
    if (cfg->xid_count == FAKE_XID_MAX)
        return parse_fail(p, "at most %d xid lines", FAKE_XID_MAX);
    while ((t = next_token(&rest, &tok)) == 0) {
        if (strncmp(tok, "gpu=", 4) == 0 && !have_gpu && parse_uint(tok + 4, FAKE_GPUS_MAX - 1, &gpu))
            have_gpu = true;
        else if (strncmp(tok, "code=", 5) == 0 && !have_code &&
                 parse_uint(tok + 5, 1000000, &code) && code > 0)
            have_code = true;
        else
            return parse_fail(p, "xid: want gpu=<index> code=<1..1000000>, got \"%s\"", tok);
    }
    if (t < 0 || !have_gpu || !have_code)
        return parse_fail(p, "xid: want gpu=<index> code=<1..1000000>");
    cfg->xid[cfg->xid_count++] = (struct fake_xid){.gpu = (unsigned)gpu, .code = code};
    return 0;
}

static int parse_word_directive(struct parser *p, char *rest, const char *what, char *out,
                                size_t out_size)
{
    char *tok, *extra;
    if (next_token(&rest, &tok) != 0 || !*tok || strlen(tok) >= out_size)
        return parse_fail(p, "%s: want one word of 1..%zu characters", what, out_size - 1);
    if (next_token(&rest, &extra) != 1)
        return parse_fail(p, "%s: unexpected \"%s\"", what, extra);
    memcpy(out, tok, strlen(tok) + 1);
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static int parse_line(struct parser *p, struct fake_config *cfg, char *line)
{
    char *tok;
    int t = next_token(&line, &tok);
    if (t == 1)
        return 0;
    if (t < 0)
        return parse_fail(p, "unterminated quote");
    if (strcmp(tok, "gpu") == 0)
        return parse_gpu(p, cfg, line);
    if (strcmp(tok, "xid") == 0)
        return parse_xid(p, cfg, line);
    if (strcmp(tok, "driver") == 0)
        return parse_word_directive(p, line, "driver", cfg->driver, sizeof cfg->driver);
    if (strcmp(tok, "seed") == 0) {
        char seed[64];
        if (parse_word_directive(p, line, "seed", seed, sizeof seed) < 0)
            return -1;
        cfg->seed = fnv1a(seed);
        return 0;
    }
    return parse_fail(p, "unknown directive \"%s\" (want gpu, xid, driver or seed)", tok);
}

/* Reads and parses `path` into *cfg, noting its identity in *ret_stamp. */
static int load_file(const char *path, struct fake_config *cfg, struct fake_stamp *ret_stamp,
                     char *err, size_t err_size)
{
    struct parser p = {.path = path, .err = err, .err_size = err_size};
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return parse_fail(&p, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return parse_fail(&p, "not a regular file");
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, g_file + len, sizeof g_file - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return parse_fail(&p, "read failed: %s", strerror(errno));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > FAKE_FILE_MAX) {
            close(fd);
            return parse_fail(&p, "larger than %d bytes", FAKE_FILE_MAX);
        }
    }
    close(fd);
    g_file[len] = '\0';
    if (memchr(g_file, '\0', len))
        return parse_fail(&p, "contains a NUL byte");

    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->driver, sizeof cfg->driver, "0.0-fake");
    cfg->seed = fnv1a("");
    char *line = g_file;
    while (line < g_file + len) {
        p.line++;
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : g_file + len;
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > FAKE_LINE_MAX)
            return parse_fail(&p, "line longer than %d bytes", FAKE_LINE_MAX);
        line[n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[n - 1] = '\0';
        if (parse_line(&p, cfg, line) < 0)
            return -1;
        line = next;
    }
    p.line = 0;
    for (unsigned i = 0; i < cfg->xid_count; i++)
        if (cfg->xid[i].gpu >= cfg->gpu_count)
            return parse_fail(&p, "xid names gpu %u, but there are %u", cfg->xid[i].gpu,
                              cfg->gpu_count);
    *ret_stamp = (struct fake_stamp){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                                     .mtime = st.st_mtim};
    return 0;
}

/* ---- state ---------------------------------------------------------------- */

static bool stamp_equal(const struct fake_stamp *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Re-reads the file if it changed; keeps the old state when the new file
 * is broken or torn. A file modified in the last FAKE_RACY_S seconds is
 * read on every call: two writes within one tick of the file system's
 * clock, to the same size and a reused inode, would look unchanged (git's
 * "racily clean" entries). Caller holds g_lock and has checked
 * g_init_refs. */
static void refresh_locked(void)
{
    struct stat st;
    struct timespec now;
    struct fake_stamp stamp;
    char err[FAKE_ERROR_MAX];
    if (stat(g_path, &st) < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    bool racy = now.tv_sec - st.st_mtim.tv_sec < FAKE_RACY_S;
    if (stamp_equal(&g_stamp, &st) && !racy)
        return;
    if (load_file(g_path, &g_scratch, &stamp, err, sizeof err) < 0 ||
        g_scratch.gpu_count != g_cfg.gpu_count)
        return;
    g_cfg = g_scratch;
    g_stamp = stamp;
    for (unsigned i = 0; i < FAKE_EVENT_SETS_MAX; i++)
        if (g_event_set[i].cursor > g_cfg.xid_count)
            g_event_set[i].cursor = g_cfg.xid_count;
}

static void set_error(nvmlReturn_t code, const char *text)
{
    g_error_code = code;
    snprintf(g_error, sizeof g_error, "%s", text);
}

/* Entry to every call after init: lock, check init, refresh. Returns
 * NVML_SUCCESS holding the lock, or an error without it. */
static nvmlReturn_t enter(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_init_refs == 0) {
        pthread_mutex_unlock(&g_lock);
        return NVML_ERROR_UNINITIALIZED;
    }
    refresh_locked();
    return NVML_SUCCESS;
}

static nvmlReturn_t leave(nvmlReturn_t rc)
{
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* ---- NVML entry points -------------------------------------------------- */

FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_init_refs > 0) {
        g_init_refs++;
        refresh_locked();
        return leave(NVML_SUCCESS);
    }
    const char *path = getenv(FAKE_ENV);
    if (!path || !*path) {
        set_error(NVML_ERROR_LIBRARY_NOT_FOUND, "fake NVML: " FAKE_ENV " not set");
        return leave(NVML_ERROR_LIBRARY_NOT_FOUND);
    }
    if (strlen(path) >= sizeof g_path) {
        set_error(NVML_ERROR_UNKNOWN, "fake NVML: " FAKE_ENV " is too long");
        return leave(NVML_ERROR_UNKNOWN);
    }
    char err[FAKE_ERROR_MAX];
    struct fake_stamp stamp;
    if (load_file(path, &g_scratch, &stamp, err, sizeof err) < 0) {
        set_error(NVML_ERROR_UNKNOWN, err);
        return leave(NVML_ERROR_UNKNOWN);
    }
    memcpy(g_path, path, strlen(path) + 1);
    g_cfg = g_scratch;
    g_stamp = stamp;
    for (unsigned i = 0; i < FAKE_GPUS_MAX; i++) {
        g_gpu_handle[i] = (struct nvmlDevice_st){.gpu = i, .mig = -1};
        for (unsigned m = 0; m < FAKE_MIG_MAX; m++)
            g_mig_handle[i][m] = (struct nvmlDevice_st){.gpu = i, .mig = (int)m};
    }
    /* event sets are not reset: like NVML's, they live until freed, so a
     * caller that never frees them runs out (NVML_ERROR_MEMORY) */
    g_init_refs = 1;
    g_error_code = NVML_SUCCESS;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_init_refs == 0)
        return leave(NVML_ERROR_UNINITIALIZED);
    g_init_refs--;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    /* the detailed text of the last init failure, else the generic one */
    if (result != NVML_SUCCESS && result == g_error_code)
        return g_error;
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    default: return "Unknown Error";
    }
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *device_count)
{
    if (!device_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    *device_count = g_cfg.gpu_count;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!device)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (index >= g_cfg.gpu_count)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    *device = &g_gpu_handle[index];
    return leave(NVML_SUCCESS);
}

#ifndef FAKENVML_CORE_ONLY

/* ---- the rest, left out of the core-only build ------------------------- */

/* The GPU a handle names, or NULL for a foreign or stale handle. */
static struct fake_gpu *gpu_of(nvmlDevice_t dev)
{
    if (!dev)
        return NULL;
    for (unsigned i = 0; i < g_cfg.gpu_count; i++) {
        if (dev == &g_gpu_handle[i])
            return &g_cfg.gpu[i];
        for (unsigned m = 0; m < g_cfg.gpu[i].mig_count; m++)
            if (dev == &g_mig_handle[i][m] && g_cfg.gpu[i].mig[m].profile[0])
                return &g_cfg.gpu[i];
    }
    return NULL;
}

static const struct fake_mig *mig_of(nvmlDevice_t dev)
{
    struct fake_gpu *g = gpu_of(dev);
    return g && dev->mig >= 0 ? &g->mig[dev->mig] : NULL;
}

static nvmlReturn_t copy_string(const char *s, char *out, unsigned int length)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(s) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* GPU-/MIG- UUID of a handle; the last 16 bits say which device it is, so
 * no two devices of one file share one. */
static void format_uuid(nvmlDevice_t dev, char *out, size_t out_size)
{
    unsigned id = (dev->gpu << 8) | (unsigned)(dev->mig + 1);
    uint64_t a = mix64(g_cfg.seed ^ mix64(id));
    uint64_t b = mix64(a ^ 0x5bd1e995ULL);
    snprintf(out, out_size, "%s-%08llx-%04llx-%04llx-%04llx-%08llx%04x", dev->mig < 0 ? "GPU" : "MIG",
             (unsigned long long)(a >> 32), (unsigned long long)((a >> 16) & 0xffff),
             (unsigned long long)(a & 0xffff), (unsigned long long)(b >> 48),
             (unsigned long long)((b >> 16) & 0xffffffffULL), id & 0xffff);
}

/* Directory part of g_path + "/util/<index>" holding 0..100, if present. */
static int util_override(unsigned index)
{
    char path[FAKE_PATH_MAX + 32], buf[16];
    const char *slash = strrchr(g_path, '/');
    int dir_len = slash ? (int)(slash - g_path) : 1;
    snprintf(path, sizeof path, "%.*s/util/%u", dir_len, slash ? g_path : ".", index);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, " \t\r\n")] = '\0';
    unsigned long long v;
    return parse_uint(buf, 100, &v) ? (int)v : -1;
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    return leave(copy_string(g_cfg.driver, version, length));
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (!gpu_of(device))
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    format_uuid(device, buf, sizeof buf);
    return leave(copy_string(buf, uuid, length));
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (device->mig >= 0)
        snprintf(buf, sizeof buf, "%s MIG %s", g->name, g->mig[device->mig].profile);
    else
        snprintf(buf, sizeof buf, "%s", g->name);
    return leave(copy_string(buf, name, length));
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    const struct fake_mig *m = mig_of(device);
    if (m) {
        *memory = (nvmlMemory_t){.total = (unsigned long long)m->memory,
                                 .free = (unsigned long long)m->memory};
        return leave(NVML_SUCCESS);
    }
    if (g->memory < 0)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    *memory = (nvmlMemory_t){.total = (unsigned long long)g->memory,
                             .used = (unsigned long long)g->mem_used,
                             .free = (unsigned long long)(g->memory - g->mem_used)};
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                       nvmlUtilization_t *utilization)
{
    if (!utilization)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    /* like real NVML: no utilisation for MIG devices or with MIG on */
    if (device->mig >= 0 || g->mig_mode == 1)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    int over = util_override(device->gpu);
    if (g->util < 0 && over < 0)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    utilization->gpu = (unsigned)(over >= 0 ? over : g->util);
    utilization->memory = g->mem_util < 0 ? 0 : (unsigned)g->mem_util;
    return leave(NVML_SUCCESS);
}

/* The GPU-level integer fields share one shape: GPU handles only, -1 is
 * "not supported". */
static nvmlReturn_t gpu_field(nvmlDevice_t device, long long (*field)(const struct fake_gpu *),
                              unsigned long long *ret)
{
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    long long v = field(g);
    if (device->mig >= 0 || v < 0)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    *ret = (unsigned long long)v;
    return leave(NVML_SUCCESS);
}

static long long field_temp(const struct fake_gpu *g) { return g->temp; }
static long long field_power(const struct fake_gpu *g) { return g->power_mw; }
static long long field_ecc(const struct fake_gpu *g) { return g->ecc; }

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor,
                                                  unsigned int *temp)
{
    unsigned long long v;
    if (!temp || sensor != NVML_TEMPERATURE_GPU)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = gpu_field(device, field_temp, &v);
    if (rc == NVML_SUCCESS)
        *temp = (unsigned)v;
    return rc;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power_mw)
{
    unsigned long long v;
    if (!power_mw)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = gpu_field(device, field_power, &v);
    if (rc == NVML_SUCCESS)
        *power_mw = (unsigned)v;
    return rc;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int error_type,
                                                     int counter_type,
                                                     unsigned long long *ecc_counts)
{
    if (!ecc_counts || error_type != NVML_MEMORY_ERROR_TYPE_UNCORRECTED ||
        counter_type != NVML_VOLATILE_ECC)
        return NVML_ERROR_INVALID_ARGUMENT;
    return gpu_field(device, field_ecc, ecc_counts);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current_mode,
                                              unsigned int *pending_mode)
{
    if (!current_mode || !pending_mode)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (device->mig >= 0 || g->mig_mode < 0)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    *current_mode = *pending_mode = (unsigned)g->mig_mode;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (device->mig >= 0 || g->mig_mode < 0)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    *count = FAKE_MIG_MAX;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device,
                                                             unsigned int index,
                                                             nvmlDevice_t *mig_device)
{
    if (!mig_device)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    const struct fake_gpu *g = gpu_of(device);
    if (!g || device->mig >= 0 || index >= FAKE_MIG_MAX)
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (g->mig_mode != 1)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    if (index >= g->mig_count || !g->mig[index].profile[0])
        return leave(NVML_ERROR_NOT_FOUND);
    *mig_device = &g_mig_handle[device->gpu][index];
    return leave(NVML_SUCCESS);
}

/* Instance ids: GPU instance = slot + 1, compute instance 0 (the layout
 * of a GPU split into one compute instance per GPU instance). */
static nvmlReturn_t mig_id(nvmlDevice_t device, bool gpu_instance, unsigned int *id)
{
    if (!id)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (!gpu_of(device))
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (!mig_of(device))
        return leave(NVML_ERROR_NOT_SUPPORTED);
    *id = gpu_instance ? (unsigned)device->mig + 1 : 0;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_id(device, true, id);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_id(device, false, id);
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    if (!set)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    for (unsigned i = 0; i < FAKE_EVENT_SETS_MAX; i++) {
        if (!g_event_set[i].used) {
            g_event_set[i] = (struct nvmlEventSet_st){.used = true};
            *set = &g_event_set[i];
            return leave(NVML_SUCCESS);
        }
    }
    return leave(NVML_ERROR_MEMORY);
}

static bool event_set_valid(nvmlEventSet_t set)
{
    return set >= &g_event_set[0] && set < &g_event_set[FAKE_EVENT_SETS_MAX] && set->used;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device,
                                                  unsigned long long event_types,
                                                  nvmlEventSet_t set)
{
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (!gpu_of(device) || device->mig >= 0 || !event_set_valid(set))
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    if (event_types & ~NVML_EVENT_TYPE_XID_CRITICAL_ERROR)
        return leave(NVML_ERROR_NOT_SUPPORTED);
    set->types[device->gpu] |= event_types;
    return leave(NVML_SUCCESS);
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                             unsigned int timeout_ms)
{
    (void)timeout_ms; /* never blocks: see the top of the file */
    if (!data)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (!event_set_valid(set))
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    while (set->cursor < g_cfg.xid_count) {
        const struct fake_xid *x = &g_cfg.xid[set->cursor++];
        if (!(set->types[x->gpu] & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
            continue;
        *data = (nvmlEventData_t){.device = &g_gpu_handle[x->gpu],
                                  .eventType = NVML_EVENT_TYPE_XID_CRITICAL_ERROR,
                                  .eventData = x->code,
                                  .gpuInstanceId = 0xffffffffu,
                                  .computeInstanceId = 0xffffffffu};
        return leave(NVML_SUCCESS);
    }
    return leave(NVML_ERROR_TIMEOUT);
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    nvmlReturn_t rc = enter();
    if (rc != NVML_SUCCESS)
        return rc;
    if (!event_set_valid(set))
        return leave(NVML_ERROR_INVALID_ARGUMENT);
    set->used = false;
    return leave(NVML_SUCCESS);
}

#endif /* FAKENVML_CORE_ONLY */
