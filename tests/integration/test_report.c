/* Monthly reports through the real server and CLI.
 *  - In the middle of a month (the server's clock shifted with
 *    GPUAAS_CLOCK_OFFSET_MS): the report's CSV totals, and its org, project,
 *    namespace, model and capacity rows, equal /v1/usage for the month
 *    (exact integer GPU time, same pods, same cost); the PDF is valid for
 *    pdfinfo with the designed page count; `gpuaas report` writes the same
 *    bytes; a namespace-scoped user gets a report of only what they may read;
 *    bad input is refused.
 *  - The month close: a server started a few seconds before a month boundary
 *    with GPUAAS_TEST_CRASH kills itself while closing the month (before
 *    building the report, before its commit, after its commit), or is killed
 *    with SIGKILL just after the boundary; after restarts there is exactly one
 *    stored report for the month (counted in the SQLite file), it matches
 *    /v1/usage, and one committed before the crash is never built again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define MID_MONTH "2026-06-15T12:00:00Z"
#define MONTH "2026-06"
#define BOUNDARY "2026-07-01T00:00:00Z"

static struct th_server srv;
static struct th_http http;
static bool started;

/* "2026-07-01T00:00:30Z" or "...30.123Z" -> ms */
static long long parse_utc(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    int ms = 0;
    if (*rest == '.')
        assert_int_equal(sscanf(rest, ".%3dZ", &ms), 1);
    else
        assert_string_equal(rest, "Z");
    return (long long)timegm(&tm) * 1000 + ms;
}

static long long wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Makes servers started from now on see `server_now` (ms) as the time now. */
static void set_server_clock(long long server_now)
{
    char offset[32];
    snprintf(offset, sizeof offset, "%lld", server_now - wall_ms());
    setenv("GPUAAS_CLOCK_OFFSET_MS", offset, 1);
}

static long long server_offset(void) { return atoll(getenv("GPUAAS_CLOCK_OFFSET_MS")); }

static void ok_call(struct th_http *h, const char *method, const char *path, const char *body, long want)
{
    struct th_resp r;
    long st = th_call(h, method, path, body, NULL, &r);
    if (st != want)
        th_note("%s %s -> %ld (want %ld) %.300s", method, path, st, want, r.body);
    th_resp_free(&r);
    assert_int_equal(st, want);
}

static void submit(struct th_http *h, const char *name, const char *ns, int gpus, const char *seconds)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"namespace\":\"%s\",\"resources\":{\"gpus\":%d},\"command\":[\"sleep\",\"%s\"]}",
             name, ns, gpus, seconds);
    ok_call(h, "POST", "/v1/jobs", body, 201);
}

static const char *job_state(struct th_http *h, const char *name, const char *ns, char *buf, size_t size)
{
    char path[256];
    struct th_resp r;
    snprintf(path, sizeof path, "/v1/jobs/%s?namespace=%s", name, ns);
    assert_int_equal(th_call(h, "GET", path, NULL, NULL, &r), 200);
    snprintf(buf, size, "%s", th_jstr(r.json, "status.state") ? th_jstr(r.json, "status.state") : "?");
    th_resp_free(&r);
    return buf;
}

static void wait_finished(struct th_http *h, const char *name, const char *ns)
{
    char state[32];
    for (int i = 0; i < 200; i++) {
        if (strcmp(job_state(h, name, ns, state, sizeof state), "Succeeded") == 0)
            return;
        th_sleep_ms(100);
    }
    fail_msg("job %s in %s did not succeed (state %s)", name, ns, state);
}

static json_t *get_json(struct th_http *h, const char *path)
{
    struct th_resp r;
    long st = th_call(h, "GET", path, NULL, NULL, &r);
    if (st != 200)
        th_note("GET %s -> %ld %.300s", path, st, r.body);
    assert_int_equal(st, 200);
    json_t *json = json_incref(r.json);
    th_resp_free(&r);
    assert_non_null(json);
    return json;
}

