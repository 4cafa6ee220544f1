/* The local exec driver: each pod is a process tree on this host, run by a
 * shim (shim.c) that outlives the server. The server side creates the pod's
 * cgroups and directory, starts the shim, watches it through a pidfd from
 * one monitor thread, and turns the shim's exit record into on_exit. See
 * docs/exec.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/exec.h"
#include "exec/local_priv.h"
#include "exec/shim.h"
#include "gpuaas/error.h"
#include "lib/clock.h"

#define CTRL_MEMORY 1u
#define CTRL_CPU 2u
#define CTRL_PIDS 4u
#define CPU_PERIOD_US 100000
#define CPU_MILLI_MAX 1000000       /* 1000 CPUs */
#define KILL_RETRY_MS 500           /* SIGKILL again until the shim reports */
#define SHIM_EXE "/proc/self/exe"

/* One cgroup hierarchy the driver uses: pods get <parent>/<leaf>. */
struct lx_hier {
    char parent[LX_PATH_MAX]; /* <mount>/gpuaas */
    bool v2;
    unsigned ctrl; /* CTRL_* limits it enforces (0: tracking and killing only) */
};

struct lx_pod {
    struct lx_pod *next;
    uint64_t pod_id;
    pid_t pid;  /* the shim */
    int pidfd;
    char leaf[LX_LEAF_MAX]; /* "" when the pod has no cgroups */
    int64_t kill_at_ns;     /* monotonic; 0: no SIGKILL pending */
};

struct lx_ctx {
    char state_dir[LX_PATH_MAX]; /* absolute: the shim runs elsewhere */
    char tag[9];                 /* hash of state_dir: two servers never share a cgroup */
    exec_exit_fn on_exit;
    void *arg;
    int nhier;
    struct lx_hier hier[LX_CG_MAX];
    struct exec_caps caps;
    pthread_mutex_t lock; /* guards pods and quit */
    struct lx_pod *pods;
    bool quit;
    int epfd;
    int evfd;
    pthread_t thread;
    bool thread_started;
};

/* The directories of one pod's cgroups. */
struct lx_cgdirs {
    int n;
    char path[LX_CG_MAX][LX_PATH_MAX];
    const char *ptr[LX_CG_MAX];
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

static int pod_dir_path(const struct lx_ctx *ctx, uint64_t pod_id, char *out, size_t size)
{
    if ((size_t)snprintf(out, size, "%s/%" PRIu64, ctx->state_dir, pod_id) >= size)
        return GPUAAS_ETOOBIG;
    return 0;
}

static void cgdirs_build(const struct lx_ctx *ctx, const char *leaf, struct lx_cgdirs *dirs)
{
    dirs->n = 0;
    if (!leaf[0])
        return;
    for (int i = 0; i < ctx->nhier; i++) {
        /* parent and leaf are bounded well below LX_PATH_MAX at init */
        snprintf(dirs->path[dirs->n], LX_PATH_MAX, "%s/%s", ctx->hier[i].parent, leaf);
        dirs->ptr[dirs->n] = dirs->path[dirs->n];
        dirs->n++;
    }
}

static struct lx_pod **pod_find(struct lx_ctx *ctx, uint64_t pod_id)
{
    struct lx_pod **pp = &ctx->pods;
    while (*pp && (*pp)->pod_id != pod_id)
        pp = &(*pp)->next;
    return pp;
}

static void wake(struct lx_ctx *ctx)
{
    uint64_t one = 1;
    if (write(ctx->evfd, &one, sizeof(one)) < 0) {
        /* the counter is only full when the monitor is already awake */
    }
}

/* SIGTERM/SIGKILL to the whole pod: its cgroups, else the workload's
 * process group recorded by the shim. */
static void pod_signal(struct lx_ctx *ctx, const struct lx_pod *pod, int sig)
{
    struct lx_cgdirs dirs;
    cgdirs_build(ctx, pod->leaf, &dirs);
    if (dirs.n > 0) {
        lx_cg_signal(dirs.ptr, dirs.n, sig);
        return;
    }
    char dir[LX_PATH_MAX], path[LX_PATH_MAX + 16], text[32];
    if (pod_dir_path(ctx, pod->pod_id, dir, sizeof(dir)) < 0)
        return;
    snprintf(path, sizeof(path), "%s/" LX_PGID_NAME, dir);
    if (lx_read_small(path, text, sizeof(text)) <= 0)
        return;
    long pgid = strtol(text, NULL, 10);
    if (pgid > 1)
        killpg((pid_t)pgid, sig);
}

/* ---- monitor thread -------------------------------------------------------- */

/* Reaps the shim if it is our child (ECHILD otherwise: init reaps it). */
static void reap(int pidfd)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0)
        waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED); /* exited but not yet waitable: brief */
}

