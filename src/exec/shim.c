/* The pod shim (see shim.h). It runs in its own session, outside the pod's
 * cgroups (so stop() and the memory limit never kill it), pumps the
 * workload's stdout+stderr into a size-capped log, waits for the workload,
 * kills what is left of the pod, writes the exit record and exits. The
 * server watches the shim, not the workload, so the server may die and come
 * back without the pod noticing. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/local_priv.h"
#include "exec/shim.h"
#include "lib/clock.h"

/* After the workload's main process ends: how long the rest of the pod may
 * take to die, and how long to wait for the last writers of the log pipe. */
#define SHIM_KILL_WAIT_MS 2000
#define SHIM_DRAIN_MS 2000

struct shim_log {
    int fd;
    uint64_t written;
    bool truncated;
    char last;
};

/* Keeps the first LX_LOG_CAP bytes, then one trailer line; the rest is read
 * and dropped so the workload never blocks on a full pipe. */
static void log_append(struct shim_log *log, const char *buf, size_t n)
{
    if (log->fd < 0 || log->truncated || n == 0)
        return;
    uint64_t room = log->written < LX_LOG_CAP ? LX_LOG_CAP - log->written : 0;
    size_t take = n < room ? n : (size_t)room;
    if (take > 0 && lx_write_all(log->fd, buf, take) == 0) {
        log->written += take;
        log->last = buf[take - 1];
    }
    if (take < n) {
        log->truncated = true;
        if (log->written > 0 && log->last != '\n')
            lx_write_all(log->fd, "\n", 1);
        lx_write_all(log->fd, LX_LOG_TRAILER, strlen(LX_LOG_TRAILER));
    }
}

__attribute__((format(printf, 2, 3))) static void log_note(struct shim_log *log, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    line[len++] = '\n';
    log_append(log, line, len);
}

/* Child side, between fork and exec. The shim is single-threaded, so any
 * call is safe here; output goes to the log pipe. Never returns. */
