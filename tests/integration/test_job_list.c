/* Listing jobs at scale through the real server: ?state= filters,
 * ?limit= pages with continue tokens (a walk sees every job once while new
 * jobs are submitted between pages), /v1/job-summary counts, bad
 * parameters refused (400 naming the parameter, nothing changed), what a
 * viewer of one namespace sees, and `gpuaas get jobs --state --limit
 * --chunk-size` following the tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "support_metrics.h"
#include "support_rbac.h"

#define NS_A "team-l/a/dev"
#define NS_B "team-l/b/dev"
#define WAITING 9   /* pending jobs per namespace at the start */
#define FINISHED 3  /* jobs that run `true` in NS_A */
#define CANCELLED 2 /* pending jobs of NS_B cancelled */

static struct th_server srv;
static struct th_http http;
static bool started;
static char viewer[512];

static void call_ok(const char *method, const char *path, const char *body, long want)
{
    struct th_resp r;
    long st = th_call(&http, method, path, body, NULL, &r);
    if (st != want)
        th_note("%s %s -> %ld %.300s", method, path, st, r.body);
    th_resp_free(&r);
    assert_int_equal(st, want);
}

static void submit(const char *name, const char *ns, bool waits, const char *cmd)
{
    char *spec = sm_job(name, ns, 0, NULL, waits, 0, cmd);
    call_ok("POST", "/v1/jobs", spec, 201);
    free(spec);
}

static json_t *get_json(const char *path)
{
    struct th_resp r;
    long st = th_call(&http, "GET", path, NULL, NULL, &r);
    if (st != 200)
        th_note("GET %s -> %ld %.300s", path, st, r.body);
    assert_int_equal(st, 200);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    assert_non_null(j);
    return j;
}

static json_int_t num(json_t *obj, const char *path) { return json_integer_value(th_jpath(obj, path)); }

/* Waits until n jobs have succeeded (those that run `true`). */
static void wait_succeeded(json_int_t n)
{
    json_int_t have = -1;
    for (int i = 0; i < 300 && have != n; i++) {
        if (i)
            th_sleep_ms(50);
        json_t *list = get_json("/v1/jobs?state=Succeeded&limit=1");
        have = num(list, "total");
        json_decref(list);
    }
    assert_int_equal(have, n);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_state_filter_and_counts(void **state)
{
    (void)state;
    json_t *sum = get_json("/v1/job-summary");
    th_note("summary: %lld jobs, %lld pending, %lld succeeded, %lld cancelled", (long long)num(sum, "total"),
            (long long)num(sum, "by_state.Pending"), (long long)num(sum, "by_state.Succeeded"),
            (long long)num(sum, "by_state.Cancelled"));
    assert_int_equal(num(sum, "total"), 2 * WAITING + FINISHED);
    assert_int_equal(num(sum, "by_state.Pending"), 2 * WAITING - CANCELLED);
    assert_int_equal(num(sum, "by_state.Succeeded"), FINISHED);
    assert_int_equal(num(sum, "by_state.Cancelled"), CANCELLED);
    assert_int_equal(num(sum, "by_state.Running"), 0);
    json_t *rows = json_object_get(sum, "namespaces");
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(th_jstr(json_array_get(rows, 0), "namespace"), NS_A);
    assert_int_equal(num(json_array_get(rows, 0), "total"), WAITING + FINISHED);
    assert_int_equal(num(json_array_get(rows, 1), "by_state.Cancelled"), CANCELLED);
    json_decref(sum);

    sum = get_json("/v1/job-summary?namespace=" NS_B);
    assert_int_equal(num(sum, "total"), WAITING);
    assert_int_equal(json_array_size(json_object_get(sum, "namespaces")), 1);
    json_decref(sum);

    /* one state, two states, a subtree */
    json_t *list = get_json("/v1/jobs?state=Succeeded");
    assert_int_equal(num(list, "total"), FINISHED);
    assert_int_equal(num(list, "count"), FINISHED);
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(list, "items"), i, job)
        assert_string_equal(th_jstr(job, "status.state"), "Succeeded");
    json_decref(list);
    list = get_json("/v1/jobs?state=cancelled,Succeeded&namespace=team-l/b");
    assert_int_equal(num(list, "total"), CANCELLED);
    json_array_foreach(json_object_get(list, "items"), i, job) {
        assert_string_equal(th_jstr(job, "status.state"), "Cancelled");
        assert_string_equal(th_jstr(job, "namespace"), NS_B);
    }
    assert_null(json_object_get(list, "continue"));
    json_decref(list);
    /* no limit: at most the default page, here everything, by id */
    list = get_json("/v1/jobs");
    assert_int_equal(num(list, "count"), 2 * WAITING + FINISHED);
    assert_int_equal(num(list, "remaining"), 0);
    json_int_t last = 0;
    json_array_foreach(json_object_get(list, "items"), i, job) {
        assert_true(num(job, "id") > last);
        last = num(job, "id");
    }
    json_decref(list);
    TH_PASS();
}

