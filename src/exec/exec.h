/* Running pods: a table of functions (local processes now; Kubernetes
 * later). The engine calls start/stop after the pod's record is committed;
 * exits come back through the on_exit callback, from the driver's thread. */
#ifndef GPUAAS_EXEC_H
#define GPUAAS_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_HANDLE_MAX 128

struct exec_pod_spec {
    uint64_t pod_id;
    char *const *argv;     /* NULL-terminated; argv[0] looked up in PATH */
    char *const *envp;     /* NULL-terminated; the whole environment of the pod */
    const char *workdir;   /* NULL: the pod's own directory */
    int64_t cpu_milli;     /* 0: no limit */
    int64_t memory_bytes;  /* 0: no limit */
    int64_t pids_max;      /* 0: no limit */
};

/* How a pod ended. */
struct exec_exit {
    uint64_t pod_id;
    int exit_code;  /* when exited normally, else -1 */
    int signal;     /* when killed by a signal, else 0 */
    bool oom_killed;/* the memory limit killed it (when the driver can tell) */
    int64_t end_ms; /* wall clock of the exit (as observed) */
};

typedef void (*exec_exit_fn)(void *arg, const struct exec_exit *ex);

struct exec_caps {
    bool memory_limit;
    bool cpu_limit;
    bool pids_limit;
    bool kill_tree;   /* a cgroup (or equivalent) catches every descendant */
    char cgroup_version[8]; /* "v2", "v1", "none" */
    char detail[256]; /* human text for `gpuaas doctor` */
};

enum exec_adopt_state {
    EXEC_ADOPT_RUNNING, /* still running: now monitored again */
    EXEC_ADOPT_EXITED,  /* ended while nobody watched: *ret_exit filled */
    EXEC_ADOPT_GONE,    /* vanished without a recorded exit: Lost */
};

struct exec_driver {
    const char *name;
    /* state_dir: where pod directories live (logs, exit records). */
    int (*init)(const char *state_dir, exec_exit_fn on_exit, void *arg, void **ret_ctx, char *err, size_t err_size);
    /* Starts the pod; fills ret_handle (to store, for adopt after a restart). */
    int (*start)(void *ctx, const struct exec_pod_spec *spec, char *ret_handle, size_t handle_size, char *err,
                 size_t err_size);
    /* SIGTERM to the whole tree, SIGKILL after grace_ms. Returns at once; the
     * exit arrives through on_exit. */
    int (*stop)(void *ctx, uint64_t pod_id, int grace_ms);
    /* After a server restart: take a pod back from its stored handle. */
    int (*adopt)(void *ctx, uint64_t pod_id, const char *handle, enum exec_adopt_state *ret_state,
                 struct exec_exit *ret_exit);
    /* Path of the pod's combined stdout+stderr log. */
    int (*log_path)(void *ctx, uint64_t pod_id, char *out, size_t out_size);
    void (*caps)(void *ctx, struct exec_caps *ret_caps);
    /* Stops watching (pods keep running, to be adopted by the next start). */
    void (*shutdown)(void *ctx);
};

extern const struct exec_driver exec_local_driver;

#endif
