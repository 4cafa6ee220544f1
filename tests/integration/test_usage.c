/* Metering through the real server: a 1-GPU job that sleeps on the fake
 * NVML's local node is charged its allocated time, priced from the config,
 * split by capacity type; its utilisation (set through the fake NVML's
 * util/<gpu> override) shows on the pod record and in /v1/usage, survives a
 * restart (hourly rollups in the store), and the utilisation factor's list
 * price, discount and idle cost show as their own fields and CLI columns.
 * Months follow the configured time zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define NS "team-u/meter/dev"
#define NS_Q "team-u%2Fmeter%2Fdev"
#define PRICE 1.2

static const char CONFIG_YAML[] =
    "restart_backoff: 200ms\n"
    "stop_grace: 2s\n"
    "nvml_library: /nonexistent/gpuaas-test/libnvidia-ml.so.1\n"
    "prices:\n"
    "  currency: EUR\n"
    "  gpu_hour:\n"
    "    A10G: {on-demand: 1.2, spot: 0.5}\n"
    "metering:\n"
    "  time_zone: Europe/Berlin\n"
    "  sample_interval: 1s\n"
    "  utilisation_factor: true\n"
    "nodes:\n"
    "  - name: local\n"
    "    cpu: 16\n"
    "    memory: 64Gi\n"
    "    labels:\n"
    "      gpuaas.io/capacity-type: on-demand\n"
    "      gpuaas.io/node-group: g-local\n"
    "    gpus: discover\n";

static struct th_server srv;
static struct th_http http;

static json_t *get_json(const char *path)
{
    struct th_resp r;
    long st = th_call(&http, "GET", path, NULL, NULL, &r);
    if (st != 200)
        th_note("GET %s: %ld %.500s", path, st, r.body ? r.body : "");
    assert_int_equal(st, 200);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    assert_non_null(j);
    return j;
}

/* The fake NVML reads DATA/util/<gpu> on every call. */
static void set_util(int gpu, int pct)
{
    char dir[600], path[640], text[16];
    snprintf(dir, sizeof dir, "%s/util", srv.data_dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%d", dir, gpu);
    snprintf(text, sizeof text, "%d\n", pct);
    assert_int_equal(th_write_file(path, text), 0);
}

static void run_job(const char *name)
{
    char body[512], path[256];
    snprintf(body, sizeof body,
             "{\"kind\":\"Job\",\"name\":\"%s\",\"namespace\":\"%s\",\"resources\":{\"gpus\":1},"
             "\"command\":[\"sleep\",\"3\"]}",
             name, NS);
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/jobs", body, NULL, &r), 201);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%s?namespace=%s", name, NS_Q);
    long long until = th_now_ms() + 30000;
    for (;;) {
        json_t *job = get_json(path);
        const char *state = th_jstr(job, "status.state");
        bool done = state && strcmp(state, "Succeeded") == 0;
        if (state && (strcmp(state, "Failed") == 0 || strcmp(state, "Cancelled") == 0))
            fail_msg("job %s ended %s", name, state);
        json_decref(job);
        if (done)
            return;
        assert_true(th_now_ms() < until);
        th_sleep_ms(200);
    }
}

static json_t *pod_of(const char *job)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/pods?namespace=%s&job=%s", NS_Q, job);
    json_t *list = get_json(path);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *pod = json_incref(json_array_get(items, 0));
    json_decref(list);
    return pod;
}

static json_t *row_of(json_t *usage, const char *key)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(usage, "rows"), i, row)
        if (strcmp(json_string_value(json_object_get(row, "key")), key) == 0)
            return row;
    char *text = json_dumps(usage, JSON_COMPACT);
    th_note("no row %s in %.2000s", key, text ? text : "?");
    free(text);
    fail_msg("no row %s", key);
    return NULL;
}

static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start_config(&srv, "usage", CONFIG_YAML) != 0 || th_http_init(&http, &srv) != 0)
        return -1;
    th_log_server = &srv;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_http_free(&http);
    int rc = th_server_stop(&srv);
    th_server_destroy(&srv);
    return rc == 0 ? 0 : -1;
}

