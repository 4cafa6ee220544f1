/* Helpers shared by the local exec driver and its shim: the spec file, the
 * exit record, cgroup signalling and /proc parsing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec/local_priv.h"

void lx_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int lx_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lx_write_knob(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = lx_write_all(fd, text, strlen(text));
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

ssize_t lx_read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    ssize_t r = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (size > 0)
        buf[len] = '\0';
    return r < 0 ? r : (ssize_t)len;
}

int lx_read_whole(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    char *buf = NULL;
    int r = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    size_t want = (size_t)st.st_size;
    buf = malloc(want + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    size_t len = 0;
    while (len < want) {
        ssize_t n = read(fd, buf + len, want - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

/* ---- spec file ------------------------------------------------------------
 * NUL-separated strings: magic, pod id, workdir, ncg, dirs…, argc, argv…,
 * envc, env…. Binary-safe for any argv/env content except NUL, which exec
 * cannot carry anyway. */

static size_t spec_add(char *buf, size_t at, const char *s)
{
    size_t n = strlen(s) + 1;
    if (buf)
        memcpy(buf + at, s, n);
    return at + n;
}

static size_t spec_layout(const struct lx_spec *spec, char *buf)
{
    char num[32];
    size_t at = spec_add(buf, 0, LX_SPEC_MAGIC);
    snprintf(num, sizeof(num), "%" PRIu64, spec->pod_id);
    at = spec_add(buf, at, num);
    at = spec_add(buf, at, spec->workdir);
    snprintf(num, sizeof(num), "%d", spec->ncg);
    at = spec_add(buf, at, num);
    for (int i = 0; i < spec->ncg; i++)
        at = spec_add(buf, at, spec->cg_dirs[i]);
    snprintf(num, sizeof(num), "%d", spec->argc);
    at = spec_add(buf, at, num);
    for (int i = 0; i < spec->argc; i++)
        at = spec_add(buf, at, spec->argv[i]);
    snprintf(num, sizeof(num), "%d", spec->envc);
    at = spec_add(buf, at, num);
    for (int i = 0; i < spec->envc; i++)
        at = spec_add(buf, at, spec->envp[i]);
    return at;
}

