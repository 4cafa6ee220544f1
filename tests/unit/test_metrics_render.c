/* metrics_render on a small state built through the core's commands, with
 * readings from a callback: holders of whole GPUs, of a share and of a MIG
 * slice in the DCGM labels; MIG slices as their own FB series with
 * GPU_I_PROFILE/GPU_I_ID; idle-but-allocated counts from the readings; the
 * label style; pending jobs by reason; nothing for GPUs without readings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/metrics.h"
#include "core/model.h"
#include "core/spec.h"

#define NS "t/p/dev"
#define T0 1795000000000LL

static struct core_state st;
static struct core_effects fx;

static void apply(struct core_cmd *cmd)
{
    struct core_reply reply;
    memset(&reply, 0, sizeof reply);
    fx.count = 0;
    int r = core_apply(&st, cmd, T0, &fx, &reply);
    if (r < 0)
        fail_msg("command refused: %s", reply.message);
    core_reply_clear(&reply);
    core_cmd_clear(cmd);
}

static void submit(const char *json)
{
    json_error_t jerr;
    json_t *spec = json_loads(json, 0, &jerr);
    assert_non_null(spec);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error err;
    if (spec_parse_job(spec, NULL, &cmd.job, &err) < 0)
        fail_msg("spec: %s: %s", err.field, err.message);
    json_decref(spec);
    apply(&cmd);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(core_state_init(&st), 0);
    core_effects_init(&fx);
    const char *node_json =
        "{\"name\":\"n1\",\"state\":\"Ready\",\"cpu\":\"32\",\"memory\":\"128Gi\","
        "\"labels\":{\"gpuaas.io/gpu-model\":\"A100\",\"gpuaas.io/capacity-type\":\"spot\"},\"gpus\":["
        "{\"index\":0,\"uuid\":\"GPU-0\",\"model\":\"A100\",\"memory\":\"40Gi\",\"mig_mode\":false,\"mig_devices\":[]},"
        "{\"index\":1,\"uuid\":\"GPU-1\",\"model\":\"A100\",\"memory\":\"40Gi\",\"mig_mode\":false,\"mig_devices\":[]},"
        "{\"index\":2,\"uuid\":\"GPU-2\",\"model\":\"A100\",\"memory\":\"40Gi\",\"mig_mode\":true,\"mig_devices\":["
        "{\"profile\":\"1g.10gb\",\"uuid\":\"MIG-2a\"},{\"profile\":\"2g.20gb\",\"uuid\":\"MIG-2b\"}]},"
        "{\"index\":3,\"uuid\":\"GPU-3\",\"model\":\"A100\",\"memory\":\"40Gi\",\"mig_mode\":false,\"mig_devices\":[]}]}";
    json_t *node = json_loads(node_json, 0, NULL);
    assert_non_null(node);
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    cmd.node = malloc(sizeof *cmd.node);
    char err[256];
    assert_int_equal(core_node_from_json(node, cmd.node, err, sizeof err), 0);
    json_decref(node);
    apply(&cmd);
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NAMESPACE_CREATE;
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, NS);
    apply(&cmd);
    submit("{\"name\":\"whole\",\"namespace\":\"" NS "\",\"resources\":{\"gpus\":1},\"command\":[\"x\"]}");
    submit("{\"name\":\"share\",\"namespace\":\"" NS "\",\"resources\":{\"gpu_milli\":500},\"command\":[\"x\"]}");
    submit("{\"name\":\"slice\",\"namespace\":\"" NS "\",\"resources\":{\"mig\":\"1g.10gb\"},\"command\":[\"x\"]}");
    submit("{\"name\":\"waits\",\"namespace\":\"" NS "\",\"resources\":{\"gpus\":1},"
           "\"selector\":{\"pool\":\"none\"},\"command\":[\"x\"]}");
    fx.count = 0;
    core_schedule(&st, T0, &fx);
    /* the placed pods start */
    uint64_t ids[8];
    size_t n = 0;
    void *value;
    for (size_t it = 0; hmap_next(&st.pods, &it, NULL, &value) && n < 8;)
        ids[n++] = ((const struct core_pod *)value)->id;
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_POD_STARTED;
        cmd.pod_id = ids[i];
        snprintf(cmd.handle, sizeof cmd.handle, "h%zu", i);
        apply(&cmd);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    core_effects_free(&fx);
    core_state_free(&st);
    return 0;
}

/* GPU-0 at 5 %, GPU-1 at 50 %, GPU-2 in MIG mode (no utilisation) with
 * readings for its first slice; GPU-3 has none. */
static bool reading(void *arg, const char *uuid, struct metrics_reading *out)
{
    (void)arg;
    memset(out, 0, sizeof *out);
    out->temperature_c = 40;
    out->power_mw = 100500;
    out->memory_used_bytes = 2LL << 30;
    if (strcmp(uuid, "GPU-0") == 0)
        out->utilization_pct = 5;
    else if (strcmp(uuid, "GPU-1") == 0)
        out->utilization_pct = 50;
    else if (strcmp(uuid, "GPU-2") == 0) {
        out->utilization_pct = -1;
        out->mig_count = 1;
        snprintf(out->mig[0].uuid, sizeof out->mig[0].uuid, "MIG-2a");
        out->mig[0].gpu_instance_id = 7;
        out->mig[0].memory_used_bytes = 1LL << 30;
        out->mig[0].memory_total_bytes = 10LL << 30;
    } else
        return false;
    return true;
}

