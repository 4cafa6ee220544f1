/* The web dashboard (/ui) in a real browser: headless Chromium (Debian
 * package chromium) loads the page from the real server with a token in the
 * URL fragment, and the DOM it renders (--dump-dom) shows the numbers the
 * API reports: total and allocated GPUs, running and pending jobs, a
 * namespace's GPU-hours this month, the waiting job and its reason, the
 * nodes. A screenshot is written (build/test/ui-dashboard.png). A viewer
 * of one namespace sees only its numbers. A wrong token shows the login
 * error and no data. The static files are served
 * without a token, with a content security policy.
 * Skipped, saying so, only when no Chromium is installed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "support_metrics.h"

#define NS_DONE "team-ui/a/dev"
#define NS_RUN "team-ui/b/prod"
#define SCREENSHOT "build/test/ui-dashboard.png"
#define QUEUE_MAX 20   /* pending jobs the page shows (web/app.js) */
#define QUEUE_EXTRA 21 /* more pending jobs than that */
#define SUMMARY_METRIC "gpuaas_http_requests_total{method=\"GET\",route=\"/v1/job-summary\",status=\"2xx\"}"

static struct th_server srv;
static struct th_http http;
static bool started;
static char chromium[512];
static char profile_dir[512];

static void call_ok(const char *method, const char *path, const char *body, long want)
{
    struct th_resp r;
    long st = th_call(&http, method, path, body, NULL, &r);
    if (st != want)
        th_note("%s %s -> %ld %.300s", method, path, st, r.body);
    th_resp_free(&r);
    assert_int_equal(st, want);
}

/* Runs headless Chromium on url#fragment with extra (--dump-dom or
 * --screenshot=...); stdout in *ret_out. Exit status. */
static int run_chromium(const char *fragment, const char *extra, long budget_ms, char **ret_out)
{
    char url[1024], budget[64], user_dir[600];
    snprintf(url, sizeof url, "%s/ui#%s", srv.url, fragment);
    snprintf(budget, sizeof budget, "--virtual-time-budget=%ld", budget_ms);
    snprintf(user_dir, sizeof user_dir, "--user-data-dir=%s", profile_dir);
    char *argv[] = {chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--mute-audio", "--hide-scrollbars", "--window-size=1440,1000", user_dir, budget,
                    (char *)extra, url, NULL};
    char *err = NULL;
    int rc = th_run_capture(argv, ret_out, &err, 90000);
    if (rc != 0)
        th_note("chromium exit %d: %.2000s", rc, err ? err : "");
    free(err);
    return rc;
}

/* The DOM once the page says data-state=want ("ready", "login-error"):
 * up to 4 tries with a growing virtual time budget (a loaded 2-CPU machine
 * can be slow to start the browser). malloc'd. */
static char *dump_dom(const char *fragment, const char *want)
{
    char marker[64];
    snprintf(marker, sizeof marker, "<body data-state=\"%s\"", want);
    char *dom = NULL;
    for (int attempt = 0; attempt < 4; attempt++) {
        free(dom);
        dom = NULL;
        int rc = run_chromium(fragment, "--dump-dom", 8000L << attempt, &dom);
        if (rc == 0 && dom && strstr(dom, marker))
            return dom;
        th_note("attempt %d: page not in state '%s' yet (exit %d, %zu bytes of DOM); retrying", attempt + 1, want,
                rc, dom ? strlen(dom) : 0);
    }
    fail_msg("the dashboard never reached state '%s'; last DOM: %.3000s", want, dom ? dom : "(none)");
    return NULL;
}

/* The tag that contains `marker` (from its '<' to its '>'), NUL-terminated
 * into out; NULL when the marker is not found at or after from. */
static const char *tag_with(const char *from, const char *marker, char *out, size_t size)
{
    const char *at = strstr(from, marker);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > from && *start != '<')
        start--;
    const char *end = strchr(at, '>');
    if (!end)
        return NULL;
    snprintf(out, size, "%.*s", (int)(end - start + 1), start);
    return end + 1;
}