static char *run_tool(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 65536);
    assert_non_null(out);
    size_t len = fread(out, 1, 65535, p);
    out[len] = '\0';
    if (pclose(p) != 0)
        fail_msg("%s failed: %s", cmd, out);
    return out;
}

/* ---- the CSV, split into its rows ------------------------------------------------ */

struct csv_row {
    char section[32], key[256], gpu_seconds[64], gpu_hours[64], cost[64];
    long long milli, pods;
};

static size_t parse_csv(const char *csv, struct csv_row *rows, size_t max)
{
    const char *line = strchr(csv, '\n');
    assert_non_null(line);
    assert_int_equal(strncmp(csv, "month,section,key,gpu_milli_ms,gpu_seconds,gpu_hours,pods,cost,currency,", 72), 0);
    size_t n = 0;
    for (line++; *line && n < max; n++) {
        struct csv_row *r = &rows[n];
        char month[16];
        memset(r, 0, sizeof *r);
        assert_int_equal(sscanf(line, "%15[^,],%31[^,],%255[^,],%lld,%63[^,],%63[^,],%lld,%63[^,]", month,
                                r->section, r->key, &r->milli, r->gpu_seconds, r->gpu_hours, &r->pods, r->cost),
                         8);
        assert_string_equal(month, MONTH);
        line = strchr(line, '\n');
        assert_non_null(line);
        line++;
    }
    return n;
}

static const struct csv_row *csv_find(const struct csv_row *rows, size_t n, const char *section, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].section, section) == 0 && strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

/* A CSV row equals a /v1/usage row: the exact amount, pods, and the same
 * numbers for GPU-hours and cost (both printed with 12 digits). */
static void same_row(const struct csv_row *c, const json_t *u, const char *what)
{
    if (!c)
        fail_msg("%s: no CSV row", what);
    long long milli = json_integer_value(json_object_get(u, "gpu_milli_ms"));
    if (c->milli != milli)
        fail_msg("%s: CSV gpu_milli_ms %lld, usage %lld", what, c->milli, milli);
    assert_int_equal(c->pods, json_integer_value(json_object_get(u, "pods")));
    char exact[64];
    snprintf(exact, sizeof exact, "%lld.%06lld", milli / 1000000, milli % 1000000);
    assert_string_equal(c->gpu_seconds, exact);
    assert_true(strtod(c->gpu_hours, NULL) == json_number_value(json_object_get(u, "gpu_hours")));
    const json_t *cost = json_object_get(u, "cost");
    if (json_is_number(cost)) {
        if (strtod(c->cost, NULL) != json_number_value(cost))
            fail_msg("%s: CSV cost %s, usage %.17g", what, c->cost, json_number_value(cost));
    } else {
        assert_string_equal(c->cost, "n/a");
    }
}

/* ---- fixtures ------------------------------------------------------------------- */

static int setup_mid_month(void **state)
{
    (void)state;
    th_test_passed = false;
    if (started)
        return 0;
    set_server_clock(parse_utc(MID_MONTH));
    if (th_server_start(&srv, "report") != 0)
        return -1;
    th_log_server = &srv;
    if (th_http_init(&http, &srv) != 0)
        return -1;
    started = true;
    return 0;
}

static int teardown(void **state) { return th_teardown_report(state); }

static int group_teardown(void **state)
{
    (void)state;
    unsetenv("GPUAAS_CLOCK_OFFSET_MS");
    if (!started)
        return 0;
    th_http_free(&http);
    int rc = th_server_stop(&srv);
    th_server_destroy(&srv);
    started = false;
    return rc == 0 ? 0 : -1;
}

/* ---- mid-month: CSV = usage, PDF, CLI, scope, bad input ---------------------------- */

