#include "server/pods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

#define POD_ENV_MAX 512
#define POD_ARGV_MAX 257

static void post_started(struct pod_runner *runner, uint64_t pod_id, const char *handle, const char *failure)
{
    struct core_cmd cmd = {.kind = CORE_CMD_POD_STARTED, .pod_id = pod_id};
    if (failure) {
        cmd.start_failed = true;
        snprintf(cmd.message, sizeof cmd.message, "%s", failure);
    } else {
        snprintf(cmd.handle, sizeof cmd.handle, "%s", handle);
    }
    if (engine_post(runner->engine, &cmd) < 0)
        fprintf(stderr, "gpuaas: pod %llu: start result not recorded (shutting down); the next start adopts it\n",
                (unsigned long long)pod_id);
}

static char *env_entry(const char *key, const char *value)
{
    size_t len = strlen(key) + strlen(value) + 2;
    char *entry = malloc(len);
    if (entry)
        snprintf(entry, len, "%s=%s", key, value);
    return entry;
}

/* The pod's environment: a clean base, the spec's env, then what gpuaas
 * sets (which the spec may not override; the spec validator refuses that). */
static int build_env(const struct core_job *job, const struct core_pod *pod, char **envp, size_t *ret_count)
{
    size_t n = 0;
    char devices[CORE_POD_DEVICES_MAX * 64 + 1] = "";
    for (uint32_t i = 0; i < pod->device_count; i++) {
        size_t used = strlen(devices);
        snprintf(devices + used, sizeof devices - used, "%s%s", i ? "," : "", pod->devices[i].uuid);
    }
    char number[32];
    envp[n++] = env_entry("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    envp[n++] = env_entry("LANG", "C.UTF-8");
    envp[n++] = env_entry("HOME", "/tmp");
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(job->spec.document, "env"), key, value) {
        if (n + 16 >= POD_ENV_MAX)
            break;
        envp[n++] = env_entry(key, json_string_value(value));
    }
    envp[n++] = env_entry("GPUAAS_JOB", pod->job_name);
    envp[n++] = env_entry("GPUAAS_NAMESPACE", pod->namespace_path);
    snprintf(number, sizeof number, "%d", pod->replica);
    envp[n++] = env_entry("GPUAAS_REPLICA", number);
    snprintf(number, sizeof number, "%d", pod->attempt);
    envp[n++] = env_entry("GPUAAS_ATTEMPT", number);
    snprintf(number, sizeof number, "%llu", (unsigned long long)pod->id);
    envp[n++] = env_entry("GPUAAS_POD", number);
    envp[n++] = env_entry("GPUAAS_NODE", pod->node);
    /* no devices: an empty list hides every GPU from CUDA */
    envp[n++] = env_entry("CUDA_VISIBLE_DEVICES", devices);
    envp[n++] = env_entry("NVIDIA_VISIBLE_DEVICES", pod->device_count ? devices : "void");
    envp[n] = NULL;
    for (size_t i = 0; i < n; i++)
        if (!envp[i])
            return GPUAAS_ENOMEM;
    *ret_count = n;
    return 0;
}

static void start_pod(struct pod_runner *runner, const struct core_state *st, const struct core_pod *pod)
{
    const struct core_job *job = core_find_job_by_id(st, pod->job_id);
    if (!job) {
        post_started(runner, pod->id, NULL, "job no longer exists");
        return;
    }
    const json_t *command = json_object_get(job->spec.document, "command");
    char *argv[POD_ARGV_MAX] = {0};
    char *envp[POD_ENV_MAX + 1] = {0};
    size_t argc = 0, envc = 0;
    for (; argc < json_array_size(command) && argc + 1 < POD_ARGV_MAX; argc++)
        argv[argc] = (char *)json_string_value(json_array_get(command, argc));
    char err[256] = "", handle[EXEC_HANDLE_MAX] = "";
    int r = build_env(job, pod, envp, &envc);
    if (r == 0) {
        struct exec_pod_spec spec = {
            .pod_id = pod->id,
            .argv = argv,
            .envp = envp,
            .workdir = json_string_value(json_object_get(job->spec.document, "workdir")),
            .cpu_milli = pod->cpu_milli,
            .memory_bytes = pod->memory_bytes,
            .pids_max = 4096,
        };
        r = runner->exec->start(runner->exec_ctx, &spec, handle, sizeof handle, err, sizeof err);
    }
    for (size_t i = 0; i < POD_ENV_MAX && envp[i]; i++)
        free(envp[i]);
    if (r < 0)
        post_started(runner, pod->id, NULL, *err ? err : gpuaas_strerror(r));
    else
        post_started(runner, pod->id, handle, NULL);
}

