/* GET /metrics through the real server (default config: the local node's
 * GPUs from the fake NVML, one of them split into MIG slices): Prometheus
 * text a scraper accepts (families in one piece, no duplicate series),
 * DCGM-named GPU metrics naming the namespace, pod and job holding a GPU or
 * a MIG slice, idle-but-allocated GPUs following the sampled utilisation,
 * the scheduler histogram, and an allocated GPU-seconds counter that only
 * grows and agrees with /v1/usage and the pod records. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "support_metrics.h"

static struct th_server srv;
static struct th_http http;

#define NS "team-m/p/dev"
#define LOCAL_A10G "{node=\"local\",model=\"A10G\",capacity_type=\"on-demand\""

static void post_ok(const char *path, const char *body)
{
    struct th_resp r;
    long st = th_call(&http, "POST", path, body, NULL, &r);
    if (st != 201)
        th_note("POST %s -> %ld %.300s", path, st, r.body);
    th_resp_free(&r);
    assert_int_equal(st, 201);
}

/* Polls /metrics until the sample at prefix has the value (or 8 s pass). */
static char *scrape_until(const char *prefix, double want)
{
    for (int i = 0;; i++) {
        char *text = sm_scrape(&http);
        bool found;
        double v = sm_sample(text, prefix, &found);
        if ((found && v == want) || i >= 80)
            return text;
        free(text);
        th_sleep_ms(100);
    }
}