/* The value of attribute name in a tag, or NULL (into out). */
static const char *attr(const char *tag, const char *name, char *out, size_t size)
{
    char key[80];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t len = strcspn(p, "\"");
    snprintf(out, size, "%.*s", (int)len, p);
    return out;
}

/* data-value of the element with data-testid=id, as a number. */
static double testid_value(const char *dom, const char *id)
{
    char marker[96], tag[1024], value[128];
    snprintf(marker, sizeof marker, "data-testid=\"%s\"", id);
    if (!tag_with(dom, marker, tag, sizeof tag))
        fail_msg("no element %s in the DOM", marker);
    if (!attr(tag, "data-value", value, sizeof value))
        fail_msg("element %s has no data-value: %s", marker, tag);
    return strtod(value, NULL);
}

static int count_of(const char *dom, const char *needle)
{
    int n = 0;
    for (const char *p = dom; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_static_files(void **state)
{
    (void)state;
    /* no token needed for the page itself; it carries a CSP */
    struct th_req req = {.method = "GET", .path = "/ui", .token = ""};
    struct th_resp r;
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<script src=\"/ui/app.js\""));
    th_resp_free(&r);
    req.path = "/ui/app.js";
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "sessionStorage"));
    th_resp_free(&r);
    req.path = "/ui/"; /* one trailing slash is the same page */
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<script src=\"/ui/app.js\""));
    th_resp_free(&r);
    req.path = "/ui//";
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    req.path = "/ui/nope.js";
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    req.path = "/ui/..%2Fadmin.token";
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    /* headers through curl's command line (the harness keeps no headers) */
    char url[128];
    snprintf(url, sizeof url, "%s/ui", srv.url);
    char *argv[] = {"curl", "-sS", "-D", "-", "-o", "/dev/null", url, NULL};
    char *out = NULL;
    assert_int_equal(th_run_capture(argv, &out, NULL, 20000), 0);
    assert_non_null(strstr(out, "Content-Security-Policy: default-src 'self'"));
    assert_non_null(strstr(out, "Content-Type: text/html"));
    free(out);
    TH_PASS();
}