static char *render(bool snake)
{
    struct metrics_input in = {.st = &st, .reading = reading, .now_ms = T0 + 60000, .snake_case_labels = snake};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&in, &text, &len), 0);
    char *z = realloc(text, len + 1);
    assert_non_null(z);
    z[len] = '\0';
    return z;
}

static void assert_has(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("missing: %s", line);
}

static void test_gpu_series(void **state)
{
    (void)state;
    char *text = render(false);
    assert_has(text, "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-0\",modelName=\"A100\",Hostname=\"n1\","
                     "namespace=\"" NS "\",pod=\"whole-r0\",job=\"whole\"} 5\n");
    /* the only share's holder names the shared GPU */
    assert_has(text, "DCGM_FI_DEV_GPU_UTIL{gpu=\"1\",UUID=\"GPU-1\",modelName=\"A100\",Hostname=\"n1\","
                     "namespace=\"" NS "\",pod=\"share-r0\",job=\"share\"} 50\n");
    /* no utilisation in MIG mode; the parent's memory, then the slice's own */
    assert_null(strstr(text, "DCGM_FI_DEV_GPU_UTIL{gpu=\"2\""));
    assert_has(text, "DCGM_FI_DEV_FB_USED{gpu=\"2\",UUID=\"GPU-2\",modelName=\"A100\",Hostname=\"n1\",namespace=\"\","
                     "pod=\"\",job=\"\"} 2048\n");
    assert_has(text, "DCGM_FI_DEV_FB_USED{gpu=\"2\",UUID=\"GPU-2\",modelName=\"A100\",Hostname=\"n1\","
                     "GPU_I_PROFILE=\"1g.10gb\",GPU_I_ID=\"7\",namespace=\"" NS "\",pod=\"slice-r0\",job=\"slice\"} 1024\n");
    assert_has(text, "GPU_I_PROFILE=\"1g.10gb\",GPU_I_ID=\"7\",namespace=\"" NS "\",pod=\"slice-r0\",job=\"slice\"} 9216\n");
    /* a slice without readings has no series; GPU-3 (no readings) neither */
    assert_null(strstr(text, "GPU_I_PROFILE=\"2g.20gb\""));
    assert_null(strstr(text, "UUID=\"GPU-3\""));
    assert_has(text, "DCGM_FI_DEV_FB_FREE{gpu=\"0\",UUID=\"GPU-0\"");
    assert_has(text, "job=\"whole\"} 38912\n"); /* 40 GiB - 2 GiB in MiB */
    assert_has(text, "DCGM_FI_DEV_POWER_USAGE{gpu=\"0\",UUID=\"GPU-0\",modelName=\"A100\",Hostname=\"n1\","
                     "namespace=\"" NS "\",pod=\"whole-r0\",job=\"whole\"} 100.5\n");
    free(text);
}

static void test_platform_series(void **state)
{
    (void)state;
    char *text = render(false);
    /* GPU-0, GPU-1 (shared) and GPU-2 (a slice) are allocated; GPU-3 is free */
    assert_has(text, "gpuaas_gpus{node=\"n1\",model=\"A100\",capacity_type=\"spot\",state=\"allocated\"} 3\n");
    assert_has(text, "gpuaas_gpus{node=\"n1\",model=\"A100\",capacity_type=\"spot\",state=\"free\"} 1\n");
    /* idle: only GPU-0 (5 %); GPU-1 is busy, GPU-2 has no utilisation */
    assert_has(text, "gpuaas_gpus_idle{node=\"n1\",model=\"A100\",capacity_type=\"spot\"} 1\n");
    assert_has(text, "gpuaas_jobs{namespace=\"" NS "\",state=\"Pending\"} 1\n");
    assert_has(text, "gpuaas_jobs{namespace=\"" NS "\",state=\"Running\"} 3\n");
    assert_has(text, "gpuaas_pending_jobs{namespace=\"" NS "\",reason=\"capacity\"} 1\n");
    assert_has(text, "gpuaas_pending_job_max_wait_seconds{namespace=\"" NS "\",reason=\"capacity\"} 60.000\n");
    assert_has(text, "gpuaas_node_state{node=\"n1\",state=\"Ready\"} 1\n");
    assert_has(text, "gpuaas_node_state{node=\"n1\",state=\"Failed\"} 0\n");
    /* a minute of 1 + 0.5 + 1/7 (142 milli) GPU */
    assert_has(text, "gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\",model=\"A100\",capacity_type=\"spot\"} 98.520\n");
    assert_has(text, "gpuaas_month_allocated_gpu_seconds{namespace=\"" NS "\",model=\"A100\",capacity_type=\"spot\","
                     "month=\"2026-11\"} 98.520\n");
    /* without engine stats or HTTP counters, no such families */
    assert_null(strstr(text, "gpuaas_scheduler_pass_duration_seconds"));
    assert_null(strstr(text, "gpuaas_http_requests_total"));
    free(text);
}

static void test_snake_case_labels(void **state)
{
    (void)state;
    char *text = render(true);
    assert_null(strstr(text, "modelName"));
    assert_has(text, "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-0\",model_name=\"A100\",Hostname=\"n1\",");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_series),
        cmocka_unit_test(test_platform_series),
        cmocka_unit_test(test_snake_case_labels),
    };
    return cmocka_run_group_tests_name("metrics_render", tests, setup, teardown);
}