static void test_metrics(void **state)
{
    (void)state;
    post_ok("/v1/namespaces", "{\"name\":\"" NS "\"}");
    char *busy = sm_job("busy", NS, 2, NULL, false, 0, "sleep 6");
    char *slice = sm_job("slice", NS, 0, "1g.6gb", false, 0, "sleep 6");
    post_ok("/v1/jobs", busy);
    post_ok("/v1/jobs", slice);
    free(busy);
    free(slice);
    th_sleep_ms(1200);

    char *first = sm_scrape(&http);
    assert_true(sm_check_format(first, NULL, NULL, 0) >= 15);
    /* the running job's GPUs carry its namespace and job, in dcgm-exporter's label style */
    assert_non_null(strstr(first, "DCGM_FI_DEV_GPU_UTIL{gpu=\""));
    assert_non_null(strstr(first, ",modelName=\"A10G\",Hostname=\"local\",namespace=\"" NS "\",pod=\"busy-r0\",job=\"busy\"}"));
    /* the MIG slice is its own series, with the profile, instance and holder */
    assert_non_null(strstr(first, "DCGM_FI_DEV_FB_FREE{gpu=\"3\","));
    assert_non_null(strstr(first, ",GPU_I_PROFILE=\"1g.6gb\",GPU_I_ID=\"1\",namespace=\"" NS "\",pod=\"slice-r0\",job=\"slice\"} 6144\n"));
    assert_non_null(strstr(first, ",GPU_I_PROFILE=\"2g.12gb\",GPU_I_ID=\"3\",namespace=\"\",pod=\"\",job=\"\"} 12288\n"));
    assert_non_null(strstr(first, "gpuaas_jobs{namespace=\"" NS "\",state=\"Running\"} 2\n"));
    assert_non_null(strstr(first, "gpuaas_jobs{namespace=\"" NS "\",state=\"Pending\"} 0\n"));
    /* 2 whole GPUs and the MIG GPU are allocated; the whole ones read 0 % */
    assert_non_null(strstr(first, "gpuaas_gpus" LOCAL_A10G ",state=\"allocated\"} 3\n"));
    assert_non_null(strstr(first, "gpuaas_gpus" LOCAL_A10G ",state=\"free\"} 1\n"));
    assert_non_null(strstr(first, "gpuaas_gpus_idle" LOCAL_A10G "} 2\n"));
    assert_non_null(strstr(first, "gpuaas_gpus{node=\"sim-p4d-1\",model=\"A100\",capacity_type=\"on-demand\",state=\"free\"} 8\n"));
    assert_non_null(strstr(first, "gpuaas_node_state{node=\"local\",state=\"Ready\"} 1\n"));
    assert_non_null(strstr(first, "gpuaas_node_state{node=\"local\",state=\"Failed\"} 0\n"));
    assert_non_null(strstr(first, "gpuaas_job_restarts_total{namespace=\"" NS "\",job=\"busy\"} 0\n"));
    bool found;
    double passes = sm_sample(first, "gpuaas_scheduler_pass_duration_seconds_count ", &found);
    assert_true(found && passes >= 1);
    /* the submits above are counted, with their latency */
    assert_non_null(strstr(first, "gpuaas_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"2xx\"} 2"));
    assert_non_null(strstr(first, "gpuaas_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/jobs\"} 2"));
    const char *counter = "gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\",model=\"A10G\"";
    double before = sm_sample(first, counter, &found);
    assert_true(found);
    assert_true(before > 2.0); /* 2 GPUs and a slice for over a second */

    /* one of busy's GPUs gets busy (the fake NVML's util override file):
     * the sampler sees it and the idle count follows */
    struct th_resp r;
    assert_int_equal(th_call(&http, "GET", "/v1/gpus", NULL, NULL, &r), 200);
    long busy_index = -1;
    size_t i;
    json_t *gpu;
    json_array_foreach(json_object_get(r.json, "items"), i, gpu) {
        const char *job = th_jstr(gpu, "allocated_to.job");
        if (job && strcmp(job, "busy") == 0)
            busy_index = (long)json_integer_value(json_object_get(gpu, "index"));
    }
    th_resp_free(&r);
    assert_true(busy_index >= 0);
    char path[700];
    snprintf(path, sizeof path, "%s/util", srv.data_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/util/%ld", srv.data_dir, busy_index);
    assert_int_equal(th_write_file(path, "80\n"), 0);
    char *busier = scrape_until("gpuaas_gpus_idle" LOCAL_A10G "}", 1);
    assert_non_null(strstr(busier, "gpuaas_gpus_idle" LOCAL_A10G "} 1\n"));
    free(busier);

    char *second = scrape_until("gpuaas_jobs{namespace=\"" NS "\",state=\"Succeeded\"}", 2); /* the jobs end */
    sm_check_format(second, NULL, NULL, 0);
    assert_non_null(strstr(second, "gpuaas_jobs{namespace=\"" NS "\",state=\"Succeeded\"} 2\n"));
    assert_non_null(strstr(second, "gpuaas_gpus_idle" LOCAL_A10G "} 0\n"));
    /* ended jobs that never restarted leave the restart counter */
    assert_null(strstr(second, "gpuaas_job_restarts_total{namespace=\"" NS "\",job=\"busy\"}"));
    double after = sm_sum(second, "gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\",", NULL);
    assert_true(after > before);
    /* the counter agrees with /v1/usage for the same namespace */
    assert_int_equal(th_call(&http, "GET", "/v1/usage?by=namespace", NULL, NULL, &r), 200);
    double usage = json_real_value(th_jpath(r.json, "total.gpu_seconds"));
    th_resp_free(&r);
    /* and with the pod records, summed here independently: GPUs x (end -
     * placement), a 1g slice counting 1000/7 milli-GPU (142, as metering documents) */
    assert_int_equal(th_call(&http, "GET", "/v1/pods?namespace=" NS, NULL, NULL, &r), 200);
    double from_pods = 0;
    json_t *pod;
    json_array_foreach(json_object_get(r.json, "items"), i, pod) {
        json_int_t start = json_integer_value(json_object_get(pod, "scheduled_ms"));
        json_int_t end = json_integer_value(json_object_get(pod, "ended_ms"));
        assert_true(end > start); /* the job has ended */
        double gpus = strcmp(th_jstr(pod, "job"), "slice") == 0 ? 0.142
                                                              : json_number_value(json_object_get(pod, "gpus_allocated"));
        from_pods += gpus * (double)(end - start) / 1000.0;
    }
    th_resp_free(&r);
    th_note("allocated GPU-seconds: metrics %.3f, usage %.3f, pod records %.3f", after, usage, from_pods);
    assert_true(after > usage - 0.01 && after < usage + 0.01);
    assert_true(after > from_pods - 0.01 && after < from_pods + 0.01);
    free(first);
    free(second);

    /* tenants' data: a token without platform-admin gets 403 */
    assert_int_equal(th_call(&http, "POST", "/v1/tokens", "{\"user\":\"viewer-m\"}", NULL, &r), 201);
    char token[256];
    snprintf(token, sizeof token, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    struct th_req req = {.method = "GET", .path = "/metrics", .token = token};
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 403);
    th_resp_free(&r);
    TH_PASS();
}

static int group_setup(void **state)
{
    (void)state;
    return sm_server_start(&srv, &http, "metrics", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    static const char *const namespaces[] = {NS, NULL};
    return sm_server_stop(&srv, &http, namespaces);
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("metrics", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