static void test_job_charged_with_utilisation(void **state)
{
    (void)state;
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r), 201);
    th_resp_free(&r);

    /* busy: 80 % on GPU 0 (the first free GPU), then idle: 5 % */
    set_util(0, 80);
    run_job("busy");
    set_util(0, 5);
    run_job("idle");

    json_t *busy = pod_of("busy"), *idle = pod_of("idle");
    double busy_alloc_s = (json_integer_value(json_object_get(busy, "ended_ms")) -
                           json_integer_value(json_object_get(busy, "scheduled_ms"))) / 1000.0;
    double idle_alloc_s = (json_integer_value(json_object_get(idle, "ended_ms")) -
                           json_integer_value(json_object_get(idle, "scheduled_ms"))) / 1000.0;
    th_note("busy: allocated %.3f s, ran %.3f s, util %.1f %% in %lld samples; idle: util %.1f %%", busy_alloc_s,
            num(busy, "duration_s"), num(busy, "util_avg_pct"),
            (long long)json_integer_value(json_object_get(busy, "util_samples")), num(idle, "util_avg_pct"));
    assert_true(fabs(num(busy, "util_avg_pct") - 80) < 0.01);
    assert_true(fabs(num(idle, "util_avg_pct") - 5) < 0.01);
    assert_true(json_integer_value(json_object_get(busy, "util_samples")) >= 1);
    assert_true(num(idle, "idle_gpu_seconds") > 0);
    assert_true(num(idle, "idle_gpu_seconds") <= idle_alloc_s + 1e-9);

    /* by capacity: one on-demand row; GPU-seconds = the pods' time x 1 GPU */
    json_t *u = get_json("/v1/usage?by=capacity&namespace=" NS_Q);
    assert_string_equal(th_jstr(u, "currency"), "EUR");
    assert_string_equal(th_jstr(u, "time_zone"), "Europe/Berlin");
    assert_true(json_is_true(json_object_get(u, "utilisation_factor")));
    assert_int_equal(json_array_size(json_object_get(u, "rows")), 1);
    json_t *row = row_of(u, "on-demand");
    double seconds = num(row, "gpu_seconds");
    th_note("usage: %.3f GPU-s, cost %.6f, list %.6f, discount %.6f, idle %.3f GPU-s / %.6f, util %.2f %%", seconds,
            num(row, "cost"), num(row, "list_cost"), num(row, "utilisation_discount"), num(row, "idle_gpu_seconds"),
            num(row, "idle_cost"), num(row, "util_avg_pct"));
    assert_true(fabs(seconds - (busy_alloc_s + idle_alloc_s)) < 0.001);
    assert_true(fabs(seconds - (num(busy, "duration_s") + num(idle, "duration_s"))) < 1.0);
    assert_int_equal(json_integer_value(json_object_get(row, "pods")), 2);
    /* list price from the config; busy pays it in full, idle 0.4 of it */
    double list = seconds / 3600 * PRICE;
    double cost = (busy_alloc_s + 0.4 * idle_alloc_s) / 3600 * PRICE;
    assert_true(fabs(num(row, "list_cost") - list) < 1e-6);
    assert_true(fabs(num(row, "cost") - cost) < 1e-6);
    assert_true(fabs(num(row, "utilisation_discount") - (list - cost)) < 1e-6);
    assert_true(fabs(num(row, "idle_cost") - num(row, "idle_gpu_seconds") / 3600 * PRICE) < 1e-9);
    assert_true(num(row, "idle_gpu_seconds") > 0);
    assert_true(num(row, "util_avg_pct") > 5 && num(row, "util_avg_pct") < 80);
    json_decref(u);

    /* by node group, and the month in Berlin's calendar */
    u = get_json("/v1/usage?by=node-group&namespace=" NS_Q);
    assert_true(fabs(num(row_of(u, "g-local"), "gpu_seconds") - seconds) < 0.001);
    json_decref(u);
    u = get_json("/v1/usage?month=2026-11");
    assert_string_equal(th_jstr(u, "from"), "2026-10-31T23:00:00.000Z");
    assert_string_equal(th_jstr(u, "to"), "2026-11-30T23:00:00.000Z");
    json_decref(u);
    assert_int_equal(th_call(&http, "GET", "/v1/usage?month=2026-13", NULL, NULL, &r), 400);
    assert_string_equal(th_err_field(&r), "month");
    th_resp_free(&r);
    assert_int_equal(th_call(&http, "GET", "/v1/usage?by=gpu", NULL, NULL, &r), 400);
    th_resp_free(&r);

    /* a range that cuts the busy pod: its utilisation from the hourly rollups */
    char path[256];
    long long b_start = json_integer_value(json_object_get(busy, "scheduled_ms"));
    long long b_end = json_integer_value(json_object_get(busy, "ended_ms"));
    snprintf(path, sizeof path, "/v1/usage?by=pod&namespace=%s&from=%lld&to=%lld", NS_Q, b_start + (b_end - b_start) / 2,
             b_end);
    u = get_json(path);
    row = row_of(u, NS "/busy-r0-a1");
    th_note("half of busy: %.3f GPU-s, sampled %.3f, util %.2f %%", num(row, "gpu_seconds"),
            num(row, "sampled_gpu_seconds"), num(row, "util_avg_pct"));
    assert_true(fabs(num(row, "gpu_seconds") - (b_end - b_start - (b_end - b_start) / 2) / 1000.0) < 0.001);
    assert_true(fabs(num(row, "util_avg_pct") - 80) < 0.01);
    assert_true(num(row, "sampled_gpu_seconds") <= num(row, "gpu_seconds") + 0.001);
    json_decref(u);

    /* the CLI shows the factor's lines as columns */
    char *argv[] = {(char *)th_server_bin(), "usage", "--by", "capacity", "-n", NS, "--server", srv.url, "--token",
                    srv.token, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(th_run_capture(argv, &out, &err, 20000), 0);
    th_note("gpuaas usage:\n%s", out);
    assert_non_null(strstr(out, "UTIL%"));
    assert_non_null(strstr(out, "UTIL-DISCOUNT"));
    assert_non_null(strstr(out, "IDLE-COST"));
    assert_non_null(strstr(out, "on-demand"));
    free(out);
    free(err);

    /* utilisation is durable: the same after a restart */
    double busy_util = num(busy, "util_avg_pct"), idle_idle = num(idle, "idle_gpu_seconds");
    json_decref(busy);
    json_decref(idle);
    assert_int_equal(th_server_stop(&srv), 0);
    assert_int_equal(th_server_restart_config(&srv, NULL), 0);
    th_http_retarget(&http, &srv);
    busy = pod_of("busy");
    idle = pod_of("idle");
    assert_true(fabs(num(busy, "util_avg_pct") - busy_util) < 1e-9);
    assert_true(fabs(num(idle, "idle_gpu_seconds") - idle_idle) < 1e-9);
    json_decref(busy);
    json_decref(idle);
    TH_PASS();
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_charged_with_utilisation, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("usage", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
