/* Tests for the local exec driver (src/exec/local.c, shim.c) with real
 * processes. The shim re-executes this program, so main() routes the shim
 * verb before cmocka starts. Limits are checked where caps() says they are
 * enforced (as root on a host with cgroups they all are). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"
#include "exec/shim.h"
#include "gpuaas/error.h"

#define MAX_EXITS 64
#define LOG_CAP (16u << 20)
#define TRAILER "[gpuaas: log truncated at 16 MiB]\n"

static const struct exec_driver *drv = &exec_local_driver;
static char g_state[256];

/* ---- exits reported through on_exit --------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    struct exec_exit ex[MAX_EXITS];
} g_exits = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {{0}}};

static void on_exit_cb(void *arg, const struct exec_exit *ex)
{
    (void)arg;
    pthread_mutex_lock(&g_exits.mu);
    if (g_exits.n < MAX_EXITS)
        g_exits.ex[g_exits.n++] = *ex;
    pthread_cond_broadcast(&g_exits.cv);
    pthread_mutex_unlock(&g_exits.mu);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for pod_id's exit; false on timeout. */
static bool wait_exit(uint64_t pod_id, int timeout_ms, struct exec_exit *ret)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool found = false;
    pthread_mutex_lock(&g_exits.mu);
    for (;;) {
        for (int i = 0; i < g_exits.n && !found; i++)
            if (g_exits.ex[i].pod_id == pod_id) {
                *ret = g_exits.ex[i];
                found = true;
            }
        if (found || pthread_cond_timedwait(&g_exits.cv, &g_exits.mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&g_exits.mu);
    return found;
}

static int exits_for(uint64_t pod_id)
{
    int count = 0;
    pthread_mutex_lock(&g_exits.mu);
    for (int i = 0; i < g_exits.n; i++)
        count += g_exits.ex[i].pod_id == pod_id;
    pthread_mutex_unlock(&g_exits.mu);
    return count;
}

/* ---- helpers ---------------------------------------------------------------- */

static void *driver_init(void)
{
    void *ctx = NULL;
    char err[256] = "";
    int r = drv->init(g_state, on_exit_cb, NULL, &ctx, err, sizeof(err));
    if (r != 0)
        fail_msg("init: %d %s", r, err);
    return ctx;
}

static void start_pod(void *ctx, uint64_t id, char *const *argv, char *const *envp, const char *workdir,
                      int64_t memory, char *handle)
{
    struct exec_pod_spec spec = {.pod_id = id, .argv = argv, .envp = envp, .workdir = workdir,
                                 .memory_bytes = memory};
    char err[256] = "", h[EXEC_HANDLE_MAX];
    int r = drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err));
    if (r != 0)
        fail_msg("start pod %" PRIu64 ": %d %s", id, r, err);
    if (handle)
        snprintf(handle, EXEC_HANDLE_MAX, "%s", h);
}

static struct exec_exit run_pod(void *ctx, uint64_t id, char *const *argv, char *const *envp, const char *workdir,
                                int64_t memory)
{
    struct exec_exit ex;
    start_pod(ctx, id, argv, envp, workdir, memory, NULL);
    if (!wait_exit(id, 10000, &ex))
        fail_msg("pod %" PRIu64 " did not exit", id);
    return ex;
}

/* Reads the pod's log (malloc'd, NUL-terminated). */
static char *read_log(void *ctx, uint64_t id, size_t *ret_len)
{
    char path[512];
    assert_int_equal(drv->log_path(ctx, id, path, sizeof(path)), 0);
    FILE *f = fopen(path, "re");
    if (!f)
        fail_msg("no log %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)len, f);
    buf[got] = '\0';
    fclose(f);
    if (ret_len)
        *ret_len = got;
    return buf;
}

static pid_t handle_pid(const char *handle)
{
    int pid = 0;
    assert_int_equal(sscanf(handle, "pid=%d", &pid), 1);
    return pid;
}

/* Processes whose command line contains marker. */
static int count_marked(const char *marker)
{
    int count = 0;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], cmd[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
        close(fd);
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[n] = '\0';
        count += strstr(cmd, marker) != NULL;
    }
    closedir(d);
    return count;
}

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void make_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", g_state, name);
    assert_true(mkdir(out, 0755) == 0 || errno == EEXIST);
}