static void test_csv_equals_usage_and_pdf(void **state)
{
    (void)state;
    ok_call(&http, "POST", "/v1/namespaces", "{\"name\":\"team-a/p/dev\"}", 201);
    ok_call(&http, "POST", "/v1/namespaces", "{\"name\":\"team-a/q/prod\"}", 201);
    ok_call(&http, "POST", "/v1/namespaces", "{\"name\":\"team-b/r/dev\"}", 201);
    submit(&http, "one", "team-a/p/dev", 2, "1");
    submit(&http, "two", "team-a/q/prod", 1, "2");
    submit(&http, "three", "team-b/r/dev", 1, "1");
    wait_finished(&http, "one", "team-a/p/dev");
    wait_finished(&http, "two", "team-a/q/prod");
    wait_finished(&http, "three", "team-b/r/dev");

    struct th_resp r;
    assert_int_equal(th_call(&http, "GET", "/v1/reports/" MONTH "?format=csv", NULL, NULL, &r), 200);
    char *csv = strdup(r.body);
    th_resp_free(&r);
    static struct csv_row rows[256];
    size_t n = parse_csv(csv, rows, 256);
    assert_true(n > 10);

    /* totals and every grouping equal the API's usage for the month */
    static const struct {
        const char *by, *section;
    } groups[] = {{"namespace", "namespace"}, {"org", "org"},           {"project", "project"},
                  {"model", "model"},         {"capacity", "capacity"}};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/usage?month=" MONTH "&by=%s", groups[g].by);
        json_t *usage = get_json(&http, path);
        const json_t *total = json_object_get(usage, "total");
        same_row(csv_find(rows, n, "total", "total"), total, "total");
        assert_true(json_integer_value(json_object_get(total, "gpu_milli_ms")) > 3 * 1000000LL); /* > 3 GPU-s */
        assert_int_equal(json_integer_value(json_object_get(total, "pods")), 3);
        size_t i, in_csv = 0;
        json_t *u;
        json_array_foreach(json_object_get(usage, "rows"), i, u) {
            const char *key = json_string_value(json_object_get(u, "key"));
            same_row(csv_find(rows, n, groups[g].section, key), u, key);
        }
        for (size_t k = 0; k < n; k++)
            in_csv += strcmp(rows[k].section, groups[g].section) == 0;
        assert_int_equal(in_csv, json_array_size(json_object_get(usage, "rows")));
        json_decref(usage);
    }
    th_note("CSV: %zu rows; total %s GPU-seconds, cost %s", n, csv_find(rows, n, "total", "total")->gpu_seconds,
            csv_find(rows, n, "total", "total")->cost);

    /* the JSON form: a month still running is built on demand, not stored */
    json_t *report = get_json(&http, "/v1/reports/" MONTH);
    assert_string_equal(th_jstr(report, "kind"), "GpuReport");
    assert_string_equal(th_jstr(report, "scope"), "platform");
    assert_true(json_is_false(json_object_get(report, "complete")));
    assert_true(json_is_false(json_object_get(report, "stored")));
    assert_int_equal(json_integer_value(th_jpath(report, "total.gpu_milli_ms")),
                     csv_find(rows, n, "total", "total")->milli);
    json_decref(report);

    /* the PDF: application/pdf, pdfinfo parses it, two A4 pages */
    struct th_req req = {.method = "GET", .path = "/v1/reports/" MONTH "?format=pdf"};
    assert_int_equal(th_http_do(&http, &req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "%PDF-", 5);
    char pdf_path[700], cmd[1024];
    snprintf(pdf_path, sizeof pdf_path, "%s/api.pdf", srv.data_dir);
    FILE *f = fopen(pdf_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(r.body, 1, r.len, f), r.len);
    fclose(f);
    th_resp_free(&r);
    snprintf(cmd, sizeof cmd, "pdfinfo '%s'", pdf_path);
    char *info = run_tool(cmd);
    assert_non_null(strstr(info, "Pages:           2\n"));
    assert_non_null(strstr(info, "(A4)"));
    free(info);

    /* the CLI: the same CSV byte for byte, and a PDF file */
    char out_path[700];
    snprintf(out_path, sizeof out_path, "%s/cli.pdf", srv.data_dir);
    char *argv_csv[] = {(char *)th_server_bin(), "report", "--server", srv.url, "--token", srv.token, "--month",
                        MONTH, "--format", "csv", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(th_run_capture(argv_csv, &out, &err, 20000), 0);
    assert_string_equal(out, csv);
    free(out);
    free(err);
    char *argv_pdf[] = {(char *)th_server_bin(), "report", "--server", srv.url, "--token", srv.token, "--month",
                        MONTH, "-O", out_path, NULL};
    assert_int_equal(th_run_capture(argv_pdf, &out, &err, 20000), 0);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "pdfinfo '%s'", out_path);
    info = run_tool(cmd);
    assert_non_null(strstr(info, "Pages:           2\n"));
    free(info);
    free(csv);
    TH_PASS();
}