/* Walks ?state=Pending 4 at a time, submitting two jobs (one pending, one
 * that finishes at once) between pages: every pending job is seen once. */
static void test_pages_while_submitting(void **state)
{
    (void)state;
    enum { SEEN_MAX = 512 };
    static int seen[SEEN_MAX];
    memset(seen, 0, sizeof seen);
    char path[256], token[128] = "", name[64];
    json_int_t last = 0;
    int pages = 0, added = 0;
    for (;;) {
        snprintf(path, sizeof path, "/v1/jobs?state=Pending&limit=4%s%s", token[0] ? "&continue=" : "", token);
        json_t *list = get_json(path);
        size_t i;
        json_t *job;
        assert_true(num(list, "count") <= 4);
        json_array_foreach(json_object_get(list, "items"), i, job) {
            json_int_t id = num(job, "id");
            assert_true(id > last && id < SEEN_MAX);
            assert_string_equal(th_jstr(job, "status.state"), "Pending");
            seen[id]++;
            last = id;
        }
        pages++;
        const char *next = th_jstr(list, "continue");
        assert_int_equal(next != NULL, num(list, "remaining") > 0);
        if (!next) {
            json_decref(list);
            break;
        }
        snprintf(token, sizeof token, "%s", next);
        json_decref(list);
        if (added < 8) { /* new jobs between pages */
            snprintf(name, sizeof name, "late-%d", added);
            submit(name, added % 2 ? NS_A : NS_B, true, "sleep 300");
            snprintf(name, sizeof name, "late-done-%d", added++);
            submit(name, NS_A, false, "true");
        }
    }
    /* the walk saw exactly the pending jobs there are now */
    json_t *all = get_json("/v1/jobs?state=Pending&limit=10000");
    int expected = 0, missed = 0, twice = 0;
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(all, "items"), i, job) {
        json_int_t id = num(job, "id");
        expected++;
        missed += seen[id] == 0;
    }
    for (int id = 0; id < SEEN_MAX; id++)
        twice += seen[id] > 1;
    th_note("%d pages, %d jobs submitted during the walk, %d pending now, %d missed, %d seen twice", pages, 2 * added,
            expected, missed, twice);
    /* the jobs that run `true` may still have been pending */
    assert_true(expected >= 2 * WAITING - CANCELLED + added && expected <= 2 * WAITING - CANCELLED + 2 * added);
    assert_int_equal(missed, 0);
    assert_int_equal(twice, 0);
    assert_true(added > 0 && added == pages - 1); /* one round of submits between any two pages */
    json_decref(all);
    wait_succeeded(FINISHED + added);
    TH_PASS();
}