static char *env_path[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};

/* ---- tests ---------------------------------------------------------------- */

static void test_exit_code_env_and_log(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"sh", "-c", "echo $FOO; echo err >&2; exit 3", NULL};
    char *envp[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
    struct exec_exit ex = run_pod(ctx, 1, argv, envp, NULL, 0);
    assert_int_equal(ex.exit_code, 3);
    assert_int_equal(ex.signal, 0);
    assert_false(ex.oom_killed);
    assert_true(ex.end_ms > 0);
    char *log = read_log(ctx, 1, NULL);
    assert_non_null(strstr(log, "bar\n"));
    assert_non_null(strstr(log, "err\n"));
    free(log);
    drv->shutdown(ctx);
}

static void test_env_is_exactly_given(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"env", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "CUDA_VISIBLE_DEVICES=0,2", "EMPTY=", NULL};
    struct exec_exit ex = run_pod(ctx, 2, argv, envp, NULL, 0);
    assert_int_equal(ex.exit_code, 0);
    char *log = read_log(ctx, 2, NULL);
    assert_string_equal(log, "PATH=/usr/bin:/bin\nCUDA_VISIBLE_DEVICES=0,2\nEMPTY=\n");
    free(log);

    /* nothing from the server leaks in, not even PATH */
    char *argv2[] = {"/usr/bin/env", NULL};
    char *envp2[] = {"ONLY=this", NULL};
    ex = run_pod(ctx, 3, argv2, envp2, NULL, 0);
    assert_int_equal(ex.exit_code, 0);
    log = read_log(ctx, 3, NULL);
    assert_string_equal(log, "ONLY=this\n");
    free(log);

    /* an empty environment */
    char *envp3[] = {NULL};
    ex = run_pod(ctx, 4, argv2, envp3, NULL, 0);
    assert_int_equal(ex.exit_code, 0);
    log = read_log(ctx, 4, NULL);
    assert_string_equal(log, "");
    free(log);
    drv->shutdown(ctx);
}

static void test_workdir(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char wd[512], want[600];
    make_dir(wd, sizeof(wd), "wd-5");
    char *argv[] = {"sh", "-c", "pwd", NULL};
    struct exec_exit ex = run_pod(ctx, 5, argv, env_path, wd, 0);
    assert_int_equal(ex.exit_code, 0);
    char *log = read_log(ctx, 5, NULL);
    snprintf(want, sizeof(want), "%s\n", wd);
    assert_string_equal(log, want);
    free(log);

    /* default: the pod's own directory */
    ex = run_pod(ctx, 6, argv, env_path, NULL, 0);
    assert_int_equal(ex.exit_code, 0);
    log = read_log(ctx, 6, NULL);
    char real[PATH_MAX];
    assert_non_null(realpath(g_state, real));
    snprintf(want, sizeof(want), "%s/6\n", real);
    assert_string_equal(log, want);
    free(log);

    /* a missing workdir fails start() with a message naming it */
    char err[256] = "", h[EXEC_HANDLE_MAX];
    struct exec_pod_spec spec = {.pod_id = 7, .argv = argv, .envp = env_path, .workdir = "/nonexistent/wd"};
    assert_int_equal(drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err)), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/wd"));
    spec.workdir = "relative/wd";
    assert_int_equal(drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err)), GPUAAS_EINVAL);
    drv->shutdown(ctx);
    assert_int_equal(exits_for(7), 0);
}

