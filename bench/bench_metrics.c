/* How long GET /metrics takes to render for a large cluster.
 *
 *   bench_metrics [--nodes N] [--iterations K]
 *
 * Builds, through the core's own commands, N nodes (default 1000) of 8
 * GPUs each (half spot, half on-demand), 100 namespaces with quotas on their
 * organisations, a first job per GPU that ran and ended (history for the
 * GPU-seconds counter), a second job per GPU that holds it now, and N jobs
 * waiting. Then, K times (default 30), does what the server does for one
 * scrape: lists the GPUs, adds live readings to every GPU (as the sampler's
 * annotation does; here all 8,000 GPUs have readings, the worst case), and
 * renders the text. Prints the median, p90 and max and one line
 *   RESULT nodes=N gpus=G pods=P jobs=J bytes=B median_ms=A p90_ms=B max_ms=C
 * Exit status 1 if the median is over the target (50 ms). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/metrics.h"
#include "core/model.h"
#include "core/spec.h"

#define GPUS_PER_NODE 8
#define NAMESPACES 100
#define TARGET_MS 50.0

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_metrics: %s\n", what);
    exit(2);
}

static struct core_effects fx;

static void apply(struct core_state *st, struct core_cmd *cmd, int64_t at)
{
    struct core_reply reply;
    memset(&reply, 0, sizeof reply);
    fx.count = 0;
    if (core_apply(st, cmd, at, &fx, &reply) < 0) {
        fprintf(stderr, "bench_metrics: command %d refused: %s\n", (int)cmd->kind, reply.message);
        exit(2);
    }
    core_reply_clear(&reply);
    core_cmd_clear(cmd);
}

static void add_node(struct core_state *st, int n, int64_t at)
{
    char name[32];
    snprintf(name, sizeof name, "gpu-node-%04d", n);
    json_t *gpus = json_array();
    for (int g = 0; g < GPUS_PER_NODE; g++) {
        char uuid[64];
        snprintf(uuid, sizeof uuid, "GPU-%08x-0000-4000-8000-%012x", n, g);
        json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:s,s:b,s:[]}", "index", g, "uuid", uuid, "model",
                                              "A100", "memory", "80Gi", "mig_mode", 0, "mig_devices"));
    }
    json_t *node = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s},s:o}", "name", name, "state", "Ready", "cpu", "96",
                             "memory", "1152Gi", "labels", "gpuaas.io/gpu-model", "A100", "gpuaas.io/capacity-type",
                             n % 2 ? "spot" : "on-demand", "gpuaas.io/instance-type", "p4d.24xlarge", "gpus", gpus);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    cmd.node = malloc(sizeof *cmd.node);
    char err[256];
    if (!node || !cmd.node || core_node_from_json(node, cmd.node, err, sizeof err) < 0)
        die("bad node");
    json_decref(node);
    apply(st, &cmd, at);
}

static void submit(struct core_state *st, const char *ns, const char *name, bool placeable, int64_t at)
{
    json_t *spec = json_pack("{s:s,s:s,s:s,s:{s:i,s:s,s:s},s:[s,s]}", "kind", "Job", "name", name, "namespace", ns,
                             "resources", "gpus", 1, "cpu", "4", "memory", "16Gi", "command", "sleep", "3600");
    if (!placeable)
        json_object_set_new(spec, "selector", json_pack("{s:s}", "bench-pool", "none"));
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    if (!spec || spec_parse_job(spec, NULL, &cmd.job, &err) < 0)
        die("bad spec");
    json_decref(spec);
    apply(st, &cmd, at);
}

static void pods_event(struct core_state *st, enum core_cmd_kind kind, int64_t at)
{
    /* every pod not yet in the state this event leads to */
    size_t n = st->pods.count, k = 0;
    uint64_t *ids = malloc(n * sizeof *ids);
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if ((kind == CORE_CMD_POD_STARTED && pod->state == POD_SCHEDULED) ||
            (kind == CORE_CMD_POD_EXITED && pod->state == POD_RUNNING))
            ids[k++] = pod->id;
    }
    for (size_t i = 0; i < k; i++) {
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = kind;
        cmd.pod_id = ids[i];
        snprintf(cmd.handle, sizeof cmd.handle, "bench-%llu", (unsigned long long)ids[i]);
        apply(st, &cmd, at);
    }
    free(ids);
}

