/* A real Prometheus (Debian package prometheus) scrapes the real server.
 *
 * The test starts `prometheus` on loopback (free port, temp storage,
 * scrape_interval 1s, the platform-admin token as the bearer credential,
 * the example recording rules loaded), runs a 2-GPU job on the fake NVML
 * while it scrapes, and asks PromQL over HTTP for the namespace's GPU-hours:
 *   - increase(gpuaas_allocated_gpu_seconds_total[window]) / 3600 over the
 *     test's window agrees with `gpuaas usage -n NS` within one scrape
 *     interval of the job's GPUs (increase() cannot see the GPU-seconds
 *     before the first scrape that has the series);
 *   - the last scraped counter and the month gauge equal `gpuaas usage`
 *     and `gpuaas usage --month` (exact, the job has ended).
 * Skipped, saying so, only when prometheus is not installed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "support_metrics.h"

#define NS "team-prom/p/dev"
#define SCRAPE_S 1
#define JOB_GPUS 2

static struct th_server srv;
static struct th_http http;
static bool started;
static char prometheus[512];
static char prom_dir[512];
static pid_t prom_pid;
static int prom_port;

/* GET http://127.0.0.1:prom_port/path; body (malloc'd) and status. */
static long prom_get(const char *path, char **ret_body)
{
    struct th_http h;
    memset(&h, 0, sizeof h);
    h.curl = curl_easy_init();
    assert_non_null(h.curl);
    snprintf(h.url, sizeof h.url, "http://127.0.0.1:%d", prom_port);
    struct th_req req = {.method = "GET", .path = path, .token = "", .timeout_ms = 10000};
    struct th_resp r;
    th_http_do(&h, &req, &r);
    long status = r.status;
    *ret_body = strdup(r.body ? r.body : "");
    th_resp_free(&r);
    curl_easy_cleanup(h.curl);
    return status;
}

/* An instant PromQL query; true and *ret_value when it has one sample. */
static bool prom_query(const char *expr, double *ret_value)
{
    CURL *c = curl_easy_init();
    char *q = curl_easy_escape(c, expr, 0);
    char path[2048];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", q);
    curl_free(q);
    curl_easy_cleanup(c);
    char *body;
    long st = prom_get(path, &body);
    json_t *doc = json_loads(body, 0, NULL);
    bool ok = false;
    json_t *result = th_jpath(doc, "data.result");
    if (st == 200 && json_array_size(result) == 1) {
        const char *v = json_string_value(json_array_get(json_object_get(json_array_get(result, 0), "value"), 1));
        if (v) {
            *ret_value = strtod(v, NULL);
            ok = true;
        }
    } else if (st != 200) {
        th_note("query %s -> %ld %.300s", expr, st, body);
    }
    json_decref(doc);
    free(body);
    return ok;
}

/* The sample timestamps (seconds) of a range-vector query's first series;
 * returns how many (at most max). */
static int prom_timestamps(const char *expr, double *ts, int max)
{
    CURL *c = curl_easy_init();
    char *q = curl_easy_escape(c, expr, 0);
    char path[2048];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", q);
    curl_free(q);
    curl_easy_cleanup(c);
    char *body;
    long st = prom_get(path, &body);
    json_t *doc = json_loads(body, 0, NULL);
    int n = 0;
    json_t *values = json_object_get(json_array_get(th_jpath(doc, "data.result"), 0), "values");
    size_t i;
    json_t *v;
    if (st == 200)
        json_array_foreach(values, i, v) if (n < max) ts[n++] = json_number_value(json_array_get(v, 0));
    json_decref(doc);
    free(body);
    return n;
}

/* Polls until the query has a sample equal to want (within tolerance). */
static bool prom_wait_value(const char *expr, double want, double tolerance, long timeout_ms, double *ret_value)
{
    long long deadline = th_now_ms() + timeout_ms;
    double v = 0;
    for (;;) {
        bool ok = prom_query(expr, &v);
        if (ok && v >= want - tolerance && v <= want + tolerance) {
            *ret_value = v;
            return true;
        }
        if (th_now_ms() > deadline) {
            *ret_value = v;
            return false;
        }
        th_sleep_ms(200);
    }
}