static void test_bad_specs(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char err[256], h[EXEC_HANDLE_MAX];
    char *empty[] = {NULL};
    struct exec_pod_spec spec = {.pod_id = 8, .argv = empty, .envp = env_path};
    assert_int_equal(drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err)), GPUAAS_EINVAL);

    static char *many[300];
    for (int i = 0; i < 299; i++)
        many[i] = "x";
    many[299] = NULL;
    spec.argv = many;
    assert_int_equal(drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err)), GPUAAS_ETOOBIG);

    char *argv[] = {"true", NULL};
    spec.argv = argv;
    spec.memory_bytes = -1;
    assert_int_equal(drv->start(ctx, &spec, h, sizeof(h), err, sizeof(err)), GPUAAS_EINVAL);
    spec.memory_bytes = 0;
    assert_int_equal(drv->start(ctx, &spec, h, 16, err, sizeof(err)), GPUAAS_EINVAL); /* handle buffer */
    assert_int_equal(drv->stop(ctx, 424242, 0), GPUAAS_ENOTFOUND);
    drv->shutdown(ctx);
    assert_int_equal(exits_for(8), 0);
}

static void test_program_not_found(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"gpuaas-no-such-program", NULL};
    struct exec_exit ex = run_pod(ctx, 9, argv, env_path, NULL, 0);
    assert_int_equal(ex.exit_code, 127);
    char *log = read_log(ctx, 9, NULL);
    assert_non_null(strstr(log, "gpuaas-no-such-program: command not found"));
    free(log);
    drv->shutdown(ctx);
}

/* stop() reaches every descendant: background jobs, one that ignores TERM,
 * a double-forked orphan and one in a new session. */
static void test_stop_kills_whole_tree(void **state)
{
    (void)state;
    void *ctx = driver_init();
    struct exec_caps caps;
    drv->caps(ctx, &caps);
    /* sleep adds up its arguments, so a tiny unique fraction marks the tree */
    char marker[32], script[1024];
    snprintf(marker, sizeof(marker), "0.00%d77", (int)getpid());
    int want;
    if (caps.kill_tree) {
        snprintf(script, sizeof(script),
                 "sleep 1000 %1$s & sleep 1000 %1$s & sh -c 'trap \"\" TERM; sleep 1000 %1$s; true' %1$s & "
                 "(sleep 1000 %1$s &); setsid sleep 1000 %1$s & wait",
                 marker);
        want = 7;
    } else { /* only the process group can be reached */
        snprintf(script, sizeof(script),
                 "sleep 1000 %1$s & sleep 1000 %1$s & sh -c 'trap \"\" TERM; sleep 1000 %1$s; true' %1$s & wait",
                 marker);
        want = 5;
    }
    char *argv[] = {"sh", "-c", script, marker, NULL};
    start_pod(ctx, 10, argv, env_path, NULL, 0, NULL);
    int64_t t0 = mono_ms();
    while (count_marked(marker) < want && mono_ms() - t0 < 5000)
        usleep(20000);
    assert_int_equal(count_marked(marker), want);

    const int grace = 300;
    int64_t stop_at = mono_ms();
    assert_int_equal(drv->stop(ctx, 10, grace), 0);
    assert_true(mono_ms() - stop_at < 200); /* returns at once */
    struct exec_exit ex;
    assert_true(wait_exit(10, grace + 1000, &ex));
    assert_true(ex.signal == SIGTERM || ex.signal == SIGKILL);
    assert_int_equal(ex.exit_code, -1);
    while (count_marked(marker) > 0 && mono_ms() - stop_at < grace + 1000)
        usleep(20000);
    assert_int_equal(count_marked(marker), 0);
    drv->shutdown(ctx);
}

/* Like a container: when the main process ends, the rest of the pod is
 * killed, and a background job holding the log open does not delay the exit. */