int lx_spec_encode(const struct lx_spec *spec, char **ret_buf, size_t *ret_len)
{
    size_t len = spec_layout(spec, NULL);
    if (len > LX_SPEC_MAX)
        return -E2BIG;
    char *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    spec_layout(spec, buf);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

struct spec_reader {
    char *p, *end;
};

static char *spec_next(struct spec_reader *rd)
{
    if (rd->p >= rd->end)
        return NULL;
    char *nul = memchr(rd->p, '\0', (size_t)(rd->end - rd->p));
    if (!nul || (size_t)(nul - rd->p) >= LX_STR_MAX)
        return NULL;
    char *s = rd->p;
    rd->p = nul + 1;
    return s;
}

static int spec_count(struct spec_reader *rd, int max)
{
    char *s = spec_next(rd), *end = NULL;
    if (!s)
        return -1;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    return (int)v;
}

int lx_spec_decode(char *buf, size_t len, struct lx_spec *ret_spec)
{
    struct spec_reader rd = {buf, buf + len};
    struct lx_spec spec;
    memset(&spec, 0, sizeof(spec));
    char *s = spec_next(&rd), *end = NULL;
    if (!s || strcmp(s, LX_SPEC_MAGIC) != 0)
        return -EINVAL;
    if (!(s = spec_next(&rd)))
        return -EINVAL;
    spec.pod_id = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (!(spec.workdir = spec_next(&rd)) || spec.workdir[0] != '/')
        return -EINVAL;
    if ((spec.ncg = spec_count(&rd, LX_CG_MAX)) < 0)
        return -EINVAL;
    for (int i = 0; i < spec.ncg; i++)
        if (!(spec.cg_dirs[i] = spec_next(&rd)) || spec.cg_dirs[i][0] != '/')
            return -EINVAL;
    if ((spec.argc = spec_count(&rd, LX_ARGV_MAX)) < 1)
        return -EINVAL;
    for (int i = 0; i < spec.argc; i++)
        if (!(spec.argv[i] = spec_next(&rd)))
            return -EINVAL;
    if ((spec.envc = spec_count(&rd, LX_ENV_MAX)) < 0)
        return -EINVAL;
    for (int i = 0; i < spec.envc; i++)
        if (!(spec.envp[i] = spec_next(&rd)))
            return -EINVAL;
    if (rd.p != rd.end)
        return -EINVAL;
    spec.argv[spec.argc] = NULL;
    spec.envp[spec.envc] = NULL;
    *ret_spec = spec;
    return 0;
}

/* ---- exit record ---------------------------------------------------------- */

int lx_exit_write(const char *pod_dir, const struct exec_exit *ex)
{
    char tmp[LX_PATH_MAX], path[LX_PATH_MAX], text[160];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/" LX_EXIT_TMP_NAME, pod_dir) >= sizeof(tmp) ||
        (size_t)snprintf(path, sizeof(path), "%s/" LX_EXIT_NAME, pod_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    snprintf(text, sizeof(text), "exit_code=%d signal=%d oom_killed=%d end_ms=%" PRId64 "\n", ex->exit_code,
             ex->signal, ex->oom_killed ? 1 : 0, ex->end_ms);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int r = lx_write_all(fd, text, strlen(text));
    /* fsync so that a record that exists after a host crash is complete */
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

int lx_exit_read(const char *pod_dir, struct exec_exit *ret_ex)
{
    char path[LX_PATH_MAX], text[256];
    if ((size_t)snprintf(path, sizeof(path), "%s/" LX_EXIT_NAME, pod_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    ssize_t n = lx_read_small(path, text, sizeof(text));
    if (n < 0)
        return (int)n;
    int code = 0, sig = 0, oom = 0;
    long long end_ms = 0;
    if (sscanf(text, "exit_code=%d signal=%d oom_killed=%d end_ms=%lld", &code, &sig, &oom, &end_ms) != 4)
        return -EINVAL;
    struct exec_exit ex = {.exit_code = code, .signal = sig, .oom_killed = oom != 0, .end_ms = end_ms};
    *ret_ex = ex;
    return 0;
}

/* ---- cgroups -------------------------------------------------------------- */

static int cg_path(char *out, size_t size, const char *dir, const char *file)
{
    return (size_t)snprintf(out, size, "%s/%s", dir, file) >= size ? -ENAMETOOLONG : 0;
}

int lx_cg_signal(const char *const *dirs, int n, int sig)
{
    char path[LX_PATH_MAX];
    int listed = 0, readable = 0, err = -ENOENT;
    for (int i = 0; i < n; i++) {
        /* v2's cgroup.kill is atomic against forks, so try it first */
        if (sig == SIGKILL && cg_path(path, sizeof(path), dirs[i], "cgroup.kill") == 0 &&
            access(path, F_OK) == 0)
            lx_write_knob(path, "1");
        if (cg_path(path, sizeof(path), dirs[i], "cgroup.procs") < 0)
            continue;
        FILE *f = fopen(path, "re");
        if (!f) {
            err = -errno;
            continue;
        }
        readable++;
        int pid;
        while (fscanf(f, "%d", &pid) == 1) {
            if (pid > 0 && kill(pid, sig) == 0)
                listed++;
            else if (pid > 0 && errno != ESRCH)
                listed++; /* still there, still counts as non-empty */
        }
        fclose(f);
    }
    if (readable == 0 && n > 0)
        return err;
    return listed;
}

int lx_cg_kill_all(const char *const *dirs, int n, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        int r = lx_cg_signal(dirs, n, SIGKILL);
        if (r <= 0)
            return r == -ENOENT ? 0 : r;
        if (waited >= timeout_ms)
            return -EBUSY;
        lx_sleep_ms(10);
    }
}

int lx_cg_remove(const char *const *dirs, int n, int timeout_ms)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        for (int waited = 0;; waited += 10) {
            if (rmdir(dirs[i]) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || waited >= timeout_ms) {
                r = -errno;
                break;
            }
            lx_sleep_ms(10);
        }
    }
    return r;
}

static long long oom_kill_count(const char *path)
{
    char text[1024];
    if (lx_read_small(path, text, sizeof(text)) < 0)
        return 0;
    for (char *line = text; *line;) {
        if (strncmp(line, "oom_kill ", 9) == 0)
            return strtoll(line + 9, NULL, 10);
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

bool lx_cg_oom_killed(const char *const *dirs, int n)
{
    char path[LX_PATH_MAX];
    for (int i = 0; i < n; i++) {
        if (cg_path(path, sizeof(path), dirs[i], "memory.oom_control") == 0 && oom_kill_count(path) > 0)
            return true;
        if (cg_path(path, sizeof(path), dirs[i], "memory.events") == 0 && oom_kill_count(path) > 0)
            return true;
    }
    return false;
}

/* ---- /proc ---------------------------------------------------------------- */

int lx_proc_stat(pid_t pid, unsigned long long *ret_start, char *ret_state)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    ssize_t n = lx_read_small(path, text, sizeof(text));
    if (n < 0)
        return n == -ENOENT ? -ESRCH : (int)n;
    /* comm may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(text, ')');
    if (!p)
        return -EINVAL;
    p++;
    char state = 0;
    unsigned long long start = 0;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -EINVAL;
        if (field == 3)
            state = *p;
        if (field == 22)
            start = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    *ret_start = start;
    *ret_state = state;
    return 0;
}