static void test_bad_parameters(void **state)
{
    (void)state;
    json_t *before = get_json("/v1/job-summary");
    static const struct {
        const char *path, *field;
    } bad[] = {
        {"/v1/jobs?state=Bogus", "state"},
        {"/v1/jobs?state=Pending,", "state"},
        {"/v1/jobs?state=Pending,Done", "state"},
        {"/v1/jobs?limit=0", "limit"},
        {"/v1/jobs?limit=10001", "limit"},
        {"/v1/jobs?limit=-1", "limit"},
        {"/v1/jobs?limit=ten", "limit"},
        {"/v1/jobs?limit=1.5", "limit"},
        {"/v1/jobs?limit=99999999999999999999", "limit"},
        {"/v1/jobs?continue=abc", "continue"},
        {"/v1/jobs?continue=j1.0", "continue"},
        {"/v1/jobs?continue=j1.zz", "continue"},
        {"/v1/jobs?namespace=Not_A_Namespace", "namespace"},
        {"/v1/job-summary?namespace=a//b", "namespace"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct th_resp r;
        long st = th_call(&http, "GET", bad[k].path, NULL, NULL, &r);
        th_note("GET %s -> %ld %s", bad[k].path, st, th_err_message(&r) ? th_err_message(&r) : r.body);
        assert_int_equal(st, 400);
        assert_string_equal(th_err_code(&r), "bad_request");
        assert_non_null(th_err_field(&r));
        assert_string_equal(th_err_field(&r), bad[k].field);
        th_resp_free(&r);
    }
    /* a long state list is refused, not cut */
    char path[600] = "/v1/jobs?state=Pending";
    while (strlen(path) < 500)
        strcat(path, ",Running");
    struct th_resp r;
    assert_int_equal(th_call(&http, "GET", path, NULL, NULL, &r), 400);
    assert_string_equal(th_err_field(&r), "state");
    th_resp_free(&r);
    json_t *after = get_json("/v1/job-summary");
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    TH_PASS();
}

/* A viewer of team-l/a: counts and lists of that subtree only. */
static void test_viewer_sees_own_namespace(void **state)
{
    (void)state;
    struct th_resp r;
    long st = srb_call(&http, viewer, NULL, "GET", "/v1/job-summary", NULL, &r);
    assert_int_equal(st, 200);
    json_t *rows = json_object_get(r.json, "namespaces");
    assert_int_equal(json_array_size(rows), 1);
    assert_string_equal(th_jstr(json_array_get(rows, 0), "namespace"), NS_A);
    json_int_t visible = num(r.json, "total");
    assert_int_equal(visible, num(json_array_get(rows, 0), "total"));
    th_resp_free(&r);
    json_t *sum = get_json("/v1/job-summary?namespace=" NS_A);
    assert_int_equal(num(sum, "total"), visible); /* the admin's count of the same subtree */
    json_decref(sum);

    st = srb_call(&http, viewer, NULL, "GET", "/v1/jobs?state=Pending,Cancelled&limit=2", NULL, &r);
    assert_int_equal(st, 200);
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(r.json, "items"), i, job)
        assert_string_equal(th_jstr(job, "namespace"), NS_A);
    json_int_t pending_a = num(r.json, "total");
    th_resp_free(&r);
    sum = get_json("/v1/job-summary?namespace=" NS_A);
    assert_int_equal(pending_a, num(sum, "by_state.Pending") + num(sum, "by_state.Cancelled"));
    json_decref(sum);

    /* another tenant's namespace does not exist for the viewer */
    st = srb_call(&http, viewer, NULL, "GET", "/v1/job-summary?namespace=" NS_B, NULL, &r);
    assert_int_equal(st, 404);
    th_resp_free(&r);
    st = srb_call(&http, viewer, NULL, "GET", "/v1/jobs?state=Cancelled&namespace=" NS_B, NULL, &r);
    assert_int_equal(st, 404);
    th_resp_free(&r);
    TH_PASS();
}

/* ---- the CLI ------------------------------------------------------------------------ */

struct cli_out {
    int rc;
    char *out, *err;
};

static void cli(struct cli_out *o, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    const char *arg;
    argv[n++] = (char *)th_server_bin();
    va_start(ap, o);
    while ((arg = va_arg(ap, const char *)) != NULL && n < 26)
        argv[n++] = (char *)arg;
    va_end(ap);
    argv[n++] = "--server";
    argv[n++] = srv.url;
    argv[n++] = "--token";
    argv[n++] = srv.token;
    argv[n] = NULL;
    o->out = o->err = NULL;
    o->rc = th_run_capture(argv, &o->out, &o->err, 20000);
    if (o->rc != 0)
        th_note("gpuaas %s %s ...: exit %d: %.500s", argv[1], argv[2], o->rc, o->err ? o->err : "");
}

static void cli_free(struct cli_out *o)
{
    free(o->out);
    free(o->err);
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        n += copy && strstr(copy, needle) != NULL;
        free(copy);
        line = end ? end + 1 : NULL;
    }
    return n;
}