/* Exit record, or "lost" (killed, reason unknown) when the shim left none;
 * then also clears what may be left of the pod. Returns whether there was
 * a record. */
static bool collect_exit(struct lx_ctx *ctx, uint64_t pod_id, const char *leaf, struct exec_exit *ret_ex)
{
    char dir[LX_PATH_MAX];
    struct exec_exit ex = {.exit_code = -1, .signal = SIGKILL};
    bool found = pod_dir_path(ctx, pod_id, dir, sizeof(dir)) == 0 && lx_exit_read(dir, &ex) == 0;
    if (!found) {
        ex = (struct exec_exit){.exit_code = -1, .signal = SIGKILL, .end_ms = clock_now_ms()};
        struct lx_cgdirs dirs;
        cgdirs_build(ctx, leaf, &dirs);
        if (dirs.n > 0) {
            lx_cg_kill_all(dirs.ptr, dirs.n, 100);
            lx_cg_remove(dirs.ptr, dirs.n, 100);
        }
    }
    ex.pod_id = pod_id;
    *ret_ex = ex;
    return found;
}

static void shim_exited(struct lx_ctx *ctx, struct lx_pod *pod)
{
    pthread_mutex_lock(&ctx->lock);
    struct lx_pod **pp = pod_find(ctx, pod->pod_id);
    if (*pp == pod)
        *pp = pod->next;
    pthread_mutex_unlock(&ctx->lock);
    epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, pod->pidfd, NULL);
    reap(pod->pidfd);
    close(pod->pidfd);
    struct exec_exit ex;
    collect_exit(ctx, pod->pod_id, pod->leaf, &ex);
    free(pod);
    ctx->on_exit(ctx->arg, &ex); /* no lock held: it may call back into us */
}

/* Sends due SIGKILLs; returns the epoll timeout until the next one. */
static int run_timers(struct lx_ctx *ctx)
{
    int64_t now = clock_mono_ns(), next = -1;
    pthread_mutex_lock(&ctx->lock);
    for (struct lx_pod *pod = ctx->pods; pod; pod = pod->next) {
        if (pod->kill_at_ns == 0)
            continue;
        if (pod->kill_at_ns <= now) {
            pod_signal(ctx, pod, SIGKILL);
            pod->kill_at_ns = now + (int64_t)KILL_RETRY_MS * 1000000;
        }
        if (next < 0 || pod->kill_at_ns < next)
            next = pod->kill_at_ns;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (next < 0)
        return -1;
    return (int)((next - now) / 1000000 + 1);
}

static void *monitor_main(void *arg)
{
    struct lx_ctx *ctx = arg;
    struct epoll_event evs[32];
    for (;;) {
        int timeout = run_timers(ctx);
        int n = epoll_wait(ctx->epfd, evs, 32, timeout);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t count;
                if (read(ctx->evfd, &count, sizeof(count)) < 0) {
                    /* EAGAIN: another wake already drained it */
                }
                continue;
            }
            shim_exited(ctx, evs[i].data.ptr);
        }
        pthread_mutex_lock(&ctx->lock);
        bool quit = ctx->quit;
        pthread_mutex_unlock(&ctx->lock);
        if (quit)
            break;
    }
    return NULL;
}

/* Registers a pod (lock held). The pod belongs to ctx from here on. */
static int watch_locked(struct lx_ctx *ctx, struct lx_pod *pod)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pod};
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, pod->pidfd, &ev) < 0)
        return GPUAAS_EIO;
    pod->next = ctx->pods;
    ctx->pods = pod;
    return 0;
}

/* ---- cgroup detection ------------------------------------------------------- */

struct mounts {
    char v2[LX_PATH_MAX];
    char memory[LX_PATH_MAX];
    char cpu[LX_PATH_MAX];
    char pids[LX_PATH_MAX];
};

