/* promtool (Debian package prometheus) against the real server and the
 * examples:
 *   - /metrics of a server running jobs on the fake NVML (whole GPUs, a MIG
 *     slice, a waiting job, a restarting job, a quota: every family has
 *     samples) passes `promtool check metrics` with no lint warning in the
 *     snake_case label style;
 *   - in the default dcgm style the only warnings are the known one:
 *     dcgm-exporter's camelCase label modelName on the DCGM families;
 *   - examples/prometheus: `promtool check config`, `check rules` and
 *     `test rules` pass; the Grafana dashboard is valid JSON; every metric
 *     the dashboard and the rules name exists in /metrics or is recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "lib/yamljson.h"
#include "support_metrics.h"

#define NS "team-p/obs/dev"
#define EXAMPLES "examples/prometheus"

static struct th_server srv;
static struct th_http http;
static bool started;
static char promtool[512];
static char *last_scrape; /* the snake_case scrape, for the examples' names */

static void call_ok(const char *method, const char *path, const char *body, long want)
{
    struct th_resp r;
    long st = th_call(&http, method, path, body, NULL, &r);
    if (st != want)
        th_note("%s %s -> %ld %.300s", method, path, st, r.body);
    th_resp_free(&r);
    assert_int_equal(st, want);
}

/* `promtool check metrics < file`: exit status, output in *ret_out. */
static int check_metrics(const char *text, char **ret_out)
{
    char path[700];
    snprintf(path, sizeof path, "%s/scrape.txt", srv.data_dir);
    assert_int_equal(th_write_file(path, text), 0);
    char *argv[] = {"sh", "-c", "exec \"$0\" check metrics < \"$1\" 2>&1", promtool, path, NULL};
    char *err = NULL;
    int rc = th_run_capture(argv, ret_out, &err, 60000);
    free(err);
    return rc;
}

static void test_lint_clean(void **state)
{
    (void)state;
    call_ok("POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", 201);
    call_ok("PUT", "/v1/quotas/team-p", "{\"gpus\":8,\"gpus_per_model\":{\"A10G\":4},\"cpu\":\"12\",\"memory\":\"48Gi\"}",
            200);
    const struct {
        const char *name;
        int gpus;
        const char *mig;
        bool waits;
        int restarts;
        const char *cmd;
    } jobs[] = {
        {"train", 2, NULL, false, 0, "sleep 60"},
        {"slice", 0, "1g.6gb", false, 0, "sleep 60"},
        {"waiting", 1, NULL, true, 0, "sleep 60"},
        {"crash", 0, NULL, false, 5, "exit 1"},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        char *spec = sm_job(jobs[i].name, NS, jobs[i].gpus, jobs[i].mig, jobs[i].waits, jobs[i].restarts, jobs[i].cmd);
        call_ok("POST", "/v1/jobs", spec, 201);
        free(spec);
    }
    /* until the crashing job has restarted */
    char *text = NULL;
    for (int i = 0; i < 100; i++) {
        free(text);
        text = sm_scrape(&http);
        bool found;
        if (sm_sample(text, "gpuaas_job_restarts_total{namespace=\"" NS "\",job=\"crash\"}", &found) >= 1 && found)
            break;
        th_sleep_ms(100);
    }
    int empty;
    char empty_names[1024];
    int families = sm_check_format(text, &empty, empty_names, sizeof empty_names);
    th_note("%d families, %d without samples %s", families, empty, empty_names);
    assert_int_equal(empty, 0);
    assert_non_null(strstr(text, ",model_name=\"A10G\","));
    assert_null(strstr(text, "modelName"));
    assert_non_null(strstr(text, "gpuaas_pending_jobs{namespace=\"" NS "\",reason=\"capacity\"} 1\n"));
    assert_non_null(strstr(text, ",GPU_I_PROFILE=\"1g.6gb\","));
    last_scrape = text;
    if (!promtool[0])
        skip();
    char *out = NULL;
    int rc = check_metrics(text, &out);
    th_note("promtool check metrics (snake_case): exit %d, output: %s", rc, out && *out ? out : "(none)");
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
    TH_PASS();
}