static void test_main_exit_ends_pod(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char marker[32], script[256];
    snprintf(marker, sizeof(marker), "0.00%d79", (int)getpid());
    snprintf(script, sizeof(script), "sleep 1000 %1$s & (sleep 1000 %1$s &); sleep 0.2; echo bye; exit 6", marker);
    char *argv[] = {"sh", "-c", script, marker, NULL};
    int64_t t0 = mono_ms();
    struct exec_exit ex = run_pod(ctx, 23, argv, env_path, NULL, 0);
    assert_int_equal(ex.exit_code, 6);
    assert_true(mono_ms() - t0 < 1500);
    assert_int_equal(count_marked(marker), 0);
    char *log = read_log(ctx, 23, NULL);
    assert_string_equal(log, "bye\n");
    free(log);
    drv->shutdown(ctx);
}

/* TERM first: a pod that handles it ends on its own terms. */
static void test_stop_term_is_graceful(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done", NULL};
    start_pod(ctx, 21, argv, env_path, NULL, 0, NULL);
    int64_t t0 = mono_ms();
    for (;;) { /* wait until the trap is installed */
        char *log = read_log(ctx, 21, NULL);
        bool ready = strstr(log, "ready") != NULL;
        free(log);
        if (ready || mono_ms() - t0 > 5000)
            break;
        usleep(10000);
    }
    assert_int_equal(drv->stop(ctx, 21, 5000), 0);
    struct exec_exit ex;
    assert_true(wait_exit(21, 20000, &ex));
    assert_int_equal(ex.exit_code, 0);
    char *log = read_log(ctx, 21, NULL);
    assert_non_null(strstr(log, "got-term"));
    free(log);
    drv->shutdown(ctx);
}

/* A pod that ignores TERM gets SIGKILL when the grace time is over. */
static void test_stop_kill_after_grace(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done", NULL};
    start_pod(ctx, 22, argv, env_path, NULL, 0, NULL);
    usleep(100000);
    int64_t t0 = mono_ms();
    assert_int_equal(drv->stop(ctx, 22, 300), 0);
    struct exec_exit ex;
    assert_true(wait_exit(22, 20000, &ex));
    int64_t took = mono_ms() - t0;
    assert_int_equal(ex.signal, SIGKILL);
    assert_true(took >= 290);
    drv->shutdown(ctx);
}

/* grace 0: SIGKILL at once, even to a pod that ignores TERM */
static void test_stop_without_grace(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
    start_pod(ctx, 11, argv, env_path, NULL, 0, NULL);
    usleep(50000);
    assert_int_equal(drv->stop(ctx, 11, 0), 0);
    struct exec_exit ex;
    assert_true(wait_exit(11, 20000, &ex));
    assert_int_equal(ex.signal, SIGKILL);
    drv->shutdown(ctx);
}

static void test_memory_limit_oom(void **state)
{
    (void)state;
    void *ctx = driver_init();
    struct exec_caps caps;
    drv->caps(ctx, &caps);
    print_message("# caps: %s (version %s)\n", caps.detail, caps.cgroup_version);
    if (!caps.memory_limit) {
        drv->shutdown(ctx);
        skip();
    }
    /* dd fills one 256 MiB buffer: resident memory, four times the limit */
    char *argv[] = {"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1", NULL};
    struct exec_exit ex = run_pod(ctx, 12, argv, env_path, NULL, 64 << 20);
    assert_int_equal(ex.signal, SIGKILL);
    assert_true(ex.oom_killed);

    /* under the limit: runs to the end, no OOM */
    char *small[] = {"dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1", NULL};
    ex = run_pod(ctx, 13, small, env_path, NULL, 64 << 20);
    assert_int_equal(ex.exit_code, 0);
    assert_false(ex.oom_killed);
    drv->shutdown(ctx);
}

/* The limits land in the pod's cgroup files (v1 or v2 names): each
 * candidate is "<hierarchy>|<file>", the pod's group being
 * <hierarchy>/gpuaas/<leaf>. */
static bool knob_is(const char *const *cands, const char *leaf, const char *want)
{
    for (int i = 0; cands[i]; i++) {
        char path[512], text[128] = "";
        const char *bar = strchr(cands[i], '|');
        snprintf(path, sizeof(path), "%.*s/gpuaas/%s/%s", (int)(bar - cands[i]), cands[i], leaf, bar + 1);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        bool ok = fgets(text, sizeof(text), f) && strncmp(text, want, strlen(want)) == 0;
        fclose(f);
        if (ok)
            return true;
    }
    return false;
}

