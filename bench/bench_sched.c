/* The live scheduler's cost on a large cluster: core_apply + core_schedule
 * as the engine drives them, on 10,000 nodes x 8 GPUs (80,000 GPUs, four
 * models) and 20 namespaces.
 *
 *   1. fill: batches of 200 submissions (1, 2, 4 or 8 whole GPUs, a share, or
 *      a model-bound job) until the cluster is full and a backlog of
 *      --backlog jobs waits;
 *   2. steady state: each batch ends --exits random pods and submits as many
 *      new jobs, then one pass (a full pass: capacity freed);
 *   3. unplaceable submissions: batches of 200 jobs that wait (capacity), on
 *      top of the backlog: the passes that only look at new jobs.
 *
 *   bench_sched [--nodes N] [--backlog N] [--batches N] [--exits N] [--policy P]
 * prints per phase the time per batch (p50, p99) and per submission. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/prng.h"
#include "core/spec.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *const models[] = {"A100", "H100", "A10G", "T4"};
static unsigned long seq;
static struct prng rng;

static void submit(struct core_state *st, int64_t now, struct core_effects *fx)
{
    char name[32], ns[32];
    snprintf(name, sizeof name, "j%lu", seq++);
    snprintf(ns, sizeof ns, "org/t%02u", (unsigned)(prng_next(&rng) % 20));
    uint64_t r = prng_next(&rng) % 100;
    json_t *res = json_object();
    json_t *spec = json_pack("{s:s,s:s,s:[s],s:o}", "name", name, "namespace", ns, "command", "true", "resources",
                             res);
    if (r < 35)
        json_object_set_new(res, "gpus", json_integer(1));
    else if (r < 55)
        json_object_set_new(res, "gpus", json_integer(2));
    else if (r < 65)
        json_object_set_new(res, "gpus", json_integer(4));
    else if (r < 72)
        json_object_set_new(res, "gpus", json_integer(8));
    else if (r < 90)
        json_object_set_new(res, "gpu_milli", json_integer(100 * (1 + (int)(prng_next(&rng) % 9))));
    else {
        json_object_set_new(res, "gpus", json_integer(1 + (int)(prng_next(&rng) % 2)));
        json_object_set_new(spec, "selector",
                            json_pack("{s:s}", "gpuaas.io/gpu-model", models[prng_next(&rng) % 4]));
    }
    json_object_set_new(res, "cpu", json_integer(1 + (int)(prng_next(&rng) % 8)));
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    if (spec_parse_job(spec, NULL, &cmd.job, &err) == 0) {
        struct core_reply reply;
        memset(&reply, 0, sizeof reply);
        core_apply(st, &cmd, now, fx, &reply);
        core_reply_clear(&reply);
    }
    json_decref(spec);
    core_cmd_clear(&cmd);
}

static void report(const char *phase, int64_t *t, int n, int per_batch)
{
    qsort(t, (size_t)n, sizeof *t, cmp_i64);
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += t[i];
    printf("RESULT phase=%s batches=%d batch_p50_ms=%.2f batch_p99_ms=%.2f us_per_submission=%.1f\n", phase, n,
           (double)t[n / 2] / 1e6, (double)t[(n * 99) / 100] / 1e6, (double)sum / 1e3 / ((double)n * per_batch));
}

int main(int argc, char **argv)
{
    long nodes = 10000, backlog = 20000, batches = 200, exits = 50;
    enum place_policy policy = PLACE_POLICY_DEFAULT;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--nodes") == 0)
            nodes = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--backlog") == 0)
            backlog = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--batches") == 0)
            batches = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--exits") == 0)
            exits = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--policy") == 0 && place_policy_from_name(argv[i + 1], &policy) == 0)
            continue;
        else {
            fprintf(stderr, "usage: bench_sched [--nodes N] [--backlog N] [--batches N] [--exits N] [--policy P]\n");
            return 2;
        }
    }
    if (nodes < 1 || nodes > CORE_NODES_MAX || backlog < 0 || batches < 1 || exits < 1) {
        fprintf(stderr, "bench_sched: bad arguments\n");
        return 2;
    }
    static struct core_state st;
    struct core_effects fx;
    core_state_init(&st);
    core_effects_init(&fx);
    st.cfg.place_policy = policy;
    prng_seed(&rng, 42);
    int64_t now = 1795622400000LL;
    for (int t = 0; t < 20; t++) {
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_NAMESPACE_CREATE;
        snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "org/t%02d", t);
        struct core_reply reply;
        memset(&reply, 0, sizeof reply);
        core_apply(&st, &cmd, now, &fx, &reply);
        core_reply_clear(&reply);
    }
    for (long i = 0; i < nodes; i++) {
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_NODE_PUT;
        struct core_node *n = calloc(1, sizeof *n);
        snprintf(n->name, sizeof n->name, "node-%05ld", i);
        n->state = NODE_READY;
        n->cpu_milli = 96000;
        n->memory_bytes = 1LL << 40;
        n->gpu_count = 8;
        for (int g = 0; g < 8; g++) {
            n->gpus[g].index = (uint32_t)g;
            snprintf(n->gpus[g].uuid, sizeof n->gpus[g].uuid, "GPU-%05ld-%d", i, g);
            snprintf(n->gpus[g].model, sizeof n->gpus[g].model, "%s", models[i % 4]);
        }
        cmd.node = n;
        struct core_reply reply;
        memset(&reply, 0, sizeof reply);
        core_apply(&st, &cmd, now, &fx, &reply);
        core_reply_clear(&reply);
        core_cmd_clear(&cmd);
    }
    core_schedule(&st, now, &fx);
    uint64_t *active = malloc(sizeof *active * 4000000);
    size_t nactive = 0;
    int64_t *t = malloc(sizeof *t * 100000);
    int n = 0;
    /* 1. fill */
    while (st.queue_count < (size_t)backlog && n < 100000) {
        now += 1000;
        int64_t t0 = now_ns();
        for (int k = 0; k < 200; k++)
            submit(&st, now, &fx);
        core_schedule(&st, now, &fx);
        t[n++] = now_ns() - t0;
        for (unsigned e = 0; e < fx.count; e++)
            if (fx.items[e].kind == CORE_EFFECT_POD_START)
                active[nactive++] = fx.items[e].pod_id;
    }
    report("fill", t, n, 200);
    printf("filled: %zu pods active, %zu jobs waiting\n", nactive, st.queue_count);
    /* 2. steady state */
    n = 0;
    for (long b = 0; b < batches; b++) {
        now += 1000;
        int64_t t0 = now_ns();
        for (long k = 0; k < exits && nactive; k++) {
            size_t i = (size_t)(prng_next(&rng) % nactive);
            struct core_cmd cmd;
            memset(&cmd, 0, sizeof cmd);
            cmd.kind = CORE_CMD_POD_EXITED;
            cmd.pod_id = active[i];
            active[i] = active[--nactive];
            struct core_reply reply;
            memset(&reply, 0, sizeof reply);
            core_apply(&st, &cmd, now, &fx, &reply);
            core_reply_clear(&reply);
        }
        for (long k = 0; k < exits; k++)
            submit(&st, now, &fx);
        fx.count = 0;
        core_schedule(&st, now, &fx);
        t[n++] = now_ns() - t0;
        for (unsigned e = 0; e < fx.count; e++)
            if (fx.items[e].kind == CORE_EFFECT_POD_START)
                active[nactive++] = fx.items[e].pod_id;
    }
    report("steady", t, n, (int)exits);
    printf("steady: %zu pods active, %zu jobs waiting\n", nactive, st.queue_count);
    /* 3. submissions that wait */
    n = 0;
    for (long b = 0; b < batches; b++) {
        now += 1000;
        int64_t t0 = now_ns();
        for (int k = 0; k < 200; k++)
            submit(&st, now, &fx);
        core_schedule(&st, now, &fx);
        t[n++] = now_ns() - t0;
    }
    report("waiting", t, n, 200);
    printf("end: %zu jobs waiting, policy %s\n", st.queue_count, place_policy_name(policy));
    free(active);
    free(t);
    core_effects_free(&fx);
    core_state_free(&st);
    return 0;
}