static bool has_token(const char *list, const char *word, char sep)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == wl && memcmp(p, word, wl) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static void find_mounts(struct mounts *m)
{
    memset(m, 0, sizeof(*m));
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* id parent dev root MOUNTPOINT opts [tags] - FSTYPE source SUPEROPTS */
        char point[LX_PATH_MAX], fstype[32], source[256], super[1024];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
            sscanf(dash + 3, "%31s %255s %1023s", fstype, source, super) != 3)
            continue;
        if (strlen(point) > LX_PATH_MAX - 2 * LX_LEAF_MAX) /* room for /gpuaas/<leaf>/<knob> */
            continue;
        if (strcmp(fstype, "cgroup2") == 0 && !m->v2[0])
            snprintf(m->v2, sizeof(m->v2), "%s", point);
        if (strcmp(fstype, "cgroup") != 0)
            continue;
        if (has_token(super, "memory", ',') && !m->memory[0])
            snprintf(m->memory, sizeof(m->memory), "%s", point);
        if (has_token(super, "cpu", ',') && !m->cpu[0])
            snprintf(m->cpu, sizeof(m->cpu), "%s", point);
        if (has_token(super, "pids", ',') && !m->pids[0])
            snprintf(m->pids, sizeof(m->pids), "%s", point);
    }
    free(line);
    fclose(f);
}

/* <mount>/gpuaas, usable when we may create pod groups in it (it may
 * already exist, made by root, while we are not). */
static bool make_parent(const char *mount, char *out)
{
    snprintf(out, LX_PATH_MAX, "%s/gpuaas", mount);
    if (mkdir(out, 0755) < 0 && errno != EEXIST)
        return false;
    return access(out, W_OK | X_OK) == 0;
}

/* Enables a v2 controller for <mount>/gpuaas's children. */
static bool v2_enable(const char *mount, const char *parent, const char *name)
{
    char path[LX_PATH_MAX + 32], text[256], cmd[32];
    snprintf(cmd, sizeof(cmd), "+%s", name);
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mount);
    if (lx_read_small(path, text, sizeof(text)) < 0)
        return false;
    text[strcspn(text, "\n")] = '\0';
    if (!has_token(text, name, ' ') && lx_write_knob(path, cmd) < 0)
        return false;
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
    return lx_write_knob(path, cmd) == 0;
}

static size_t ctrl_names(unsigned ctrl, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{CTRL_MEMORY, "memory"}, {CTRL_CPU, "cpu"}, {CTRL_PIDS, "pids"}};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ctrl & names[i].bit)
            len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "", names[i].name);
    return len;
}

static void add_hier(struct lx_ctx *ctx, const char *parent, bool v2, unsigned ctrl)
{
    for (int i = 0; i < ctx->nhier; i++) {
        if (strcmp(ctx->hier[i].parent, parent) == 0) { /* co-mounted controllers */
            ctx->hier[i].ctrl |= ctrl;
            return;
        }
    }
    if (ctx->nhier >= LX_CG_MAX)
        return;
    struct lx_hier *h = &ctx->hier[ctx->nhier++];
    snprintf(h->parent, sizeof(h->parent), "%s", parent);
    h->v2 = v2;
    h->ctrl = ctrl;
}