static void test_dashboard_shows_api_numbers(void **state)
{
    (void)state;
    if (!chromium[0])
        skip();
    call_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_DONE "\"}", 201);
    call_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_RUN "\"}", 201);
    char *done = sm_job("report", NS_DONE, 1, NULL, false, 0, "sleep 1");
    char *run = sm_job("train", NS_RUN, 2, NULL, false, 0, "sleep 300");
    char *wait = sm_job("waits", NS_RUN, 1, NULL, true, 0, "sleep 300");
    call_ok("POST", "/v1/jobs", done, 201);
    call_ok("POST", "/v1/jobs", run, 201);
    call_ok("POST", "/v1/jobs", wait, 201);
    free(done);
    free(run);
    free(wait);
    /* a queue longer than the page shows: it says how many more wait */
    for (int k = 0; k < QUEUE_EXTRA; k++) {
        char name[32];
        snprintf(name, sizeof name, "queued-%03d", k);
        char *spec = sm_job(name, NS_RUN, 0, NULL, true, 0, "sleep 300");
        call_ok("POST", "/v1/jobs", spec, 201);
        free(spec);
    }
    /* until the short job has ended: its GPU-hours no longer change */
    struct th_resp r;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(th_call(&http, "GET", "/v1/jobs/report?namespace=" NS_DONE, NULL, NULL, &r), 200);
        bool ended = strcmp(th_jstr(r.json, "status.state"), "Succeeded") == 0;
        th_resp_free(&r);
        if (ended)
            break;
        th_sleep_ms(100);
    }

    /* what the API says */
    assert_int_equal(th_call(&http, "GET", "/v1/gpus", NULL, NULL, &r), 200);
    size_t gpus_total = json_array_size(json_object_get(r.json, "items")), allocated = 0, i;
    json_t *g;
    json_array_foreach(json_object_get(r.json, "items"), i, g) allocated += json_is_true(json_object_get(g, "allocated"));
    th_resp_free(&r);
    assert_int_equal(th_call(&http, "GET", "/v1/job-summary", NULL, NULL, &r), 200);
    int running = (int)json_integer_value(th_jpath(r.json, "by_state.Running"));
    int pending = (int)json_integer_value(th_jpath(r.json, "by_state.Pending"));
    th_resp_free(&r);
    /* the counts agree with the filtered lists */
    assert_int_equal(th_call(&http, "GET", "/v1/jobs?state=Running", NULL, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), running);
    th_resp_free(&r);
    assert_int_equal(th_call(&http, "GET", "/v1/jobs?state=Pending&limit=1", NULL, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), pending);
    th_resp_free(&r);
    char *metrics = sm_scrape(&http);
    bool found = false;
    double summary_calls = sm_sample(metrics, SUMMARY_METRIC, &found);
    free(metrics);
    if (!found)
        summary_calls = 0;
    char month[16], path[128];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(month, sizeof month, "%Y-%m", &tm);
    snprintf(path, sizeof path, "/v1/usage?month=%s&by=namespace&namespace=" NS_DONE, month);
    assert_int_equal(th_call(&http, "GET", path, NULL, NULL, &r), 200);
    double done_hours = json_number_value(th_jpath(r.json, "total.gpu_hours"));
    th_resp_free(&r);
    assert_int_equal(th_call(&http, "GET", "/v1/nodes", NULL, NULL, &r), 200);
    int nodes = (int)json_array_size(json_object_get(r.json, "items"));
    th_resp_free(&r);
    assert_true(done_hours > 0 && running == 1 && pending == 1 + QUEUE_EXTRA);

    /* what the browser shows */
    char fragment[700];
    snprintf(fragment, sizeof fragment, "token=%s", srv.token);
    char *dom = dump_dom(fragment, "ready");
    th_note("API: %zu GPUs, %zu allocated, %d running, %d pending, %s %.9f GPU-hours, %d nodes", gpus_total,
            allocated, running, pending, NS_DONE, done_hours, nodes);
    th_note("DOM: %g GPUs, %g allocated, %g running, %g pending", testid_value(dom, "gpus-total"),
            testid_value(dom, "gpus-allocated"), testid_value(dom, "jobs-running"), testid_value(dom, "jobs-pending"));
    assert_true(testid_value(dom, "gpus-total") == (double)gpus_total);
    assert_true(testid_value(dom, "gpus-allocated") == (double)allocated);
    assert_true(testid_value(dom, "gpus-free") == (double)(gpus_total - allocated));
    assert_true(testid_value(dom, "jobs-running") == running);
    assert_true(testid_value(dom, "jobs-pending") == pending);
    /* the queue: the first QUEUE_MAX pending jobs and how many more; the
     * counts came from /v1/job-summary, not from every job */
    assert_int_equal(count_of(dom, "data-testid=\"queue-row\""), QUEUE_MAX);
    assert_true(testid_value(dom, "queue-more") == pending - QUEUE_MAX);
    metrics = sm_scrape(&http);
    double summary_after = sm_sample(metrics, SUMMARY_METRIC, &found);
    free(metrics);
    th_note("GET /v1/job-summary: %g calls before the page, %g after", summary_calls, summary_after);
    assert_true(found && summary_after > summary_calls);
    /* the ended job's namespace: GPU-hours this month as /v1/usage has them */
    char tag[1024], value[128];
    const char *row = tag_with(dom, "data-namespace=\"" NS_DONE "\"", tag, sizeof tag);
    while (row && !strstr(tag, "usage-row"))
        row = tag_with(row, "data-namespace=\"" NS_DONE "\"", tag, sizeof tag);
    assert_non_null(row);
    assert_non_null(tag_with(row, "data-testid=\"usage-gpu-hours\"", tag, sizeof tag));
    assert_non_null(attr(tag, "data-value", value, sizeof value));
    double shown = strtod(value, NULL);
    th_note("DOM: %s %s GPU-hours this month", NS_DONE, value);
    assert_true(fabs(shown - done_hours) <= 1e-9 * (1 + done_hours));
    /* the waiting job with its reason, every node, the running holder */
    assert_non_null(tag_with(dom, "data-job=\"waits\"", tag, sizeof tag));
    assert_non_null(strstr(dom, "capacity: no node matches the selector"));
    assert_int_equal(count_of(dom, "data-testid=\"node-row\""), nodes);
    assert_non_null(strstr(dom, "train · " NS_RUN));
    /* the token went to sessionStorage, not into the page */
    assert_null(strstr(dom, srv.token));
    free(dom);

    /* the screenshot */
    char shot[600];
    snprintf(shot, sizeof shot, "--screenshot=%s", SCREENSHOT);
    remove(SCREENSHOT);
    char *out = NULL;
    assert_int_equal(run_chromium(fragment, shot, 16000, &out), 0);
    free(out);
    size_t len = 0;
    char *png = th_read_file(SCREENSHOT, &len);
    assert_non_null(png);
    assert_true(len > 20000 && memcmp(png, "\x89PNG", 4) == 0);
    free(png);
    th_note("screenshot: %s (%zu bytes)", SCREENSHOT, len);
    TH_PASS();
}