static void test_lint_dcgm_style(void **state)
{
    (void)state;
    if (!promtool[0])
        skip();
    assert_int_equal(th_server_stop(&srv), 0);
    char *config = sm_config("dcgm");
    int r = th_server_restart_config(&srv, config);
    free(config);
    assert_int_equal(r, 0);
    th_http_retarget(&http, &srv);
    char *text = sm_scrape(&http);
    sm_check_format(text, NULL, NULL, 0);
    assert_non_null(strstr(text, ",modelName=\"A10G\","));
    char *out = NULL;
    int rc = check_metrics(text, &out);
    /* every warning is the known one, on a DCGM family, and nothing else */
    int warnings = 0;
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char family[64];
        if (sscanf(line, "%63s", family) != 1 || strncmp(family, "DCGM_FI_DEV_", 12) != 0 ||
            strcmp(line + strlen(family), " label names should be written in 'snake_case' not 'camelCase'") != 0)
            fail_msg("unexpected promtool output in the dcgm style: %s", line);
        warnings++;
    }
    th_note("promtool check metrics (dcgm): exit %d, %d camelCase warnings (modelName), nothing else", rc, warnings);
    assert_true(warnings > 0);
    assert_int_equal(rc, 3); /* promtool's exit status for lint problems */
    free(out);
    free(text);
    TH_PASS();
}

/* Runs promtool with args in dir; asserts exit 0 and prints its output. */
static void promtool_ok(const char *dir, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd \"$0\" && exec \"$1\" %s 2>&1", args);
    char *argv[] = {"sh", "-c", cmd, (char *)dir, promtool, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run_capture(argv, &out, &err, 60000);
    if (rc != 0)
        th_note("promtool %s: exit %d: %s", args, rc, out ? out : "");
    assert_int_equal(rc, 0);
    free(out);
    free(err);
}

static json_t *load_yaml(const char *path)
{
    size_t len;
    char *text = th_read_file(path, &len);
    assert_non_null(text);
    json_t *doc = NULL;
    struct yamljson_error err;
    if (yamljson_parse(text, len, &doc, &err) < 0)
        fail_msg("%s:%d: %s", path, err.line, err.message);
    free(text);
    return doc;
}

/* Every gpuaas_ / DCGM_ metric in expr is a family of the scrape (a
 * histogram's _bucket/_sum/_count count as theirs); every name with ':' is
 * a recorded rule. */