void pod_runner_action(void *arg, struct engine *engine, const struct core_state *st,
                       const struct core_effect *effect)
{
    struct pod_runner *runner = arg;
    runner->engine = engine; /* before any pod starts, so its exit finds the engine */
    const struct core_pod *pod = core_find_pod(st, effect->pod_id);
    if (!pod)
        return;
    if (effect->kind == CORE_EFFECT_POD_START) {
        /* a pod that ended before its start ran (e.g. the job was deleted
         * in the same batch) is not started */
        if (pod->state == POD_SCHEDULED && !pod->handle[0])
            start_pod(runner, st, pod);
    } else if (effect->kind == CORE_EFFECT_POD_STOP) {
        if (!core_pod_state_final(pod->state))
            runner->exec->stop(runner->exec_ctx, pod->id, st->cfg.stop_grace_ms);
    }
}

void pod_runner_on_exit(void *arg, const struct exec_exit *ex)
{
    struct pod_runner *runner = arg;
    struct core_cmd cmd = {
        .kind = CORE_CMD_POD_EXITED,
        .pod_id = ex->pod_id,
        .exit_code = ex->exit_code,
        .exit_signal = ex->signal,
        .oom_killed = ex->oom_killed,
    };
    if (!runner->engine || engine_post(runner->engine, &cmd) < 0)
        fprintf(stderr, "gpuaas: pod %llu ended while shutting down; the next start records it\n",
                (unsigned long long)ex->pod_id);
}

int pod_runner_collect_active(const struct core_state *st, struct pod_adoption **ret_list, size_t *ret_count)
{
    size_t n = 0;
    struct pod_adoption *list = malloc((st->pods.count ? st->pods.count : 1) * sizeof *list);
    if (!list)
        return GPUAAS_ENOMEM;
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (core_pod_state_final(pod->state))
            continue;
        list[n].pod_id = pod->id;
        snprintf(list[n].handle, sizeof list[n].handle, "%s", pod->handle);
        n++;
    }
    *ret_list = list;
    *ret_count = n;
    return 0;
}

void pod_runner_reconcile(struct pod_runner *runner, const struct pod_adoption *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        enum exec_adopt_state state = EXEC_ADOPT_GONE;
        struct exec_exit ex = {.pod_id = list[i].pod_id, .exit_code = -1};
        int r = runner->exec->adopt(runner->exec_ctx, list[i].pod_id, list[i].handle, &state, &ex);
        if (r < 0)
            state = EXEC_ADOPT_GONE;
        if (state == EXEC_ADOPT_RUNNING) {
            if (!list[i].handle[0]) /* started just before a crash: record it now */
                post_started(runner, list[i].pod_id, "adopted", NULL);
            fprintf(stderr, "gpuaas: pod %llu adopted (still running)\n", (unsigned long long)list[i].pod_id);
            continue;
        }
        struct core_cmd cmd = {.kind = CORE_CMD_POD_EXITED, .pod_id = list[i].pod_id, .exit_code = -1};
        if (state == EXEC_ADOPT_EXITED) {
            cmd.exit_code = ex.exit_code;
            cmd.exit_signal = ex.signal;
            cmd.oom_killed = ex.oom_killed;
            snprintf(cmd.message, sizeof cmd.message, "ended while the server was down");
        } else {
            cmd.lost = true;
            snprintf(cmd.message, sizeof cmd.message, "its processes vanished while the server was down");
        }
        fprintf(stderr, "gpuaas: pod %llu %s\n", (unsigned long long)list[i].pod_id,
                state == EXEC_ADOPT_EXITED ? "ended while the server was down" : "lost");
        engine_post(runner->engine, &cmd);
    }
}
