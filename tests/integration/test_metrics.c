/* GET /metrics through the real server: Prometheus text format that a
 * scraper accepts (HELP and TYPE for every family, counters end in _total,
 * every sample line well-formed), DCGM-named GPU metrics that name the
 * namespace, pod and job holding a GPU, and an allocated GPU-seconds
 * counter that only grows and agrees with /v1/usage. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct th_server srv;
static struct th_http http;

#define NS "team-m/p/dev"

static char *scrape(void)
{
    struct th_resp r;
    long st = th_call(&http, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(st, 200);
    char *text = strdup(r.body);
    th_resp_free(&r);
    assert_non_null(text);
    return text;
}

/* The value of the sample whose line starts with `prefix` (name{labels...). */
static double sample(const char *text, const char *prefix, bool *found)
{
    const char *p = strstr(text, prefix);
    *found = p != NULL;
    if (!p)
        return 0;
    const char *space = strchr(p, ' ');
    return space ? strtod(space + 1, NULL) : 0;
}

/* Every family has HELP then TYPE, counters end in _total, and every sample
 * is `name{label="value",...} number` with a family declared before it. */
static void check_format(const char *text)
{
    char declared[64][96];
    int families = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char buf[2048];
        size_t len = (size_t)(end - line);
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0) {
            char name[96];
            assert_int_equal(sscanf(buf + 7, "%95s", name), 1);
            char type_line[160];
            snprintf(type_line, sizeof type_line, "# TYPE %s ", name);
            const char *next = end + 1;
            assert_int_equal(strncmp(next, type_line, strlen(type_line)), 0);
            if (strstr(next, "counter\n") == next + strlen(type_line))
                assert_non_null(strstr(name, "_total"));
            assert_true(families < 64);
            snprintf(declared[families++], sizeof declared[0], "%s", name);
        } else if (buf[0] != '#') {
            size_t name_len = strcspn(buf, "{ ");
            bool known = false;
            for (int f = 0; f < families; f++) {
                size_t dl = strlen(declared[f]);
                if (dl > name_len || strncmp(declared[f], buf, dl) != 0)
                    continue;
                /* a histogram's samples are NAME_bucket, NAME_sum, NAME_count */
                const char *suffix = buf + dl;
                size_t suffix_len = name_len - dl;
                known |= suffix_len == 0 || (suffix_len == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
                         (suffix_len == 4 && strncmp(suffix, "_sum", 4) == 0) ||
                         (suffix_len == 6 && strncmp(suffix, "_count", 6) == 0);
            }
            if (!known)
                fail_msg("sample without HELP/TYPE: %s", buf);
            const char *value = strrchr(buf, ' ');
            assert_non_null(value);
            char *num_end;
            strtod(value + 1, &num_end);
            if (*num_end != '\0')
                fail_msg("bad value in: %s", buf);
            if (buf[name_len] == '{')
                assert_non_null(strstr(buf, "} "));
        }
        line = end + 1;
    }
    assert_true(families >= 10);
}

static void test_metrics(void **state)
{
    (void)state;
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r), 201);
    th_resp_free(&r);
    assert_int_equal(th_call(&http, "POST", "/v1/jobs",
                             "{\"name\":\"busy\",\"namespace\":\"" NS "\",\"resources\":{\"gpus\":2},"
                             "\"selector\":{\"gpuaas.io/node-group\":\"g5-on-demand\"}," /* the sampled host */
                             "\"command\":[\"sleep\",\"3\"]}",
                             NULL, &r),
                     201);
    th_resp_free(&r);
    th_sleep_ms(1200);

    char *first = scrape();
    check_format(first);
    /* the running job's GPUs carry its namespace and job */
    const char *util = strstr(first, "DCGM_FI_DEV_GPU_UTIL{");
    assert_non_null(util);
    assert_non_null(strstr(first, "namespace=\"" NS "\",pod=\"busy-r0\",job=\"busy\""));
    assert_non_null(strstr(first, "gpuaas_jobs{namespace=\"" NS "\",job=\"busy\",state=\"Running\"} 1"));
    /* the submit above is counted, with its latency */
    assert_non_null(strstr(first, "gpuaas_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"2xx\"} 1"));
    assert_non_null(strstr(first, "gpuaas_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/jobs\"} 1"));
    bool found;
    const char *counter = "gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\",model=\"A10G\"";
    double before = sample(first, counter, &found);
    assert_true(found);
    assert_true(before > 1.0); /* 2 GPUs for over a second */

    th_sleep_ms(2500); /* the job ends */
    char *second = scrape();
    check_format(second);
    double after = sample(second, counter, &found);
    assert_true(found);
    assert_true(after > before);
    /* the counter agrees with /v1/usage for the same namespace */
    assert_int_equal(th_call(&http, "GET", "/v1/usage?by=namespace", NULL, NULL, &r), 200);
    double usage = json_real_value(th_jpath(r.json, "total.gpu_seconds"));
    th_resp_free(&r);
    /* and with the pod records, summed here independently: GPUs x (end - placement) */
    assert_int_equal(th_call(&http, "GET", "/v1/pods?namespace=" NS, NULL, NULL, &r), 200);
    double from_pods = 0;
    size_t i;
    json_t *pod;
    json_array_foreach(json_object_get(r.json, "items"), i, pod) {
        json_int_t start = json_integer_value(json_object_get(pod, "scheduled_ms"));
        json_int_t end = json_integer_value(json_object_get(pod, "ended_ms"));
        assert_true(end > start); /* the job has ended */
        from_pods += json_number_value(json_object_get(pod, "gpus_allocated")) * (double)(end - start) / 1000.0;
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
}

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "metrics") != 0 || th_http_init(&http, &srv) != 0)
        return -1;
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
