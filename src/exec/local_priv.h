/* Private to the local exec driver: what the server side (local.c) and the
 * shim (shim.c) share — file names in a pod directory, the spec file the
 * server hands to the shim, the exit record, and cgroup helpers.
 *
 * Helpers here follow the POSIX habit: 0 (or a count) on success, -errno on
 * failure, so the driver can turn them into a message with strerror. */
#ifndef GPUAAS_EXEC_LOCAL_PRIV_H
#define GPUAAS_EXEC_LOCAL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec/exec.h"

#define LX_ARGV_MAX 256          /* argv entries */
#define LX_ENV_MAX 512           /* environment entries */
#define LX_PATH_MAX 4096         /* any path we build */
#define LX_STR_MAX 65536         /* one argv or env string (kernel allows 128 KiB) */
#define LX_SPEC_MAX (4u << 20)   /* the whole spec file */
#define LX_LOG_CAP (16u << 20)   /* output.log keeps the first 16 MiB */
#define LX_LOG_TRAILER "[gpuaas: log truncated at 16 MiB]\n"
#define LX_CG_MAX 4              /* v2 group + v1 memory, cpu, pids */
#define LX_LEAF_MAX 64           /* "pod-<id>-<hash8>" */

/* Files in <state_dir>/<pod_id>/. */
#define LX_LOG_NAME "output.log"
#define LX_EXIT_NAME "exit"
#define LX_EXIT_TMP_NAME "exit.tmp"
#define LX_SPEC_NAME "spec"      /* server -> shim; the shim deletes it once read */
#define LX_PGID_NAME "pgid"      /* workload process group, for killing without cgroups */

#define LX_SPEC_MAGIC "gpuaas-spec-1"

/* What the shim needs to run a pod. After lx_spec_decode the pointers point
 * into the buffer that was decoded. */
struct lx_spec {
    uint64_t pod_id;
    const char *workdir;
    int ncg;
    const char *cg_dirs[LX_CG_MAX]; /* absolute pod cgroup directories */
    int argc;
    char *argv[LX_ARGV_MAX + 1];
    int envc;
    char *envp[LX_ENV_MAX + 1];
};

/* Builds the spec file content. *ret_buf is malloc'd (caller frees). */
int lx_spec_encode(const struct lx_spec *spec, char **ret_buf, size_t *ret_len);
/* Parses buf (len bytes, modified in place: stays owned by the caller and
 * must outlive *ret_spec). -EINVAL when malformed or over a limit. */
int lx_spec_decode(char *buf, size_t len, struct lx_spec *ret_spec);

/* Writes the whole buffer, retrying short writes and EINTR. */
int lx_write_all(int fd, const void *buf, size_t len);
/* Writes text into an existing file (cgroup knobs): open, write, close. */
int lx_write_knob(const char *path, const char *text);
/* Reads up to size-1 bytes of a file and NUL-terminates; returns the length. */
ssize_t lx_read_small(const char *path, char *buf, size_t size);
/* Reads a whole file of at most max bytes into a malloc'd buffer (NUL
 * terminated, *ret_len excludes the NUL). */
int lx_read_whole(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Exit record: <pod_dir>/exit, written by the shim via exit.tmp + rename. */
int lx_exit_write(const char *pod_dir, const struct exec_exit *ex);
/* -ENOENT when there is no record; pod_id is not set. */
int lx_exit_read(const char *pod_dir, struct exec_exit *ret_ex);

/* Sends sig to every process in the cgroup directories (for SIGKILL, v2's
 * cgroup.kill first where present). Returns how many processes were listed
 * (0: the pod's cgroups are empty), or -errno when none could be read. */
int lx_cg_signal(const char *const *dirs, int n, int sig);
/* SIGKILLs until the cgroups are empty or timeout_ms passed; 0 when empty. */
int lx_cg_kill_all(const char *const *dirs, int n, int timeout_ms);
/* rmdir each directory (missing is fine), retrying EBUSY up to timeout_ms. */
int lx_cg_remove(const char *const *dirs, int n, int timeout_ms);
/* True when the memory limit of one of these cgroups killed a process
 * (oom_kill counter of v1 memory.oom_control or v2 memory.events). */
bool lx_cg_oom_killed(const char *const *dirs, int n);

/* Start time (field 22 of /proc/<pid>/stat, clock ticks since boot) and
 * the state letter ('Z' for a zombie). -ESRCH when there is no such pid. */
int lx_proc_stat(pid_t pid, unsigned long long *ret_start, char *ret_state);

void lx_sleep_ms(int ms);

#endif