static void test_cli_follows_continue(void **state)
{
    (void)state;
    json_t *all = get_json("/v1/jobs?state=Pending&limit=10000");
    json_int_t pending = num(all, "total");

    /* pages of 3: every pending job, in id order, as one list */
    struct cli_out o;
    cli(&o, "get", "jobs", "--state", "pending", "--chunk-size", "3", "-o", "json", NULL);
    assert_int_equal(o.rc, 0);
    json_t *got = json_loads(o.out, 0, NULL);
    assert_non_null(got);
    assert_int_equal(num(got, "count"), pending);
    assert_int_equal(num(got, "total"), pending);
    assert_null(json_object_get(got, "continue"));
    assert_true(json_equal(json_object_get(got, "items"), json_object_get(all, "items")));
    json_decref(got);
    cli_free(&o);

    /* --limit: the first N, and the token to go on from */
    cli(&o, "get", "jobs", "-A", "--state", "Pending", "--limit", "5", "--chunk-size", "2", "-o", "json", NULL);
    assert_int_equal(o.rc, 0);
    got = json_loads(o.out, 0, NULL);
    assert_non_null(got);
    assert_int_equal(num(got, "count"), 5);
    assert_int_equal(num(got, "total"), pending);
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(num(json_array_get(json_object_get(got, "items"), k), "id"),
                         num(json_array_get(json_object_get(all, "items"), k), "id"));
    const char *token = th_jstr(got, "continue");
    assert_non_null(token);
    char path[256];
    snprintf(path, sizeof path, "/v1/jobs?state=Pending&limit=1&continue=%s", token);
    json_t *next = get_json(path);
    assert_int_equal(num(json_array_get(json_object_get(next, "items"), 0), "id"),
                     num(json_array_get(json_object_get(all, "items"), 5), "id"));
    json_decref(next);
    json_decref(got);
    cli_free(&o);

    /* the table: one row per job and a note that more match */
    cli(&o, "get", "jobs", "--state", "Succeeded", "-n", "team-l", NULL);
    assert_int_equal(o.rc, 0);
    json_t *sum = get_json("/v1/job-summary");
    assert_int_equal(count_lines_with(o.out, "Succeeded"), num(sum, "by_state.Succeeded"));
    json_decref(sum);
    cli_free(&o);
    cli(&o, "get", "jobs", "--limit", "3", NULL);
    assert_int_equal(o.rc, 0);
    assert_int_equal(count_lines_with(o.out, NS_A) + count_lines_with(o.out, NS_B), 3);
    assert_non_null(strstr(o.err, "3 of "));
    cli_free(&o);

    /* usage errors: exit 2, nothing asked of the server */
    static const char *const bad[][4] = {
        {"--state", "Done", NULL, NULL},      {"--limit", "0", NULL, NULL},
        {"--chunk-size", "10001", NULL, NULL}, {"-A", "-n", NS_A, NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cli(&o, "get", "jobs", bad[k][0], bad[k][1], bad[k][2], NULL);
        assert_int_equal(o.rc, 2);
        cli_free(&o);
    }
    cli(&o, "get", "pods", "--state", "Pending", NULL);
    assert_int_equal(o.rc, 2);
    cli_free(&o);
    json_decref(all);
    TH_PASS();
}

/* ---- setup ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    if (th_server_start(&srv, "joblist") != 0 || th_http_init(&http, &srv) != 0)
        return -1;
    th_log_server = &srv;
    started = true;
    char name[64], path[200];
    call_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_A "\"}", 201);
    call_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_B "\"}", 201);
    for (int k = 0; k < WAITING; k++) {
        snprintf(name, sizeof name, "wait-%d", k);
        submit(name, NS_A, true, "sleep 300");
        submit(name, NS_B, true, "sleep 300");
    }
    for (int k = 0; k < FINISHED; k++) {
        snprintf(name, sizeof name, "done-%d", k);
        submit(name, NS_A, false, "true");
    }
    for (int k = 0; k < CANCELLED; k++) {
        snprintf(path, sizeof path, "/v1/jobs/wait-%d/cancel?namespace=" NS_B, k);
        call_ok("POST", path, "{}", 200);
    }
    wait_succeeded(FINISHED);
    struct th_resp r;
    if (th_call(&http, "POST", "/v1/tokens", "{\"user\":\"list-viewer\"}", NULL, &r) != 201)
        return -1;
    snprintf(viewer, sizeof viewer, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    call_ok("POST", "/v1/bindings", "{\"role\":\"viewer\",\"user\":\"list-viewer\",\"namespace\":\"team-l/a\"}", 201);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!started)
        return 0;
    th_http_free(&http);
    int rc = th_server_stop(&srv);
    th_server_destroy(&srv);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_filter_and_counts, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_pages_while_submitting, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_bad_parameters, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_viewer_sees_own_namespace, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_cli_follows_continue, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("job_list", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