static void detect_cgroups(struct lx_ctx *ctx)
{
    struct mounts m;
    char parent[LX_PATH_MAX], v2_note[LX_PATH_MAX + 96] = "";
    unsigned v2_ctrl = 0, v1_ctrl = 0;
    bool v2_used = false;
    find_mounts(&m);

    if (m.v2[0]) {
        if (make_parent(m.v2, parent)) {
            char path[LX_PATH_MAX + 32], avail[256] = "";
            snprintf(path, sizeof(path), "%s/cgroup.controllers", m.v2);
            lx_read_small(path, avail, sizeof(avail));
            avail[strcspn(avail, "\n")] = '\0';
            static const struct {
                unsigned bit;
                const char *name;
            } want[] = {{CTRL_MEMORY, "memory"}, {CTRL_CPU, "cpu"}, {CTRL_PIDS, "pids"}};
            for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                if (has_token(avail, want[i].name, ' ') && v2_enable(m.v2, parent, want[i].name))
                    v2_ctrl |= want[i].bit;
            /* even without controllers a v2 group tracks the whole tree and
             * has cgroup.kill */
            add_hier(ctx, parent, true, v2_ctrl);
            v2_used = true;
            if (!v2_ctrl)
                snprintf(v2_note, sizeof(v2_note), "v2 at %s has no controllers (used to track and kill the tree)",
                         m.v2);
        } else {
            snprintf(v2_note, sizeof(v2_note), "v2 at %s not writable (%s)", m.v2, strerror(errno));
        }
    }
    const struct {
        unsigned bit;
        const char *mount;
    } v1[] = {{CTRL_MEMORY, m.memory}, {CTRL_CPU, m.cpu}, {CTRL_PIDS, m.pids}};
    for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
        if ((v2_ctrl & v1[i].bit) || !v1[i].mount[0])
            continue;
        if (make_parent(v1[i].mount, parent)) {
            add_hier(ctx, parent, false, v1[i].bit);
            v1_ctrl |= v1[i].bit;
        }
    }

    struct exec_caps *caps = &ctx->caps;
    unsigned all = v1_ctrl | v2_ctrl;
    caps->memory_limit = all & CTRL_MEMORY;
    caps->cpu_limit = all & CTRL_CPU;
    caps->pids_limit = all & CTRL_PIDS;
    caps->kill_tree = ctx->nhier > 0;
    const char *version = v1_ctrl ? "v1" : (v2_used ? "v2" : "none");
    snprintf(caps->cgroup_version, sizeof(caps->cgroup_version), "%s", version);

    char on[64], off[64];
    ctrl_names(all, on, sizeof(on));
    ctrl_names(~all & (CTRL_MEMORY | CTRL_CPU | CTRL_PIDS), off, sizeof(off));
    size_t len = 0;
    if (all)
        len = (size_t)snprintf(caps->detail, sizeof(caps->detail), "cgroup %s: %s enforced%s%s",
                               v1_ctrl && v2_ctrl ? "v1+v2" : version, on, off[0] ? "; not enforced: " : "", off);
    else
        len = (size_t)snprintf(caps->detail, sizeof(caps->detail), "no cgroup limits: pods run unlimited%s",
                               ctx->nhier ? "" : "; stop kills the process group only");
    if (v2_note[0] && len < sizeof(caps->detail))
        snprintf(caps->detail + len, sizeof(caps->detail) - len, "; %s", v2_note);
}

/* ---- init / shutdown ------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char buf[LX_PATH_MAX];
    if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void ctx_free(struct lx_ctx *ctx)
{
    if (!ctx)
        return;
    while (ctx->pods) {
        struct lx_pod *pod = ctx->pods;
        ctx->pods = pod->next;
        close(pod->pidfd);
        free(pod);
    }
    if (ctx->epfd >= 0)
        close(ctx->epfd);
    if (ctx->evfd >= 0)
        close(ctx->evfd);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

static int local_init(const char *state_dir, exec_exit_fn on_exit, void *arg, void **ret_ctx, char *err,
                      size_t err_size)
{
    int r = 0;
    struct lx_ctx *ctx = NULL;
    if (!state_dir || !state_dir[0] || !on_exit || !ret_ctx) {
        set_err(err, err_size, "exec local: state_dir and on_exit are required");
        return GPUAAS_EINVAL;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return GPUAAS_ENOMEM;
    ctx->epfd = ctx->evfd = -1;
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->on_exit = on_exit;
    ctx->arg = arg;

    int e = mkdir_p(state_dir);
    char real[PATH_MAX];
    if (e == 0 && !realpath(state_dir, real))
        e = -errno;
    if (e == 0 && strlen(real) > LX_PATH_MAX - 64) /* room for /<pod_id>/<file> */
        e = -ENAMETOOLONG;
    if (e < 0) {
        set_err(err, err_size, "exec local: state dir %s: %s", state_dir, strerror(-e));
        r = GPUAAS_EIO;
        goto out;
    }
    snprintf(ctx->state_dir, sizeof(ctx->state_dir), "%s", real);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = real; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    snprintf(ctx->tag, sizeof(ctx->tag), "%08" PRIx32, h);

    detect_cgroups(ctx);

    ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
    ctx->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ctx->epfd < 0 || ctx->evfd < 0 || epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->evfd, &ev) < 0) {
        set_err(err, err_size, "exec local: epoll: %s", strerror(errno));
        r = GPUAAS_EIO;
        goto out;
    }
    if ((e = pthread_create(&ctx->thread, NULL, monitor_main, ctx)) != 0) {
        set_err(err, err_size, "exec local: monitor thread: %s", strerror(e));
        r = GPUAAS_EIO;
        goto out;
    }
    ctx->thread_started = true;
    *ret_ctx = ctx;
    ctx = NULL;
out:
    ctx_free(ctx);
    return r;
}