static void start_prometheus(void)
{
    assert_int_equal(th_make_tempdir("prometheus", prom_dir, sizeof prom_dir), 0);
    char cwd[1024], path[1200], config[4096], log[1200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(config, sizeof config,
             "global:\n"
             "  scrape_interval: %ds\n"
             "  evaluation_interval: %ds\n"
             "rule_files:\n"
             "  - %s/examples/prometheus/gpuaas-recording.rules.yml\n"
             "scrape_configs:\n"
             "  - job_name: gpuaas\n"
             "    authorization:\n"
             "      type: Bearer\n"
             "      credentials_file: %s/admin.token\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             SCRAPE_S, SCRAPE_S, cwd, srv.data_dir, srv.port);
    snprintf(path, sizeof path, "%s/prometheus.yml", prom_dir);
    assert_int_equal(th_write_file(path, config), 0);
    char config_flag[1300], storage_flag[1300], listen_flag[64];
    snprintf(config_flag, sizeof config_flag, "--config.file=%s", path);
    snprintf(storage_flag, sizeof storage_flag, "--storage.tsdb.path=%s/data", prom_dir);
    prom_port = th_free_port();
    snprintf(listen_flag, sizeof listen_flag, "--web.listen-address=127.0.0.1:%d", prom_port);
    snprintf(log, sizeof log, "%s/prometheus.log", prom_dir);
    char *argv[] = {prometheus, config_flag, storage_flag, listen_flag, "--log.level=warn", NULL};
    prom_pid = th_spawn(argv, log, true);
    assert_true(prom_pid > 0);
    /* ready, then scraping the server */
    long long deadline = th_now_ms() + 60000;
    double up = 0;
    for (;;) {
        char *body;
        long st = prom_get("/-/ready", &body);
        free(body);
        if (st == 200 && prom_query("up{job=\"gpuaas\"}", &up) && up == 1)
            break;
        if (th_now_ms() > deadline) {
            char *text = th_read_file(log, NULL);
            th_note("prometheus not ready/scraping within 60 s; its log:\n%s", text ? text : "");
            free(text);
            fail_msg("prometheus did not start");
        }
        th_sleep_ms(200);
    }
}

static void stop_prometheus(void)
{
    if (prom_pid > 0) {
        kill(prom_pid, SIGTERM);
        if (th_wait(prom_pid, 20000) == -2) {
            kill(prom_pid, SIGKILL);
            th_wait(prom_pid, 5000);
        }
        prom_pid = 0;
    }
    if (prom_dir[0] && !getenv("TH_KEEP"))
        th_rm_rf(prom_dir);
    prom_dir[0] = '\0';
}

/* `gpuaas usage -n NS -o json [--month M]`: total GPU-hours. */
static double cli_usage_hours(const char *month)
{
    char *argv[13] = {(char *)th_server_bin(), "usage", "--server", srv.url, "--token", srv.token, "-n", NS,
                      "-o", "json", NULL, NULL, NULL};
    if (month) {
        argv[10] = "--month";
        argv[11] = (char *)month;
    }
    char *out = NULL, *err = NULL;
    int rc = th_run_capture(argv, &out, &err, 30000);
    if (rc != 0)
        th_note("gpuaas usage: exit %d: %s %s", rc, out ? out : "", err ? err : "");
    assert_int_equal(rc, 0);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    double hours = json_number_value(th_jpath(doc, "total.gpu_hours"));
    json_decref(doc);
    free(out);
    free(err);
    return hours;
}

static void test_prometheus_agrees_with_usage(void **state)
{
    (void)state;
    if (!prometheus[0])
        skip();
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r), 201);
    th_resp_free(&r);
    long long window_start_ms = th_now_ms();
    start_prometheus();

    char *spec = sm_job("train", NS, JOB_GPUS, NULL, false, 0, "sleep 4");
    assert_int_equal(th_call(&http, "POST", "/v1/jobs", spec, NULL, &r), 201);
    th_resp_free(&r);
    free(spec);
    /* until the job has ended */
    const char *state_text = NULL;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(th_call(&http, "GET", "/v1/jobs/train?namespace=" NS, NULL, NULL, &r), 200);
        state_text = th_jstr(r.json, "status.state");
        bool done = state_text && strcmp(state_text, "Succeeded") == 0;
        th_resp_free(&r);
        if (done)
            break;
        th_sleep_ms(100);
    }

    double usage_hours = cli_usage_hours(NULL);
    th_note("gpuaas usage -n " NS ": %.6f GPU-hours (%.3f GPU-seconds)", usage_hours, usage_hours * 3600);
    assert_true(usage_hours * 3600 > JOB_GPUS * 3.5); /* 2 GPUs for about 4 s */

    /* the last scrape after the end has the final, exact counter */
    double scraped;
    bool ok = prom_wait_value("sum(gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\"}) / 3600", usage_hours,
                              0.01 / 3600, 15000, &scraped);
    th_note("Prometheus: last scraped counter %.6f GPU-hours", scraped);
    assert_true(ok);

    /* GPU-hours over the test's window from increase(): within one scrape
     * interval of the job's GPUs */
    long long window_s = (th_now_ms() - window_start_ms) / 1000 + 2;
    char expr[512];
    snprintf(expr, sizeof expr, "sum(increase(gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\"}[%llds])) / 3600",
             window_s);
    double increase_hours = 0;
    assert_true(prom_query(expr, &increase_hours));
    /* one scrape interval: the gap before the first scrape that had the
     * series, as Prometheus saw it (at least the configured 1 s) */
    static double up_ts[4096], series_ts[4096];
    char range[512];
    snprintf(range, sizeof range, "up{job=\"gpuaas\"}[%llds]", window_s);
    int ups = prom_timestamps(range, up_ts, 4096);
    snprintf(range, sizeof range, "gpuaas_allocated_gpu_seconds_total{namespace=\"" NS "\"}[%llds]", window_s);
    int points = prom_timestamps(range, series_ts, 4096);
    assert_true(ups > 2 && points > 2);
    double gap = SCRAPE_S;
    for (int i = ups - 1; i >= 0; i--)
        if (up_ts[i] < series_ts[0]) {
            if (series_ts[0] - up_ts[i] > gap)
                gap = series_ts[0] - up_ts[i];
            break;
        }
    double tolerance = JOB_GPUS * gap / 3600.0;
    th_note("PromQL %s = %.6f GPU-hours; gpuaas usage %.6f; difference %.3f GPU-seconds (allowed %.3f: %d GPUs x %.3f s)", expr,
            increase_hours, usage_hours, (increase_hours - usage_hours) * 3600, tolerance * 3600, JOB_GPUS, gap);
    assert_true(increase_hours > usage_hours - tolerance && increase_hours < usage_hours + tolerance);

    /* the calendar month so far, as `gpuaas usage --month` counts it */
    char month[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(month, sizeof month, "%Y-%m", &tm);
    double month_hours = cli_usage_hours(month);
    double month_scraped;
    ok = prom_wait_value("sum(gpuaas_month_allocated_gpu_seconds{namespace=\"" NS "\"}) / 3600", month_hours,
                         0.01 / 3600, 10000, &month_scraped);
    th_note("month %s: PromQL %.6f, gpuaas usage --month %.6f GPU-hours", month, month_scraped, month_hours);
    assert_true(ok);
    stop_prometheus();
    TH_PASS();
}

static int group_setup(void **state)
{
    (void)state;
    if (!sm_find_program("prometheus", prometheus, sizeof prometheus)) {
        prometheus[0] = '\0';
        th_note("SKIP: prometheus is not installed (scripts/install-deps prometheus installs it)");
    }
    if (sm_server_start(&srv, &http, "prom", "snake_case") != 0)
        return -1;
    started = true;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_prometheus();
    if (!started)
        return 0;
    static const char *const namespaces[] = {NS, NULL};
    return sm_server_stop(&srv, &http, namespaces);
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prometheus_agrees_with_usage, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("prometheus", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