static void check_names(const char *expr, const char *scrape, const json_t *recorded, const char *where)
{
    for (const char *p = expr; *p;) {
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        if (!len) {
            p++;
            continue;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        bool after_label_eq = p > expr && (p[-1] == '"' || p[-1] == '=' || p[-1] == '~');
        p += len;
        if (after_label_eq)
            continue;
        if (strchr(name, ':')) {
            bool known = false;
            size_t i;
            json_t *r;
            json_array_foreach(recorded, i, r) known |= strcmp(json_string_value(r), name) == 0;
            if (!known)
                fail_msg("%s: '%s' is not a recorded rule (%s)", where, name, expr);
        } else if (strncmp(name, "gpuaas_", 7) == 0 || strncmp(name, "DCGM_", 5) == 0) {
            static const char *const suffixes[] = {"", "_bucket", "_sum", "_count"};
            bool known = false;
            for (size_t s = 0; s < 4 && !known; s++) {
                size_t nl = strlen(name), sl = strlen(suffixes[s]);
                if (nl <= sl || strcmp(name + nl - sl, suffixes[s]) != 0)
                    continue;
                char type_line[160];
                snprintf(type_line, sizeof type_line, "# TYPE %.*s %s", (int)(nl - sl), name,
                         s ? "histogram" : "");
                known = strstr(scrape, type_line) != NULL;
            }
            if (!known)
                fail_msg("%s: metric '%s' is not in /metrics (%s)", where, name, expr);
        }
    }
}

static void test_examples(void **state)
{
    (void)state;
    /* the examples' rules and dashboard name only metrics that exist */
    assert_non_null(last_scrape);
    json_t *recorded = json_array();
    const char *rule_files[] = {EXAMPLES "/gpuaas-recording.rules.yml", EXAMPLES "/gpuaas-alerts.rules.yml"};
    json_t *docs[2];
    for (int f = 0; f < 2; f++) {
        docs[f] = load_yaml(rule_files[f]);
        size_t i, j;
        json_t *group, *rule;
        json_array_foreach(json_object_get(docs[f], "groups"), i, group)
            json_array_foreach(json_object_get(group, "rules"), j, rule) if (json_object_get(rule, "record"))
                json_array_append(recorded, json_object_get(rule, "record"));
    }
    assert_true(json_array_size(recorded) >= 5);
    int exprs = 0;
    for (int f = 0; f < 2; f++) {
        size_t i, j;
        json_t *group, *rule;
        json_array_foreach(json_object_get(docs[f], "groups"), i, group)
            json_array_foreach(json_object_get(group, "rules"), j, rule) {
            check_names(json_string_value(json_object_get(rule, "expr")), last_scrape, recorded, rule_files[f]);
            exprs++;
        }
        json_decref(docs[f]);
    }
    json_error_t jerr;
    json_t *dash = json_load_file(EXAMPLES "/grafana-dashboard.json", JSON_REJECT_DUPLICATES, &jerr);
    if (!dash)
        fail_msg("grafana-dashboard.json:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    size_t i, j;
    json_t *panel, *target;
    int panels = 0;
    json_array_foreach(json_object_get(dash, "panels"), i, panel) {
        assert_non_null(json_string_value(json_object_get(panel, "title")));
        panels++;
        json_array_foreach(json_object_get(panel, "targets"), j, target) {
            check_names(json_string_value(json_object_get(target, "expr")), last_scrape, recorded,
                        "grafana-dashboard.json");
            exprs++;
        }
    }
    th_note("%d panels; %d expressions name only existing metrics and rules", panels, exprs);
    assert_true(panels >= 12);
    json_decref(dash);
    json_decref(recorded);

    if (!promtool[0])
        skip();
    /* check config needs the token file it names: a copy with one */
    char dir[512], cmd[2048];
    assert_int_equal(th_make_tempdir("promtool", dir, sizeof dir), 0);
    snprintf(cmd, sizeof cmd, "cp " EXAMPLES "/*.yml \"%s\"/ && echo not-a-token > \"%s\"/gpuaas.token", dir, dir);
    char *argv[] = {"sh", "-c", cmd, NULL};
    assert_int_equal(th_run_capture(argv, NULL, NULL, 10000), 0);
    promtool_ok(dir, "check config prometheus.yml");
    promtool_ok(dir, "check rules gpuaas-recording.rules.yml gpuaas-alerts.rules.yml");
    promtool_ok(dir, "test rules gpuaas-rules.test.yml");
    th_rm_rf(dir);
    TH_PASS();
}

/* A label style the server does not know is refused at start, naming it. */
static void test_bad_label_style(void **state)
{
    (void)state;
    char dir[512], config[700];
    assert_int_equal(th_make_tempdir("badstyle", dir, sizeof dir), 0);
    snprintf(config, sizeof config, "%s/server.yaml", dir);
    char *text = sm_config("camelCase");
    assert_int_equal(th_write_file(config, text), 0);
    free(text);
    char *argv[] = {(char *)th_server_bin(), "server", "--config", config, "--data", dir, "--listen", "127.0.0.1:0",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run_capture(argv, &out, &err, 20000);
    th_note("exit %d: %s", rc, err ? err : "");
    assert_true(rc != 0 && rc != -1);
    assert_non_null(strstr(err, "metrics: expected {label_style: dcgm | snake_case}"));
    free(out);
    free(err);
    th_rm_rf(dir);
    TH_PASS();
}

static int group_setup(void **state)
{
    (void)state;
    if (!sm_find_program("promtool", promtool, sizeof promtool)) {
        promtool[0] = '\0';
        th_note("SKIP promtool checks: promtool is not installed (scripts/install-deps installs prometheus)");
    }
    if (sm_server_start(&srv, &http, "promtool", "snake_case") != 0)
        return -1;
    started = true;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(last_scrape);
    if (!started)
        return 0;
    static const char *const namespaces[] = {NS, NULL};
    return sm_server_stop(&srv, &http, namespaces);
}

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lint_clean, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_lint_dcgm_style, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_examples, th_setup_mark, th_teardown_report),
        cmocka_unit_test_setup_teardown(test_bad_label_style, th_setup_mark, th_teardown_report),
    };
    int rc = cmocka_run_group_tests_name("promtool", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