static void local_shutdown(void *vctx)
{
    struct lx_ctx *ctx = vctx;
    if (!ctx)
        return;
    if (ctx->thread_started) {
        pthread_mutex_lock(&ctx->lock);
        ctx->quit = true;
        pthread_mutex_unlock(&ctx->lock);
        wake(ctx);
        pthread_join(ctx->thread, NULL);
    }
    ctx_free(ctx); /* pods keep running; the next driver adopts them */
}

/* ---- start ----------------------------------------------------------------- */

static int check_strings(char *const *list, int max, int *ret_count)
{
    int n = 0;
    for (; list && list[n]; n++)
        if (n >= max || strlen(list[n]) >= LX_STR_MAX)
            return GPUAAS_ETOOBIG;
    *ret_count = n;
    return 0;
}

static int write_limit(const char *dir, const char *knob, const char *value, char *err, size_t err_size)
{
    char path[LX_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, knob);
    int e = lx_write_knob(path, value);
    if (e < 0) {
        set_err(err, err_size, "exec local: cannot set %s to %s: %s", path, value, strerror(-e));
        return GPUAAS_EIO;
    }
    return 0;
}

static int set_limits(const struct lx_hier *h, const char *dir, const struct exec_pod_spec *spec, char *err,
                      size_t err_size)
{
    char v[64];
    int r = 0;
    if (h->ctrl & CTRL_MEMORY) {
        if (h->v2)
            snprintf(v, sizeof(v), spec->memory_bytes > 0 ? "%" PRId64 : "max", spec->memory_bytes);
        else
            snprintf(v, sizeof(v), "%" PRId64, spec->memory_bytes > 0 ? spec->memory_bytes : -1);
        if ((r = write_limit(dir, h->v2 ? "memory.max" : "memory.limit_in_bytes", v, err, err_size)) < 0)
            return r;
    }
    if (h->ctrl & CTRL_CPU) {
        int64_t quota = spec->cpu_milli * (CPU_PERIOD_US / 1000);
        if (spec->cpu_milli > 0 && quota < 1000) /* the kernel's minimum quota is 1 ms */
            quota = 1000;
        if (h->v2) {
            if (spec->cpu_milli > 0)
                snprintf(v, sizeof(v), "%" PRId64 " %d", quota, CPU_PERIOD_US);
            else
                snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
            r = write_limit(dir, "cpu.max", v, err, err_size);
        } else {
            snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
            r = write_limit(dir, "cpu.cfs_period_us", v, err, err_size);
            snprintf(v, sizeof(v), "%" PRId64, spec->cpu_milli > 0 ? quota : -1);
            if (r == 0)
                r = write_limit(dir, "cpu.cfs_quota_us", v, err, err_size);
        }
        if (r < 0)
            return r;
    }
    if (h->ctrl & CTRL_PIDS) {
        snprintf(v, sizeof(v), spec->pids_max > 0 ? "%" PRId64 : "max", spec->pids_max);
        if ((r = write_limit(dir, "pids.max", v, err, err_size)) < 0)
            return r;
    }
    return 0;
}

static int create_cgroups(struct lx_ctx *ctx, const struct exec_pod_spec *spec, const char *leaf,
                          struct lx_cgdirs *dirs, char *err, size_t err_size)
{
    int r = 0;
    cgdirs_build(ctx, leaf, dirs);
    int made = 0;
    for (; made < dirs->n; made++) {
        const char *dir = dirs->ptr[made];
        if (mkdir(dir, 0755) < 0) {
            if (errno != EEXIST) {
                set_err(err, err_size, "exec local: cannot create cgroup %s: %s", dir, strerror(errno));
                r = GPUAAS_EIO;
                goto out;
            }
            if (lx_cg_signal(&dir, 1, 0) > 0) { /* a pod of that id still runs */
                set_err(err, err_size, "exec local: cgroup %s still has processes", dir);
                r = GPUAAS_ECONFLICT;
                goto out;
            }
        }
        if ((r = set_limits(&ctx->hier[made], dir, spec, err, err_size)) < 0) {
            made++;
            goto out;
        }
    }
out:
    if (r < 0)
        lx_cg_remove(dirs->ptr, made, 0);
    return r;
}