static void test_scoped_user_and_bad_input(void **state)
{
    (void)state;
    ok_call(&http, "POST", "/v1/bindings", "{\"role\":\"viewer\",\"user\":\"alice\",\"namespace\":\"team-a\"}", 201);
    struct th_resp r;
    assert_int_equal(th_call(&http, "POST", "/v1/tokens", "{\"user\":\"alice\"}", NULL, &r), 201);
    char token[512];
    snprintf(token, sizeof token, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    struct th_http alice;
    assert_int_equal(th_http_init(&alice, &srv), 0);
    snprintf(alice.token, sizeof alice.token, "%s", token);

    /* alice sees a report of team-a only, equal to her /v1/usage */
    json_t *report = get_json(&alice, "/v1/reports/" MONTH);
    json_t *usage = get_json(&alice, "/v1/usage?month=" MONTH);
    assert_int_equal(json_integer_value(th_jpath(report, "total.gpu_milli_ms")),
                     json_integer_value(th_jpath(usage, "total.gpu_milli_ms")));
    assert_int_equal(json_array_size(json_object_get(report, "orgs")), 1);
    assert_string_equal(th_jstr(json_array_get(json_object_get(report, "orgs"), 0), "key"), "team-a");
    assert_non_null(strstr(th_jstr(report, "scope"), "readable by alice"));
    json_t *all = get_json(&http, "/v1/reports/" MONTH);
    assert_true(json_integer_value(th_jpath(all, "total.gpu_milli_ms")) >
                json_integer_value(th_jpath(report, "total.gpu_milli_ms")));
    json_decref(all);
    json_decref(report);
    json_decref(usage);
    /* another tenant's namespace is not found; her own subtree works */
    assert_int_equal(th_call(&alice, "GET", "/v1/reports/" MONTH "?namespace=team-b", NULL, NULL, &r), 404);
    th_resp_free(&r);
    report = get_json(&alice, "/v1/reports/" MONTH "?namespace=team-a/q");
    assert_int_equal(json_array_size(json_object_get(report, "namespaces")), 1);
    json_decref(report);

    /* bad input */
    static const struct {
        const char *path;
        long status;
    } bad[] = {{"/v1/reports/2026-13", 400},         {"/v1/reports/2026-6", 400},
               {"/v1/reports/june", 400},            {"/v1/reports/2026-06-01", 400},
               {"/v1/reports/" MONTH "?format=xls", 400}, {"/v1/reports/2027-01", 422},
               {"/v1/reports/" MONTH "?namespace=Bad_NS", 400}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long st = th_call(&http, "GET", bad[i].path, NULL, NULL, &r);
        if (st != bad[i].status)
            th_note("GET %s -> %ld %.200s", bad[i].path, st, r.body);
        assert_int_equal(st, bad[i].status);
        assert_non_null(th_err_code(&r));
        th_resp_free(&r);
    }
    /* the CLI's exit codes: usage error 2, refused 1 */
    char *out = NULL, *err = NULL;
    char *argv_bad[] = {(char *)th_server_bin(), "report", "--server", srv.url, "--token", srv.token, "--month",
                        "2026-13", NULL};
    assert_int_equal(th_run_capture(argv_bad, &out, &err, 20000), 2);
    free(out);
    free(err);
    char *argv_future[] = {(char *)th_server_bin(), "report", "--server", srv.url, "--token", srv.token, "--month",
                           "2027-01", "--format", "csv", NULL};
    assert_int_equal(th_run_capture(argv_future, &out, &err, 20000), 1);
    assert_non_null(strstr(err, "has not started"));
    free(out);
    free(err);
    th_http_free(&alice);
    TH_PASS();
}

/* ---- the month close under crashes ----------------------------------------------- */

static long long stored_reports(const struct th_server *s, const char *month)
{
    char path[700];
    snprintf(path, sizeof path, "%s/gpuaas.db", s->data_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM reports WHERE month = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, month, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Waits until GET /v1/reports lists the month; returns its generated_at. */
static char *wait_stored(struct th_http *h, const char *month)
{
    for (int i = 0; i < 200; i++) {
        json_t *list = get_json(h, "/v1/reports");
        size_t k;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), k, item) {
            if (strcmp(th_jstr(item, "month"), month) == 0) {
                char *at = strdup(th_jstr(item, "generated_at"));
                assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
                json_decref(list);
                return at;
            }
        }
        json_decref(list);
        th_sleep_ms(50);
    }
    fail_msg("no stored report for %s", month);
    return NULL;
}

static void check_matches_usage(struct th_http *h)
{
    json_t *report = get_json(h, "/v1/reports/" MONTH);
    json_t *usage = get_json(h, "/v1/usage?month=" MONTH);
    assert_true(json_is_true(json_object_get(report, "stored")));
    assert_true(json_is_true(json_object_get(report, "complete")));
    long long stored = json_integer_value(th_jpath(report, "total.gpu_milli_ms"));
    assert_true(stored > 0); /* the job held a GPU for seconds before the boundary */
    assert_int_equal(stored, json_integer_value(th_jpath(usage, "total.gpu_milli_ms")));
    assert_int_equal(json_integer_value(th_jpath(report, "total.pods")),
                     json_integer_value(th_jpath(usage, "total.pods")));
    json_decref(report);
    json_decref(usage);
}

static void close_with_crash(const char *crash_point)
{
    struct th_server s;
    struct th_http h;
    long long boundary = parse_utc(BOUNDARY);
    th_note("---- %s", crash_point);
    set_server_clock(boundary - 6000);
    if (strncmp(crash_point, "report-", 7) == 0)
        setenv("GPUAAS_TEST_CRASH", crash_point, 1);
    assert_int_equal(th_server_start(&s, "report-close"), 0);
    th_log_server = &s;
    assert_int_equal(th_http_init(&h, &s), 0);
    ok_call(&h, "POST", "/v1/namespaces", "{\"name\":\"team-c/p/dev\"}", 201);
    submit(&h, "across", "team-c/p/dev", 1, "60"); /* runs across the boundary */
    long long left = boundary - (wall_ms() + server_offset());
    th_note("job submitted %lld ms before the month boundary", left);
    assert_true(left > 0);
    if (strncmp(crash_point, "report-", 7) == 0) {
        /* the server kills itself at that point of the close */
        int waited = 0;
        while (th_server_alive(&s) && waited < 30000) {
            th_sleep_ms(50);
            waited += 50;
        }
        assert_false(th_server_alive(&s));
        char *log = th_read_file(s.log_path, NULL);
        char want[128];
        snprintf(want, sizeof want, "crashing at %s (closing " MONTH ")", crash_point);
        assert_non_null(log);
        assert_non_null(strstr(log, want));
        free(log);
        unsetenv("GPUAAS_TEST_CRASH");
    } else {
        /* SIGKILL 150 ms after the boundary: within the first ticks */
        th_sleep_ms(left + 150);
        th_server_kill9(&s);
    }
    long long after_crash = boundary + 30000;
    /* restart later in July: the close happens (again) at start */
    set_server_clock(after_crash);
    assert_int_equal(th_server_restart(&s), 0);
    th_http_retarget(&h, &s);
    char *generated = wait_stored(&h, MONTH);
    long long generated_ms = parse_utc(generated);
    th_note("%s: report generated at %s", crash_point, generated);
    if (strcmp(crash_point, "report-after-commit") == 0)
        assert_true(generated_ms < after_crash); /* committed before the crash: not built again */
    else if (strncmp(crash_point, "report-", 7) == 0)
        assert_true(generated_ms >= after_crash); /* nothing was committed: built after the restart */
    check_matches_usage(&h);
    /* a clean restart changes nothing */
    assert_int_equal(th_server_stop(&s), 0);
    assert_int_equal(stored_reports(&s, MONTH), 1);
    set_server_clock(after_crash + 60000);
    assert_int_equal(th_server_restart(&s), 0);
    th_http_retarget(&h, &s);
    char *again = wait_stored(&h, MONTH);
    assert_string_equal(again, generated);
    check_matches_usage(&h);

    /* someone who reads nothing platform-wide never gets the stored report */
    struct th_resp r;
    assert_int_equal(th_call(&h, "POST", "/v1/tokens", "{\"user\":\"nobody\"}", NULL, &r), 201);
    struct th_http nobody;
    assert_int_equal(th_http_init(&nobody, &s), 0);
    snprintf(nobody.token, sizeof nobody.token, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    json_t *theirs = get_json(&nobody, "/v1/reports/" MONTH);
    assert_true(json_is_false(json_object_get(theirs, "stored")));
    assert_int_equal(json_integer_value(th_jpath(theirs, "total.gpu_milli_ms")), 0);
    json_decref(theirs);
    json_t *list = get_json(&nobody, "/v1/reports");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    assert_null(th_jpath(json_array_get(json_object_get(list, "items"), 0), "cost"));
    json_decref(list);
    th_http_free(&nobody);

    ok_call(&h, "POST", "/v1/jobs/across/cancel?namespace=team-c/p/dev", "{}", 200);
    th_http_free(&h);
    assert_int_equal(th_server_stop(&s), 0);
    assert_int_equal(stored_reports(&s, MONTH), 1);
    th_server_destroy(&s);
    th_log_server = &srv;
    free(generated);
    free(again);
}

static void test_close_crash_before_build(void **state)
{
    (void)state;
    close_with_crash("report-before-build");
    TH_PASS();
}

static void test_close_crash_before_commit(void **state)
{
    (void)state;
    close_with_crash("report-before-commit");
    TH_PASS();
}

static void test_close_crash_after_commit(void **state)
{
    (void)state;
    close_with_crash("report-after-commit");
    TH_PASS();
}

static void test_close_sigkill_at_boundary(void **state)
{
    (void)state;
    close_with_crash("sigkill");
    TH_PASS();
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_equals_usage_and_pdf, setup_mid_month, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_user_and_bad_input, setup_mid_month, teardown),
        cmocka_unit_test_setup_teardown(test_close_crash_before_build, th_setup_mark, teardown),
        cmocka_unit_test_setup_teardown(test_close_crash_before_commit, th_setup_mark, teardown),
        cmocka_unit_test_setup_teardown(test_close_crash_after_commit, th_setup_mark, teardown),
        cmocka_unit_test_setup_teardown(test_close_sigkill_at_boundary, th_setup_mark, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, group_teardown);
    th_global_cleanup();
    return rc;
}