static void test_wrong_token_shows_login_error(void **state)
{
    (void)state;
    if (!chromium[0])
        skip();
    char *dom = dump_dom("token=gpuaas_not-a-real-token", "login-error");
    char tag[1024];
    assert_non_null(tag_with(dom, "data-testid=\"login-error\"", tag, sizeof tag));
    assert_null(strstr(tag, " hidden")); /* shown */
    assert_non_null(strstr(dom, "The server refused this token"));
    /* the data panels are hidden and empty */
    assert_non_null(tag_with(dom, "id=\"dashboard\"", tag, sizeof tag));
    assert_non_null(strstr(tag, " hidden"));
    assert_non_null(tag_with(dom, "data-testid=\"gpus-total\"", tag, sizeof tag));
    assert_null(strstr(tag, "data-value"));
    assert_int_equal(count_of(dom, "data-testid=\"node-row\""), 0);
    assert_int_equal(count_of(dom, "data-testid=\"gpu\""), 0);
    free(dom);
    TH_PASS();
}

/* A viewer of team-ui/a sees its own namespace's numbers, not team-ui/b's:
 * the page shows what the API lets the token read. */
static void test_viewer_sees_own_namespace_only(void **state)
{
    (void)state;
    if (!chromium[0])
        skip();
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/tokens", "{\"user\":\"ui-viewer\"}", NULL, &r), 201);
    char token[256];
    snprintf(token, sizeof token, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    call_ok("POST", "/v1/bindings", "{\"role\":\"viewer\",\"user\":\"ui-viewer\",\"namespace\":\"team-ui/a\"}", 201);
    char fragment[300];
    snprintf(fragment, sizeof fragment, "token=%s", token);
    char *dom = dump_dom(fragment, "ready");
    char tag[1024];
    const char *row = tag_with(dom, "data-namespace=\"" NS_DONE "\"", tag, sizeof tag);
    assert_non_null(row);
    assert_null(strstr(dom, "data-namespace=\"" NS_RUN "\""));
    assert_null(strstr(dom, NS_RUN));
    /* the GPUs team-ui/b holds are shown as held, by another tenant */
    assert_non_null(strstr(dom, "(another tenant)"));
    assert_true(testid_value(dom, "jobs-running") == 0);
    free(dom);
    TH_PASS();
}

static int group_setup(void **state)
{
    (void)state;
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    chromium[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !chromium[0]; i++)
        if (!sm_find_program(names[i], chromium, sizeof chromium))
            chromium[0] = '\0';
    if (!chromium[0])
        th_note("SKIP browser checks: chromium is not installed (scripts/install-deps chromium installs it)");
    if (sm_server_start(&srv, &http, "ui", "dcgm") != 0)
        return -1;
    started = true;
    return th_make_tempdir("chromium", profile_dir, sizeof profile_dir);
}

static int group_teardown(void **state)
{
    (void)state;
    if (profile_dir[0])
        th_rm_rf(profile_dir);
    if (!started)
        return 0;
    static const char *const namespaces[] = {NS_DONE, NS_RUN, NULL};
    return sm_server_stop(&srv, &http, namespaces);
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_static_files, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_dashboard_shows_api_numbers, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_viewer_sees_own_namespace_only, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_wrong_token_shows_login_error, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("dashboard", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