static void schedule(struct core_state *st, int64_t at)
{
    fx.count = 0;
    core_schedule(st, at, &fx);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Readings for every GPU, as the GPU sampler gives them for local ones. */
static bool reading(void *arg, const char *uuid, struct metrics_reading *out)
{
    unsigned round = *(const unsigned *)arg;
    size_t h = strlen(uuid) + (unsigned char)uuid[strlen(uuid) - 1] + round;
    memset(out, 0, sizeof *out);
    out->utilization_pct = (int)(h * 7 % 101);
    out->memory_used_bytes = (int64_t)(h % 80) << 30;
    out->temperature_c = 40 + (int)(h % 30);
    out->power_mw = 250500 + (int64_t)(h % 100) * 1000;
    out->xid_last = 0;
    return true;
}

int main(int argc, char **argv)
{
    int nodes = 1000, iterations = 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_metrics [--nodes N] [--iterations K]\n");
            return 2;
        }
    }
    if (nodes < 1 || nodes > CORE_NODES_MAX || iterations < 1 || iterations > 10000)
        die("--nodes 1..20000, --iterations 1..10000");

    double t0 = now_ms();
    struct core_state st;
    if (core_state_init(&st) < 0)
        die("out of memory");
    core_effects_init(&fx);
    int64_t at = 1795000000000LL; /* 2026-11 */
    for (int n = 0; n < nodes; n++)
        add_node(&st, n, at);
    char ns[NAMESPACES][64];
    for (int k = 0; k < NAMESPACES; k++) {
        snprintf(ns[k], sizeof ns[k], "org-%02d/project-%02d/%s", k / 10, k % 10, k % 3 ? "dev" : "prod");
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_NAMESPACE_CREATE;
        snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", ns[k]);
        apply(&st, &cmd, at);
    }
    for (int k = 0; k < 10; k++) {
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_QUOTA_SET;
        snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "org-%02d", k);
        cmd.quota = malloc(sizeof *cmd.quota);
        quota_amounts_unlimited(cmd.quota);
        cmd.quota->gpus = (int64_t)nodes * GPUS_PER_NODE;
        cmd.quota->cpu_milli = (int64_t)nodes * 96000;
        apply(&st, &cmd, at);
    }
    int gpus = nodes * GPUS_PER_NODE;
    char name[64];
    /* a first job per GPU: placed, run, ended an hour later */
    for (int j = 0; j < gpus; j++) {
        snprintf(name, sizeof name, "done-%05d", j);
        submit(&st, ns[j % NAMESPACES], name, true, at);
    }
    schedule(&st, at);
    pods_event(&st, CORE_CMD_POD_STARTED, at + 1000);
    pods_event(&st, CORE_CMD_POD_EXITED, at + 3600000);
    /* a second job per GPU, holding it now; and jobs that wait */
    at += 3600000 + 1000;
    for (int j = 0; j < gpus; j++) {
        snprintf(name, sizeof name, "run-%05d", j);
        submit(&st, ns[j % NAMESPACES], name, true, at);
    }
    schedule(&st, at);
    pods_event(&st, CORE_CMD_POD_STARTED, at + 1000);
    for (int j = 0; j < nodes; j++) {
        snprintf(name, sizeof name, "wait-%05d", j);
        submit(&st, ns[j % NAMESPACES], name, false, at);
    }
    schedule(&st, at);
    at += 1800000;
    size_t running = 0;
    void *value;
    for (size_t it = 0; hmap_next(&st.pods, &it, NULL, &value);)
        running += ((const struct core_pod *)value)->state == POD_RUNNING;
    if (running != (size_t)gpus)
        die("not every GPU is held by a running pod");
    printf("cluster: %d nodes, %d GPUs, %zu pods (%zu running), %zu jobs, %d namespaces; built in %.0f ms\n", nodes,
           gpus, st.pods.count, running, st.jobs.count, NAMESPACES, now_ms() - t0);

    struct engine_stats es;
    memset(&es, 0, sizeof es);
    es.sched_buckets[2] = 1000;
    es.sched_passes = 1000;
    double *ms = malloc((size_t)iterations * sizeof *ms);
    size_t bytes = 0;
    for (int i = 0; i < iterations; i++) {
        unsigned round = (unsigned)i;
        double start = now_ms();
        struct metrics_input in = {.st = &st,
                                   .reading = reading,
                                   .reading_arg = &round,
                                   .now_ms = at,
                                   .engine = &es,
                                   .http = true};
        char *text;
        if (metrics_render(&in, &text, &bytes) < 0)
            die("render failed");
        ms[i] = now_ms() - start;
        if (i == 0 && !strstr(text, "gpuaas_gpus{node=\"gpu-node-0000\",model=\"A100\",capacity_type=\"on-demand\","
                                    "state=\"allocated\"} 8"))
            die("unexpected text");
        free(text);
    }
    qsort(ms, (size_t)iterations, sizeof *ms, compare_doubles);
    double median = ms[iterations / 2], p90 = ms[(iterations * 9) / 10 < iterations ? (iterations * 9) / 10 : iterations - 1],
           max = ms[iterations - 1];
    printf("/metrics render, %d iterations: median %.1f ms, p90 %.1f ms, "
           "max %.1f ms; %zu bytes\n",
           iterations, median, p90, max, bytes);
    printf("RESULT nodes=%d gpus=%d pods=%zu jobs=%zu bytes=%zu median_ms=%.2f p90_ms=%.2f max_ms=%.2f\n", nodes, gpus,
           st.pods.count, st.jobs.count, bytes, median, p90, max);
    printf("target: median < %.0f ms: %s\n", TARGET_MS, median < TARGET_MS ? "met" : "NOT met");
    free(ms);
    core_effects_free(&fx);
    core_state_free(&st);
    return median < TARGET_MS ? 0 : 1;
}