static void run_workload(const struct lx_spec *spec, int out_fd, pid_t shim_pid)
{
    setpgid(0, 0); /* own group: the fallback kill without cgroups is killpg */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != shim_pid) /* the shim died before prctl took effect */
        _exit(125);
    char path[LX_PATH_MAX], num[32];
    snprintf(num, sizeof(num), "%d\n", (int)getpid());
    for (int i = 0; i < spec->ncg; i++) {
        int r = -ENAMETOOLONG;
        if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", spec->cg_dirs[i]) < sizeof(path))
            r = lx_write_knob(path, num);
        if (r < 0) {
            dprintf(out_fd, "[gpuaas: cannot join cgroup %s: %s]\n", spec->cg_dirs[i], strerror(-r));
            _exit(125);
        }
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(125);
    if (chdir(spec->workdir) < 0) {
        dprintf(2, "gpuaas: cannot enter workdir %s: %s\n", spec->workdir, strerror(errno));
        _exit(126);
    }
    /* the shim ignores TERM/INT/HUP/PIPE; ignored dispositions survive exec */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* execvp searches the PATH of environ, so this uses the pod's PATH */
    environ = (char **)spec->envp;
    execvp(spec->argv[0], spec->argv);
    int e = errno;
    if (e == ENOENT && !strchr(spec->argv[0], '/'))
        dprintf(2, "gpuaas: %s: command not found\n", spec->argv[0]);
    else
        dprintf(2, "gpuaas: %s: %s\n", spec->argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

static void kill_rest(const struct lx_spec *spec, pid_t pgid)
{
    if (spec->ncg > 0)
        lx_cg_kill_all(spec->cg_dirs, spec->ncg, SHIM_KILL_WAIT_MS);
    else
        killpg(pgid, SIGKILL);
}

/* Pumps the log until the workload's main process has exited and its pipe
 * is closed (or the drain time is over). Returns its wait status. */
static int pump(const struct lx_spec *spec, struct shim_log *log, int pipe_fd, pid_t child, int64_t *ret_end_ms)
{
    int pidfd = pidfd_open(child, 0); /* without it: poll with a timeout */
    bool main_done = false, pipe_open = true;
    int status = 0;
    int64_t drain_until = 0;
    static char buf[65536];
    while (pipe_open || !main_done) {
        int timeout = -1;
        if (main_done) {
            int64_t left = drain_until - clock_mono_ns() / 1000000;
            if (left <= 0)
                break;
            timeout = (int)left;
        } else if (pidfd < 0) {
            timeout = 100;
        }
        struct pollfd fds[2] = {{.fd = pipe_open ? pipe_fd : -1, .events = POLLIN},
                                {.fd = main_done ? -1 : pidfd, .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            ssize_t n = read(pipe_fd, buf, sizeof(buf));
            if (n > 0)
                log_append(log, buf, (size_t)n);
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                pipe_open = false;
        }
        if (!main_done && waitpid(child, &status, WNOHANG) == child) {
            main_done = true;
            *ret_end_ms = clock_now_ms();
            /* like a container: the pod ends with its main process */
            kill_rest(spec, child);
            drain_until = clock_mono_ns() / 1000000 + SHIM_DRAIN_MS;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return status;
}

int exec_shim_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], EXEC_SHIM_VERB) != 0 || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s " EXEC_SHIM_VERB " POD_DIR (started by the server, not by hand)\n", argv[0]);
        return 2;
    }
    const char *pod_dir = argv[2];
    char path[LX_PATH_MAX];
    struct shim_log log = {.fd = -1};
    struct lx_spec *spec = NULL;
    char *spec_buf = NULL;
    size_t spec_len = 0;
    int pipe_fds[2] = {-1, -1};
    struct exec_exit ex = {.exit_code = 125};
    bool have_spec = false;

    /* the shim must outlive the server's session and survive stop() */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    setsid();

    if ((size_t)snprintf(path, sizeof(path), "%s/" LX_LOG_NAME, pod_dir) < sizeof(path))
        log.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (log.fd >= 0 && fstat(log.fd, &st) == 0)
        log.written = (uint64_t)st.st_size;

    spec = calloc(1, sizeof(*spec));
    if (!spec) {
        log_note(&log, "[gpuaas: shim: out of memory]");
        goto record;
    }
    int r = -ENAMETOOLONG;
    if ((size_t)snprintf(path, sizeof(path), "%s/" LX_SPEC_NAME, pod_dir) < sizeof(path))
        r = lx_read_whole(path, LX_SPEC_MAX, &spec_buf, &spec_len);
    if (r == 0) {
        unlink(path); /* it holds the pod's environment: do not leave it around */
        r = lx_spec_decode(spec_buf, spec_len, spec);
    }
    if (r < 0) {
        log_note(&log, "[gpuaas: shim: cannot read the pod spec %s: %s]", path, strerror(-r));
        goto record;
    }
    have_spec = true;
    if (chdir("/") < 0) /* do not pin the server's cwd; the child enters workdir */
        log_note(&log, "[gpuaas: shim: chdir /: %s]", strerror(errno));
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        log_note(&log, "[gpuaas: shim: pipe: %s]", strerror(errno));
        goto record;
    }
    pid_t shim_pid = getpid();
    pid_t child = fork();
    if (child < 0) {
        log_note(&log, "[gpuaas: shim: fork: %s]", strerror(errno));
        goto record;
    }
    if (child == 0)
        run_workload(spec, pipe_fds[1], shim_pid);
    setpgid(child, child); /* also here, so the group exists whichever runs first */
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/" LX_PGID_NAME, pod_dir) < sizeof(path)) {
        char num[32];
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            snprintf(num, sizeof(num), "%d\n", (int)child);
            lx_write_all(fd, num, strlen(num));
            close(fd);
        }
    }

    ex.end_ms = clock_now_ms();
    int status = pump(spec, &log, pipe_fds[0], child, &ex.end_ms);
    if (WIFSIGNALED(status)) {
        ex.exit_code = -1;
        ex.signal = WTERMSIG(status);
    } else {
        ex.exit_code = WEXITSTATUS(status);
        ex.signal = 0;
    }
    ex.oom_killed = lx_cg_oom_killed(spec->cg_dirs, spec->ncg);
    unlink(path); /* pgid: the group is gone, its number may be reused */

record:
    if (have_spec && spec->ncg > 0) {
        lx_cg_kill_all(spec->cg_dirs, spec->ncg, SHIM_KILL_WAIT_MS);
        lx_cg_remove(spec->cg_dirs, spec->ncg, SHIM_KILL_WAIT_MS);
    }
    if (ex.end_ms == 0)
        ex.end_ms = clock_now_ms();
    r = lx_exit_write(pod_dir, &ex);
    if (r < 0)
        log_note(&log, "[gpuaas: shim: cannot write the exit record: %s]", strerror(-r));
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    if (log.fd >= 0)
        close(log.fd);
    free(spec_buf);
    free(spec);
    return r < 0 ? 1 : 0;
}