static void test_limits_in_cgroups(void **state)
{
    (void)state;
    void *ctx = driver_init();
    struct exec_caps caps;
    drv->caps(ctx, &caps);
    if (!caps.cpu_limit && !caps.pids_limit && !caps.memory_limit) {
        drv->shutdown(ctx);
        skip();
    }
    char *argv[] = {"sleep", "1000", NULL};
    struct exec_pod_spec spec = {.pod_id = 14, .argv = argv, .envp = env_path, .cpu_milli = 500,
                                 .memory_bytes = 128 << 20, .pids_max = 64};
    char err[256] = "", handle[EXEC_HANDLE_MAX], leaf[64] = "";
    assert_int_equal(drv->start(ctx, &spec, handle, sizeof(handle), err, sizeof(err)), 0);
    assert_non_null(strstr(handle, "cg="));
    sscanf(strstr(handle, "cg=") + 3, "%63s", leaf);
    static const char *const cpu[] = {"/sys/fs/cgroup/cpu|cpu.cfs_quota_us",
                                      "/sys/fs/cgroup/cpu,cpuacct|cpu.cfs_quota_us", "/sys/fs/cgroup|cpu.max",
                                      "/sys/fs/cgroup/unified|cpu.max", NULL};
    static const char *const pids[] = {"/sys/fs/cgroup/pids|pids.max", "/sys/fs/cgroup|pids.max",
                                       "/sys/fs/cgroup/unified|pids.max", NULL};
    static const char *const mem[] = {"/sys/fs/cgroup/memory|memory.limit_in_bytes", "/sys/fs/cgroup|memory.max",
                                      "/sys/fs/cgroup/unified|memory.max", NULL};
    if (caps.cpu_limit)
        assert_true(knob_is(cpu, leaf, "50000"));
    if (caps.pids_limit)
        assert_true(knob_is(pids, leaf, "64"));
    if (caps.memory_limit)
        assert_true(knob_is(mem, leaf, "134217728"));
    assert_int_equal(drv->stop(ctx, 14, 0), 0);
    struct exec_exit ex;
    assert_true(wait_exit(14, 20000, &ex));
    /* the shim removed the pod's cgroups */
    assert_false(knob_is(pids, leaf, ""));
    assert_false(knob_is(mem, leaf, ""));
    drv->shutdown(ctx);
}

static void test_log_cap(void **state)
{
    (void)state;
    void *ctx = driver_init();
    char *argv[] = {"sh", "-c", "yes 0123456789abcdef | head -c 20971520; echo tail-marker", NULL};
    struct exec_exit ex = run_pod(ctx, 15, argv, env_path, NULL, 0);
    assert_int_equal(ex.exit_code, 0);
    size_t len = 0;
    char *log = read_log(ctx, 15, &len);
    assert_true(len >= LOG_CAP);
    assert_true(len <= LOG_CAP + 1 + strlen(TRAILER));
    assert_string_equal(log + len - strlen(TRAILER), TRAILER);
    assert_null(strstr(log, "tail-marker"));
    assert_memory_equal(log, "0123456789abcdef\n0123456789abcdef\n", 34);
    free(log);
    drv->shutdown(ctx);
}

/* The server goes away (shutdown, like a crash); the pod keeps running and
 * a new driver on the same state dir takes it back. */