static int write_spec_file(const char *pod_dir, const struct lx_spec *s, char *err, size_t err_size)
{
    char path[LX_PATH_MAX], *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/" LX_SPEC_NAME, pod_dir);
    int e = lx_spec_encode(s, &buf, &len);
    if (e == 0) {
        /* 0600: it carries the pod's environment (secrets, tokens) */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        e = fd < 0 ? -errno : lx_write_all(fd, buf, len);
        if (fd >= 0)
            close(fd);
    }
    free(buf);
    if (e < 0) {
        set_err(err, err_size, "exec local: cannot write %s: %s", path, strerror(-e));
        return e == -E2BIG ? GPUAAS_ETOOBIG : GPUAAS_EIO;
    }
    return 0;
}

/* posix_spawn is vfork-based, so it is safe from this multi-threaded
 * process; the shim gets no inherited descriptors and default signals. */
static int spawn_shim(const char *pod_dir, pid_t *ret_pid)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    char arg0[] = "gpuaas", verb[] = EXEC_SHIM_VERB, dir[LX_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", pod_dir);
    char *argv[] = {arg0, verb, dir, NULL};
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid;
    int e = posix_spawn(&pid, SHIM_EXE, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0)
        return -e;
    *ret_pid = pid;
    return 0;
}

static int local_start(void *vctx, const struct exec_pod_spec *spec, char *ret_handle, size_t handle_size,
                       char *err, size_t err_size)
{
    struct lx_ctx *ctx = vctx;
    struct lx_pod *pod = NULL;
    struct lx_cgdirs *dirs = NULL;
    struct lx_spec *s = NULL;
    char pod_dir[LX_PATH_MAX], path[LX_PATH_MAX + 16], leaf[LX_LEAF_MAX] = "";
    pid_t pid = -1;
    int r = 0, e, argc = 0, envc = 0;
    bool locked = false, cg_made = false;

    if (!ctx || !spec || !ret_handle || handle_size < EXEC_HANDLE_MAX) {
        set_err(err, err_size, "exec local: bad arguments");
        return GPUAAS_EINVAL;
    }
    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0]) {
        set_err(err, err_size, "exec local: empty command");
        return GPUAAS_EINVAL;
    }
    if (check_strings(spec->argv, LX_ARGV_MAX, &argc) < 0 || check_strings(spec->envp, LX_ENV_MAX, &envc) < 0) {
        set_err(err, err_size,
                "exec local: command or environment over its limit (%d args, %d variables, %d bytes each)",
                LX_ARGV_MAX, LX_ENV_MAX, LX_STR_MAX - 1);
        return GPUAAS_ETOOBIG;
    }
    if (spec->cpu_milli < 0 || spec->cpu_milli > CPU_MILLI_MAX || spec->memory_bytes < 0 || spec->pids_max < 0) {
        set_err(err, err_size, "exec local: negative or excessive limit");
        return GPUAAS_EINVAL;
    }
    if ((r = pod_dir_path(ctx, spec->pod_id, pod_dir, sizeof(pod_dir))) < 0)
        return r;
    const char *workdir = spec->workdir ? spec->workdir : pod_dir;
    if (workdir[0] != '/' || strlen(workdir) >= LX_PATH_MAX) {
        set_err(err, err_size, "exec local: workdir must be an absolute path");
        return GPUAAS_EINVAL;
    }

    dirs = calloc(1, sizeof(*dirs));
    s = calloc(1, sizeof(*s));
    pod = calloc(1, sizeof(*pod));
    if (!dirs || !s || !pod) {
        r = GPUAAS_ENOMEM;
        goto out;
    }
    pod->pidfd = -1;
    pthread_mutex_lock(&ctx->lock);
    locked = true;
    if (*pod_find(ctx, spec->pod_id)) {
        set_err(err, err_size, "exec local: pod %" PRIu64 " is already running", spec->pod_id);
        r = GPUAAS_ECONFLICT;
        goto out;
    }
    if (mkdir(pod_dir, 0755) < 0 && errno != EEXIST) {
        set_err(err, err_size, "exec local: cannot create %s: %s", pod_dir, strerror(errno));
        r = GPUAAS_EIO;
        goto out;
    }
    struct stat st;
    const char *why = NULL;
    if (stat(workdir, &st) < 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    if (why) {
        set_err(err, err_size, "exec local: workdir %s: %s", workdir, why);
        r = GPUAAS_EINVAL;
        goto out;
    }
    /* a fresh run: no stale record or log from an earlier attempt */
    snprintf(path, sizeof(path), "%s/" LX_EXIT_NAME, pod_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/" LX_LOG_NAME, pod_dir);
    int log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (log_fd < 0) {
        set_err(err, err_size, "exec local: cannot create %s: %s", path, strerror(errno));
        r = GPUAAS_EIO;
        goto out;
    }
    close(log_fd);

    if (ctx->nhier > 0) {
        snprintf(leaf, sizeof(leaf), "pod-%" PRIu64 "-%s", spec->pod_id, ctx->tag);
        if ((r = create_cgroups(ctx, spec, leaf, dirs, err, err_size)) < 0)
            goto out;
        cg_made = true;
    }
    s->pod_id = spec->pod_id;
    s->workdir = workdir;
    s->ncg = dirs->n;
    for (int i = 0; i < dirs->n; i++)
        s->cg_dirs[i] = dirs->ptr[i];
    s->argc = argc;
    memcpy(s->argv, spec->argv, sizeof(char *) * (size_t)argc);
    s->envc = envc;
    if (envc > 0)
        memcpy(s->envp, spec->envp, sizeof(char *) * (size_t)envc);
    if ((r = write_spec_file(pod_dir, s, err, err_size)) < 0)
        goto out;

    if ((e = spawn_shim(pod_dir, &pid)) < 0) {
        set_err(err, err_size, "exec local: cannot start the shim %s: %s", SHIM_EXE, strerror(-e));
        r = GPUAAS_EIO;
        goto out;
    }
    /* the shim is our child: its pid cannot be reused before we reap it */
    unsigned long long start = 0;
    char state;
    pod->pidfd = pidfd_open(pid, 0);
    if (pod->pidfd < 0 || lx_proc_stat(pid, &start, &state) < 0) {
        set_err(err, err_size, "exec local: cannot watch the shim: %s", strerror(errno));
        r = GPUAAS_EIO;
        goto out;
    }
    pod->pod_id = spec->pod_id;
    pod->pid = pid;
    snprintf(pod->leaf, sizeof(pod->leaf), "%s", leaf);
    char handle[EXEC_HANDLE_MAX];
    snprintf(handle, sizeof(handle), "pid=%d start=%llu cg=%s", (int)pid, start, leaf[0] ? leaf : "-");
    if ((r = watch_locked(ctx, pod)) < 0) {
        set_err(err, err_size, "exec local: epoll: %s", strerror(errno));
        goto out;
    }
    pod = NULL;
    pid = -1;
    snprintf(ret_handle, handle_size, "%s", handle);
out:
    if (r < 0 && pid > 0) {
        /* the workload dies with the shim (PDEATHSIG); cgroups go below */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (r < 0 && cg_made) {
        lx_cg_kill_all(dirs->ptr, dirs->n, 1000);
        lx_cg_remove(dirs->ptr, dirs->n, 1000);
    }
    if (r < 0 && pod && pod->pidfd >= 0)
        close(pod->pidfd);
    if (locked)
        pthread_mutex_unlock(&ctx->lock);
    free(pod);
    free(s);
    free(dirs);
    return r;
}

/* ---- stop / adopt / misc --------------------------------------------------- */

static int local_stop(void *vctx, uint64_t pod_id, int grace_ms)
{
    struct lx_ctx *ctx = vctx;
    if (!ctx)
        return GPUAAS_EINVAL;
    if (grace_ms < 0)
        grace_ms = 0;
    pthread_mutex_lock(&ctx->lock);
    struct lx_pod *pod = *pod_find(ctx, pod_id);
    if (!pod) {
        pthread_mutex_unlock(&ctx->lock);
        return GPUAAS_ENOTFOUND;
    }
    int64_t kill_at = clock_mono_ns() + (int64_t)grace_ms * 1000000;
    if (pod->kill_at_ns == 0 || kill_at < pod->kill_at_ns) {
        if (pod->kill_at_ns == 0)
            pod_signal(ctx, pod, grace_ms > 0 ? SIGTERM : SIGKILL);
        pod->kill_at_ns = kill_at;
    }
    pthread_mutex_unlock(&ctx->lock);
    wake(ctx); /* the monitor recomputes its timeout */
    return 0;
}

/* Is pid our shim for pod_dir? Start time guards against pid reuse; the
 * command line against a reboot that reused pid and start time. */
static bool is_our_shim(pid_t pid, unsigned long long start, const char *pod_dir, char *ret_state)
{
    unsigned long long now_start = 0;
    if (lx_proc_stat(pid, &now_start, ret_state) < 0 || now_start != start)
        return false;
    char path[64], cmd[LX_PATH_MAX + 64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    ssize_t n = lx_read_small(path, cmd, sizeof(cmd));
    if (*ret_state == 'Z')
        return n >= 0; /* a zombie's command line is empty */
    if (n <= 0)
        return false;
    const char *arg1 = cmd + strlen(cmd) + 1;
    if (arg1 >= cmd + n || strcmp(arg1, EXEC_SHIM_VERB) != 0)
        return false;
    const char *arg2 = arg1 + strlen(arg1) + 1;
    return arg2 < cmd + n && strcmp(arg2, pod_dir) == 0;
}

static bool valid_leaf(const char *leaf)
{
    if (strcmp(leaf, "-") == 0)
        return true;
    if (strncmp(leaf, "pod-", 4) != 0 || strlen(leaf) >= LX_LEAF_MAX)
        return false;
    for (const char *p = leaf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static int local_adopt(void *vctx, uint64_t pod_id, const char *handle, enum exec_adopt_state *ret_state,
                       struct exec_exit *ret_exit)
{
    struct lx_ctx *ctx = vctx;
    int pid = 0, used = 0, r = 0;
    unsigned long long start = 0;
    char leaf[LX_LEAF_MAX], pod_dir[LX_PATH_MAX], state = 0;
    struct lx_pod *pod = NULL;
    if (!ctx || !handle || !ret_state)
        return GPUAAS_EINVAL;
    if (sscanf(handle, "pid=%d start=%llu cg=%63s%n", &pid, &start, leaf, &used) != 3 || handle[used] != '\0' ||
        pid <= 1 || !valid_leaf(leaf))
        return GPUAAS_EINVAL;
    if (strcmp(leaf, "-") == 0)
        leaf[0] = '\0';
    if ((r = pod_dir_path(ctx, pod_id, pod_dir, sizeof(pod_dir))) < 0)
        return r;

    pthread_mutex_lock(&ctx->lock);
    if (*pod_find(ctx, pod_id)) {
        r = GPUAAS_ECONFLICT;
        goto out;
    }
    /* open first, then check: if the pid was reused after pidfd_open the
     * start time no longer matches */
    int pidfd = pidfd_open(pid, 0);
    if (pidfd >= 0 && is_our_shim(pid, start, pod_dir, &state)) {
        if (state != 'Z') {
            pod = calloc(1, sizeof(*pod));
            if (!pod) {
                close(pidfd);
                r = GPUAAS_ENOMEM;
                goto out;
            }
            pod->pod_id = pod_id;
            pod->pid = pid;
            pod->pidfd = pidfd;
            snprintf(pod->leaf, sizeof(pod->leaf), "%s", leaf);
            if ((r = watch_locked(ctx, pod)) < 0) {
                close(pidfd);
                free(pod);
                goto out;
            }
            *ret_state = EXEC_ADOPT_RUNNING;
            goto out;
        }
        reap(pidfd); /* a zombie: ours to reap if it is our child */
    }
    if (pidfd >= 0)
        close(pidfd);
    struct exec_exit ex;
    if (collect_exit(ctx, pod_id, leaf, &ex)) {
        *ret_state = EXEC_ADOPT_EXITED;
        if (ret_exit)
            *ret_exit = ex;
    } else {
        *ret_state = EXEC_ADOPT_GONE;
    }
out:
    pthread_mutex_unlock(&ctx->lock);
    return r;
}

static int local_log_path(void *vctx, uint64_t pod_id, char *out, size_t out_size)
{
    struct lx_ctx *ctx = vctx;
    char path[LX_PATH_MAX + 16];
    if (!ctx || !out)
        return GPUAAS_EINVAL;
    snprintf(path, sizeof(path), "%s/%" PRIu64 "/" LX_LOG_NAME, ctx->state_dir, pod_id);
    if ((size_t)snprintf(out, out_size, "%s", path) >= out_size)
        return GPUAAS_ETOOBIG;
    return 0;
}

static void local_caps(void *vctx, struct exec_caps *ret_caps)
{
    struct lx_ctx *ctx = vctx;
    if (ctx && ret_caps)
        *ret_caps = ctx->caps;
}

const struct exec_driver exec_local_driver = {
    .name = "local",
    .init = local_init,
    .start = local_start,
    .stop = local_stop,
    .adopt = local_adopt,
    .log_path = local_log_path,
    .caps = local_caps,
    .shutdown = local_shutdown,
};