static void test_adopt_running(void **state)
{
    (void)state;
    char wd[512], handle[EXEC_HANDLE_MAX];
    make_dir(wd, sizeof(wd), "wd-16");
    char *argv[] = {"sh", "-c", "while [ ! -e go ]; do sleep 0.02; done; echo done; exit 7", NULL};
    void *a = driver_init();
    start_pod(a, 16, argv, env_path, wd, 0, handle);
    drv->shutdown(a);
    pid_t shim = handle_pid(handle);
    assert_int_equal(kill(shim, 0), 0);

    void *b = driver_init();
    enum exec_adopt_state st = EXEC_ADOPT_GONE;
    struct exec_exit ex = {0};
    assert_int_equal(drv->adopt(b, 16, handle, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_RUNNING);
    assert_int_equal(drv->adopt(b, 16, handle, &st, &ex), GPUAAS_ECONFLICT);
    touch(wd, "go");
    assert_true(wait_exit(16, 20000, &ex));
    assert_int_equal(ex.exit_code, 7);
    assert_int_equal(exits_for(16), 1);
    char *log = read_log(b, 16, NULL);
    assert_string_equal(log, "done\n");
    free(log);
    drv->shutdown(b);
}

/* An adopted pod can still be stopped, tree and all. */
static void test_adopt_then_stop(void **state)
{
    (void)state;
    char handle[EXEC_HANDLE_MAX], marker[32], script[256];
    snprintf(marker, sizeof(marker), "0.00%d78", (int)getpid());
    snprintf(script, sizeof(script), "sleep 1000 %1$s & sleep 1000 %1$s & wait", marker);
    char *argv[] = {"sh", "-c", script, marker, NULL};
    void *a = driver_init();
    start_pod(a, 17, argv, env_path, NULL, 0, handle);
    drv->shutdown(a);
    int64_t t0 = mono_ms();
    while (count_marked(marker) < 3 && mono_ms() - t0 < 5000)
        usleep(20000);
    void *b = driver_init();
    enum exec_adopt_state st;
    struct exec_exit ex;
    assert_int_equal(drv->adopt(b, 17, handle, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_RUNNING);
    assert_int_equal(drv->stop(b, 17, 200), 0);
    assert_true(wait_exit(17, 20000, &ex));
    assert_int_equal(ex.signal, SIGTERM);
    assert_int_equal(count_marked(marker), 0);
    drv->shutdown(b);
}

static void test_adopt_exited_while_unwatched(void **state)
{
    (void)state;
    char wd[512], h1[EXEC_HANDLE_MAX], h2[EXEC_HANDLE_MAX];
    make_dir(wd, sizeof(wd), "wd-18");
    char *argv4[] = {"sh", "-c", "while [ ! -e go ]; do sleep 0.02; done; exit 4", NULL};
    char *argv5[] = {"sh", "-c", "while [ ! -e go ]; do sleep 0.02; done; exit 5", NULL};
    void *a = driver_init();
    start_pod(a, 18, argv4, env_path, wd, 0, h1);
    start_pod(a, 19, argv5, env_path, wd, 0, h2);
    drv->shutdown(a);
    touch(wd, "go");

    /* pod 18's shim is reaped (as init would after a server crash) */
    pid_t shim = handle_pid(h1);
    int status;
    assert_int_equal(waitpid(shim, &status, 0), shim);
    /* pod 19's shim is left a zombie of ours: adopt must reap it */
    pid_t zombie = handle_pid(h2);
    char path[64], text[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)zombie);
    int64_t t0 = mono_ms();
    for (;;) {
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_non_null(fgets(text, sizeof(text), f));
        fclose(f);
        if (strstr(strrchr(text, ')'), ") Z ") || mono_ms() - t0 > 5000)
            break;
        usleep(10000);
    }
    assert_non_null(strstr(strrchr(text, ')'), ") Z "));

    void *b = driver_init();
    enum exec_adopt_state st = EXEC_ADOPT_RUNNING;
    struct exec_exit ex = {0};
    assert_int_equal(drv->adopt(b, 18, h1, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_EXITED);
    assert_int_equal(ex.pod_id, 18);
    assert_int_equal(ex.exit_code, 4);
    assert_int_equal(ex.signal, 0);
    assert_true(ex.end_ms > 0);
    assert_int_equal(drv->adopt(b, 19, h2, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_EXITED);
    assert_int_equal(ex.exit_code, 5);
    assert_int_equal(waitpid(zombie, &status, WNOHANG), -1); /* already reaped */
    drv->shutdown(b);
    assert_int_equal(exits_for(18), 0);
    assert_int_equal(exits_for(19), 0);
}

static void test_adopt_gone_and_bad_handles(void **state)
{
    (void)state;
    void *ctx = driver_init();
    enum exec_adopt_state st = EXEC_ADOPT_RUNNING;
    struct exec_exit ex;
    char handle[EXEC_HANDLE_MAX];

    /* a pid that no longer exists */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    assert_true(dead > 0);
    waitpid(dead, NULL, 0);
    snprintf(handle, sizeof(handle), "pid=%d start=12345 cg=-", (int)dead);
    assert_int_equal(drv->adopt(ctx, 20, handle, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_GONE);

    /* a live pid with another start time: the pid was reused */
    st = EXEC_ADOPT_RUNNING;
    snprintf(handle, sizeof(handle), "pid=%d start=1 cg=-", (int)getpid());
    assert_int_equal(drv->adopt(ctx, 20, handle, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_GONE);

    /* a live pid with the right start time that is not our shim */
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)getpid());
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof(text), f));
    fclose(f);
    char *p = strrchr(text, ')') + 2;
    for (int field = 3; field < 22; field++)
        p = strchr(p, ' ') + 1;
    snprintf(handle, sizeof(handle), "pid=%d start=%llu cg=-", (int)getpid(), strtoull(p, NULL, 10));
    st = EXEC_ADOPT_RUNNING;
    assert_int_equal(drv->adopt(ctx, 20, handle, &st, &ex), 0);
    assert_int_equal(st, EXEC_ADOPT_GONE);

    static const char *const bad[] = {"", "garbage", "pid=abc start=1 cg=-", "pid=100 start=1 cg=../../etc",
                                      "pid=100 start=1 cg=pod-1/x", "pid=100 start=1 cg=- extra", "pid=1 start=1 cg=-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (drv->adopt(ctx, 20, bad[i], &st, &ex) != GPUAAS_EINVAL)
            fail_msg("handle \"%s\" accepted", bad[i]);
    drv->shutdown(ctx);
    assert_int_equal(exits_for(20), 0);
}

/* Every shim this process started has been reaped. */
static void test_no_zombies_left(void **state)
{
    (void)state;
    char self[32];
    snprintf(self, sizeof(self), " %d ", (int)getpid());
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    int children = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], text[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(text, sizeof(text), f)) {
            char *p = strrchr(text, ')');
            /* ") S PPID " */
            if (p && strncmp(p + 3, self, strlen(self)) == 0)
                children++;
        }
        fclose(f);
    }
    closedir(d);
    assert_int_equal(children, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], EXEC_SHIM_VERB) == 0)
        return exec_shim_main(argc, argv);
    snprintf(g_state, sizeof(g_state), "/tmp/gpuaas-exec-test-XXXXXX");
    if (!mkdtemp(g_state)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_env_and_log),
        cmocka_unit_test(test_env_is_exactly_given),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_program_not_found),
        cmocka_unit_test(test_main_exit_ends_pod),
        cmocka_unit_test(test_stop_kills_whole_tree),
        cmocka_unit_test(test_stop_term_is_graceful),
        cmocka_unit_test(test_stop_kill_after_grace),
        cmocka_unit_test(test_stop_without_grace),
        cmocka_unit_test(test_memory_limit_oom),
        cmocka_unit_test(test_limits_in_cgroups),
        cmocka_unit_test(test_log_cap),
        cmocka_unit_test(test_adopt_running),
        cmocka_unit_test(test_adopt_then_stop),
        cmocka_unit_test(test_adopt_exited_while_unwatched),
        cmocka_unit_test(test_adopt_gone_and_bad_handles),
        cmocka_unit_test(test_no_zombies_left),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    nftw(g_state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
