/* Jobs that really run, end to end through the real server (and the CLI
 * where said): placement on the fake NVML's GPUs, the environment a pod
 * sees, logs, pod records, MIG, no double allocation under load, restarts,
 * cancel of a tree with a TERM-ignoring grandchild, kill -9 of the server
 * with pods running (adopt / Lost), and the memory limit.
 *
 * Every test starts its own server with a config written to its data dir:
 * a single node `local` whose GPUs are discovered (the fake NVML's default
 * description: 4 x A10G, GPU 3 split into 1g.6gb, 1g.6gb, 2g.12gb),
 * restart_backoff 200ms, stop_grace 2s. Every job carries GX_MARKER=<marker>
 * in its environment, so leftover processes can be found in /proc (and are
 * killed, by pid, in the teardown). Each test ends with SIGTERM and exit
 * status 0 (ASan finds nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NS "team-ex/exec/dev"
#define NS_Q "team-ex%2Fexec%2Fdev"
#define STOP_GRACE_MS 2000

static const char CONFIG_YAML[] =
    "restart_backoff: 200ms\n"
    "stop_grace: 2s\n"
    "# a path that does not exist: never the host's real NVML, always the fake\n"
    "nvml_library: /nonexistent/gpuaas-test/libnvidia-ml.so.1\n"
    "nodes:\n"
    "  - name: local\n"
    "    cpu: 16\n"
    "    memory: 64Gi\n"
    "    labels:\n"
    "      gpuaas.io/capacity-type: on-demand\n"
    "      gpuaas.io/zone: local-a\n"
    "    gpus: discover\n";

static struct th_server srv;
static struct th_http http;
static bool http_ready;
static char marker[64];     /* per test: in every job's env (GX_MARKER) */
static int test_seq;

static char env_marker[96];

static void set_marker(const char *tag)
{
    snprintf(marker, sizeof marker, "gxs-%d-%d-%s", (int)getpid(), ++test_seq, tag);
    snprintf(env_marker, sizeof env_marker, "GX_MARKER=%s", marker);
}

/* Processes of this test's jobs, or shims of this server: what must not be
 * left behind. */
static int stray_procs(pid_t *pids, int max)
{
    if (marker[0] == '\0')
        return 0; /* no test started: nothing of ours (and "" would match every process) */
    struct th_proc_match by_env = {.env_entry = env_marker};
    int n = th_find_procs(&by_env, srv.pid, pids, max);
    if (srv.data_dir[0] != '\0') {
        char pods_dir[600];
        snprintf(pods_dir, sizeof pods_dir, "%s/pods/", srv.data_dir);
        struct th_proc_match shims = {.cmd_word = "__exec-shim", .cmd_sub = pods_dir};
        n += th_find_procs(&shims, srv.pid, pids != NULL ? pids + (n < max ? n : max) : NULL,
                       n < max ? max - n : 0);
    }
    struct th_proc_match by_cmd = {.cmd_sub = marker};
    n += th_find_procs(&by_cmd, srv.pid, pids != NULL ? pids + (n < max ? n : max) : NULL,
                       n < max ? max - n : 0);
    return n;
}

static void kill_strays(void)
{
    th_kill_procs(stray_procs, "teardown: killing a leftover process");
}

/* ---- API helpers ------------------------------------------------------------------ */

static void expect_status(const struct th_resp *r, long want, const char *what)
{
    if (r->status != want)
        th_note("%s: expected HTTP %ld, got %ld (%s): %.1500s", what, want, r->status, r->curl_err,
                r->body != NULL ? r->body : "");
    assert_int_equal(r->status, want);
}

static json_t *get_json(const char *path)
{
    struct th_resp r;
    th_call(&http, "GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    assert_non_null(r.json);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    return j;
}

static char *dump(const json_t *j)
{
    if (j == NULL)
        return strdup("(absent)");
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

static void note_json(const char *what, const json_t *j)
{
    char *text = dump(j);
    th_note("%s: %.3000s", what, text != NULL ? text : "?");
    free(text);
}

/* {"kind":"Job",...} with the test's marker in env; resources and command
 * are stolen. policy NULL: none given. limit < 0: none given. */
static json_t *job_doc(const char *name, json_t *resources, json_t *command, const char *policy, int limit)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{s:s}}", "kind", "Job", "name", name, "namespace", NS,
                          "resources", resources, "command", command, "env", "GX_MARKER", marker);
    assert_non_null(j);
    if (policy != NULL) {
        json_t *restart = json_pack("{s:s}", "policy", policy);
        if (limit >= 0)
            json_object_set_new(restart, "limit", json_integer(limit));
        json_object_set_new(j, "restart", restart);
    }
    return j;
}

/* POSTs the job (doc stolen); the reply stays in *r. */
static long post_job(json_t *doc, struct th_resp *r)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(body);
    long status = th_call(&http, "POST", "/v1/jobs", body, NULL, r);
    free(body);
    return status;
}

static void submit_ok(json_t *doc)
{
    char name[128];
    snprintf(name, sizeof name, "POST job %s", th_jstr(doc, "name") ? th_jstr(doc, "name") : "?");
    struct th_resp r;
    post_job(doc, &r);
    expect_status(&r, 201, name);
    th_resp_free(&r);
}

static void expect_invalid(json_t *doc, const char *field, const char *message_part, const char *what)
{
    struct th_resp r;
    post_job(doc, &r);
    expect_status(&r, 422, what);
    const char *code = th_err_code(&r), *got_field = th_err_field(&r), *msg = th_err_message(&r);
    th_note("%s: 422 %s field=%s: %s", what, code ? code : "(no code)", got_field ? got_field : "(none)",
            msg ? msg : "(no message)");
    assert_non_null(code);
    assert_string_equal(code, "invalid");
    assert_non_null(got_field);
    assert_string_equal(got_field, field);
    if (message_part != NULL) {
        assert_non_null(msg);
        if (strstr(msg, message_part) == NULL)
            th_note("%s: the message does not contain \"%s\"", what, message_part);
        assert_non_null(strstr(msg, message_part));
    }
    th_resp_free(&r);
}

static json_t *get_job(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/jobs/%s?namespace=%s", name, NS_Q);
    return get_json(path);
}

/* The job's state into out (""/ when it cannot be read). */
static void job_state(const char *name, char *out, size_t size)
{
    json_t *j = get_job(name);
    const char *s = th_jstr(j, "status.state");
    snprintf(out, size, "%s", s ? s : "");
    json_decref(j);
}

static bool final_job_state(const char *s)
{
    return strcmp(s, "Succeeded") == 0 || strcmp(s, "Failed") == 0 || strcmp(s, "Cancelled") == 0;
}

static bool final_pod_state(const char *s)
{
    return s != NULL && (strcmp(s, "Succeeded") == 0 || strcmp(s, "Failed") == 0 ||
                         strcmp(s, "Killed") == 0 || strcmp(s, "Lost") == 0);
}

/* Polls until the job is final; `trail` gets the distinct states seen in
 * order ("Pending>Running>Succeeded"). Returns the final state ("" on
 * timeout). */
static const char *wait_job_final(const char *name, long timeout_ms, char *trail, size_t trail_size)
{
    static char state[32];
    char last[32] = "";
    if (trail != NULL)
        trail[0] = '\0';
    long long deadline = th_now_ms() + timeout_ms;
    for (;;) {
        job_state(name, state, sizeof state);
        if (trail != NULL && strcmp(state, last) != 0) {
            size_t used = strlen(trail);
            snprintf(trail + used, trail_size - used, "%s%s", used ? ">" : "", state);
            snprintf(last, sizeof last, "%s", state);
        }
        if (final_job_state(state))
            return state;
        if (th_now_ms() > deadline) {
            th_note("job %s not final within %ld ms (state %s)", name, timeout_ms, state);
            json_t *j = get_job(name);
            note_json("job", j);
            json_decref(j);
            return "";
        }
        th_sleep_ms(50);
    }
}

static bool wait_job_state(const char *name, const char *want, long timeout_ms)
{
    char state[32];
    long long deadline = th_now_ms() + timeout_ms;
    for (;;) {
        job_state(name, state, sizeof state);
        if (strcmp(state, want) == 0)
            return true;
        if (final_job_state(state) || th_now_ms() > deadline) {
            th_note("job %s: waited for %s, is %s", name, want, state);
            return false;
        }
        th_sleep_ms(30);
    }
}

/* GET /v1/pods (of one job, or of NS when job is NULL): the items array. */
static json_t *get_pods(const char *job)
{
    char path[256];
    if (job != NULL)
        snprintf(path, sizeof path, "/v1/pods?namespace=%s&job=%s", NS_Q, job);
    else
        snprintf(path, sizeof path, "/v1/pods?namespace=%s", NS_Q);
    json_t *j = get_json(path);
    json_t *items = json_object_get(j, "items");
    assert_true(json_is_array(items));
    json_incref(items);
    json_decref(j);
    return items;
}

static json_t *get_gpu_items(void)
{
    json_t *j = get_json("/v1/gpus");
    json_t *items = json_object_get(j, "items");
    assert_true(json_is_array(items));
    json_incref(items);
    json_decref(j);
    return items;
}

/* GPUs (and MIG devices) allocated now: prints them; returns how many. */
static int count_allocated(json_t *items, bool print)
{
    int n = 0;
    size_t i, m;
    json_t *g, *mig;
    json_array_foreach(items, i, g)
    {
        bool busy = json_is_true(json_object_get(g, "allocated")) ||
                    !json_is_null(json_object_get(g, "allocated_to")) ||
                    json_integer_value(json_object_get(g, "milli_used")) != 0 ||
                    json_array_size(json_object_get(g, "shares")) != 0;
        json_array_foreach(json_object_get(g, "mig_devices"), m, mig)
            busy |= !json_is_null(json_object_get(mig, "allocated_to"));
        if (busy) {
            n++;
            if (print)
                note_json("still allocated", g);
        }
    }
    return n;
}

static void assert_all_gpus_free(const char *when)
{
    long long deadline = th_now_ms() + 3000;
    for (;;) {
        json_t *items = get_gpu_items();
        assert_true(json_array_size(items) >= 4);
        int busy = count_allocated(items, false);
        if (busy == 0) {
            json_decref(items);
            return;
        }
        if (th_now_ms() > deadline) {
            th_note("%s: %d GPU(s) still allocated:", when, busy);
            count_allocated(items, true);
            json_decref(items);
            fail_msg("GPUs still allocated %s", when);
        }
        json_decref(items);
        th_sleep_ms(50);
    }
}

/* The node's GPUs from GET /v1/nodes/local. */
static json_t *node_gpus(void)
{
    json_t *node = get_json("/v1/nodes/local");
    json_t *gpus = json_object_get(node, "gpus");
    assert_true(json_is_array(gpus));
    json_incref(gpus);
    json_decref(node);
    return gpus;
}

static char *get_logs(const char *job, int replica, int attempt)
{
    char path[300];
    if (attempt > 0)
        snprintf(path, sizeof path, "/v1/jobs/%s/logs?namespace=%s&replica=%d&attempt=%d", job, NS_Q, replica,
                 attempt);
    else
        snprintf(path, sizeof path, "/v1/jobs/%s/logs?namespace=%s&replica=%d", job, NS_Q, replica);
    struct th_resp r;
    th_call(&http, "GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    char *text = strdup(r.body);
    th_resp_free(&r);
    return text;
}

/* The value after "GPUS=" up to the end of its line, split at ','. */
static int parse_gpus_line(const char *log, char uuids[][96], int max)
{
    const char *p = strstr(log, "GPUS=");
    if (p == NULL)
        return -1;
    p += 5;
    int n = 0;
    while (*p != '\0' && *p != '\n' && n < max) {
        size_t len = strcspn(p, ",\n");
        if (len > 0) {
            snprintf(uuids[n], sizeof uuids[n], "%.*s", (int)len, p);
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

static bool uuid_in(const char *uuid, char set[][96], int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(uuid, set[i]) == 0)
            return true;
    return false;
}

static int ensure_namespace(void)
{
    struct th_resp r;
    th_call(&http, "POST", "/v1/namespaces", "{\"name\":\"" NS "\"}", NULL, &r);
    long status = r.status;
    if (status != 201)
        th_note("POST namespace: %ld %.300s", status, r.body);
    th_resp_free(&r);
    return status == 201 ? 0 : -1;
}

/* Runs a CLI command; prints it when it fails. */
static int run_cli(char *const argv[], char **out, char **err_out)
{
    char *err = NULL;
    int rc = th_run_capture(argv, out, &err, 20000);
    if (rc != 0) {
        th_note("command exited %d:", rc);
        for (int i = 0; argv[i] != NULL; i++)
            th_note("  argv[%d] = %s", i, argv[i]);
        th_note("  stdout: %.1000s", *out != NULL ? *out : "");
        th_note("  stderr: %.1000s", err != NULL ? err : "");
    }
    if (err_out != NULL)
        *err_out = err;
    else
        free(err);
    return rc;
}

/* ---- per-test start and end --------------------------------------------------------- */

static void begin(const char *tag)
{
    set_marker(tag);
    assert_int_equal(th_server_start_config(&srv, tag, CONFIG_YAML), 0);
    th_log_server = &srv;
    assert_int_equal(th_http_init(&http, &srv), 0);
    http_ready = true;
    assert_int_equal(ensure_namespace(), 0);
}

/* Every job final, no process of ours left, SIGTERM, exit status 0. */
static void finish(void)
{
    json_t *jobs = get_json("/v1/jobs?namespace=" NS_Q);
    size_t i;
    json_t *job;
    int active = 0;
    json_array_foreach(json_object_get(jobs, "items"), i, job)
    {
        const char *s = th_jstr(job, "status.state");
        if (s == NULL || !final_job_state(s)) {
            th_note("job %s is still %s at the end of the test", th_jstr(job, "name"), s ? s : "?");
            active++;
        }
    }
    json_decref(jobs);
    assert_int_equal(active, 0);
    /* pods of final jobs end at once (no more than stop_grace) */
    long long deadline = th_now_ms() + STOP_GRACE_MS + 3000;
    for (;;) {
        json_t *pods = get_pods(NULL);
        json_t *pod;
        int live = 0;
        json_array_foreach(pods, i, pod) live += !final_pod_state(th_jstr(pod, "state"));
        if (live == 0 || th_now_ms() > deadline) {
            if (live != 0)
                note_json("pods not final at the end of the test", pods);
            json_decref(pods);
            assert_int_equal(live, 0);
            break;
        }
        json_decref(pods);
        th_sleep_ms(50);
    }
    pid_t pids[64];
    int n = 0;
    deadline = th_now_ms() + 3000;
    while ((n = stray_procs(pids, 64)) > 0 && th_now_ms() < deadline)
        th_sleep_ms(50);
    if (n > 0)
        th_describe_procs("process left behind by a finished job", pids, n < 64 ? n : 64);
    assert_int_equal(n, 0);
    int rc = th_server_stop(&srv);
    if (rc != 0)
        th_note("server exit status %d after SIGTERM (non-zero: ASan or a crash; log above)", rc);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    marker[0] = env_marker[0] = '\0';
    http_ready = false;
    return th_setup_mark(state);
}

static int teardown(void **state)
{
    th_teardown_report(state);
    if (srv.pid > 0 && http_ready) {
        /* a failed test: cancel what still runs, so its pods end */
        struct th_resp r;
        th_call(&http, "GET", "/v1/jobs?namespace=" NS_Q, NULL, NULL, &r);
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(r.json, "items"), i, job)
        {
            const char *s = th_jstr(job, "status.state");
            if (s != NULL && !final_job_state(s)) {
                char path[256];
                snprintf(path, sizeof path, "/v1/jobs/%s/cancel?namespace=%s", th_jstr(job, "name"), NS_Q);
                struct th_resp c;
                th_call(&http, "POST", path, NULL, NULL, &c);
                th_resp_free(&c);
            }
        }
        th_resp_free(&r);
        long long deadline = th_now_ms() + STOP_GRACE_MS + 2000;
        while (th_now_ms() < deadline && stray_procs(NULL, 0) > 0)
            th_sleep_ms(100);
        int rc = th_server_stop(&srv);
        if (rc != 0)
            th_note("teardown: server exit status %d", rc);
    }
    kill_strays();
    if (http_ready)
        th_http_free(&http);
    http_ready = false;
    th_log_server = NULL;
    th_server_destroy(&srv);
    return 0;
}

/* ---- 1: a 2-GPU job through the CLI ------------------------------------------------------ */

static const char SCENARIO1_YAML[] =
    "kind: Job\n"
    "name: scenario-one\n"
    "namespace: " NS "\n"
    "resources: {gpus: 2}\n"
    "command: [\"sh\", \"-c\", 'echo \"GPUS=$CUDA_VISIBLE_DEVICES\"; sleep 2', \"%s\"]\n"
    "env: {GX_MARKER: \"%s\"}\n"
    "restart: {policy: Never}\n";

/* From `gpuaas get gpus -o json` (or /v1/gpus): the UUIDs held by job. */
static int held_by(json_t *root, const char *job, char out[][96], int max, bool *ret_has_alloc_fields)
{
    json_t *items = json_is_array(root) ? root : json_object_get(root, "items");
    int n = 0;
    size_t i;
    json_t *g;
    bool has = false;
    json_array_foreach(items, i, g)
    {
        json_t *to = json_object_get(g, "allocated_to");
        has |= to != NULL;
        const char *holder = th_jstr(to, "job");
        if (holder != NULL && strcmp(holder, job) == 0 && n < max) {
            snprintf(out[n], sizeof out[n], "%s", th_jstr(g, "uuid") ? th_jstr(g, "uuid") : "");
            n++;
        }
    }
    if (ret_has_alloc_fields != NULL)
        *ret_has_alloc_fields = has;
    return n;
}

static bool same_set(char a[][96], int na, char b[][96], int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (!uuid_in(a[i], b, nb))
            return false;
    return true;
}

static void check_while_running(const char *job, char held[][96], int *held_n)
{
    json_t *items = get_gpu_items();
    *held_n = held_by(items, job, held, 8, NULL);
    if (*held_n != 2)
        note_json("GET /v1/gpus while Running", items);
    assert_int_equal(*held_n, 2);
    assert_string_not_equal(held[0], held[1]);
    /* exactly those two are allocated, to this job's pod */
    size_t i;
    json_t *g;
    json_array_foreach(items, i, g)
    {
        bool mine = uuid_in(th_jstr(g, "uuid"), held, *held_n);
        if (json_is_true(json_object_get(g, "allocated")) != mine) {
            note_json("GPU", g);
            fail_msg("GPU %s: allocated=%d but held by the job=%d", th_jstr(g, "uuid"),
                     json_is_true(json_object_get(g, "allocated")), mine);
        }
        if (mine) {
            assert_string_equal(th_jstr(g, "allocated_to.namespace"), NS);
            assert_string_equal(th_jstr(g, "node"), "local");
            assert_false(json_is_true(json_object_get(g, "mig_mode")));
        }
    }
    json_decref(items);

    /* the CLI says the same */
    char *out = NULL;
    char *argv[] = {(char *)th_server_bin(), "get", "gpus", "-o", "json", "--server", srv.url,
                    "--token", srv.token, NULL};
    int rc = run_cli(argv, &out, NULL);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *cli = json_loads(out, 0, &jerr);
    if (cli == NULL)
        th_note("`gpuaas get gpus -o json` printed no JSON (%s): %.1000s", jerr.text, out);
    free(out);
    assert_non_null(cli);
    char cli_held[8][96];
    bool has_fields = false;
    int cli_n = held_by(cli, job, cli_held, 8, &has_fields);
    if (!has_fields || !same_set(held, *held_n, cli_held, cli_n)) {
        note_json("`gpuaas get gpus -o json`", cli);
        th_note("the CLI shows %d GPU(s) held by %s%s; GET /v1/gpus shows 2", cli_n, job,
                has_fields ? "" : " (its objects have no allocated_to: not the API's GPU objects)");
    }
    json_decref(cli);
    assert_true(has_fields);
    assert_true(same_set(held, *held_n, cli_held, cli_n));
}

static void test_scenario1_cli_two_gpus(void **state)
{
    (void)state;
    begin("s1");
    const char *job = "scenario-one";
    char file[700], yaml[2048];
    snprintf(file, sizeof file, "%s/scenario-one.yaml", srv.data_dir);
    snprintf(yaml, sizeof yaml, SCENARIO1_YAML, marker, marker);
    assert_int_equal(th_write_file(file, yaml), 0);
    char *out = NULL;
    char *argv[] = {(char *)th_server_bin(), "submit", "-f", file, "-o", "json", "--server", srv.url,
                    "--token", srv.token, NULL};
    assert_int_equal(run_cli(argv, &out, NULL), 0);
    /* -o json: the API's reply, the job as submitted: Pending */
    json_t *submitted = json_loads(out, 0, NULL);
    if (submitted == NULL)
        th_note("`gpuaas submit -o json` printed: %.500s", out);
    free(out);
    assert_non_null(submitted);
    assert_string_equal(th_jstr(submitted, "name"), job);
    assert_string_equal(th_jstr(submitted, "status.state"), "Pending");
    json_decref(submitted);

    /* Pending -> Running -> Succeeded, Running observed; checks while Running */
    char trail[256] = "Pending", state_now[32] = "", last[32] = "Pending";
    char held[8][96];
    int held_n = 0;
    bool checked_running = false;
    long long deadline = th_now_ms() + 20000;
    for (;;) {
        job_state(job, state_now, sizeof state_now);
        if (strcmp(state_now, last) != 0) {
            size_t used = strlen(trail);
            snprintf(trail + used, sizeof trail - used, "%s%s", used ? ">" : "", state_now);
            snprintf(last, sizeof last, "%s", state_now);
        }
        if (strcmp(state_now, "Running") == 0 && !checked_running) {
            check_while_running(job, held, &held_n);
            checked_running = true;
        }
        if (final_job_state(state_now) || th_now_ms() > deadline)
            break;
        th_sleep_ms(40);
    }
    th_note("states seen: %s", trail);
    assert_string_equal(state_now, "Succeeded");
    assert_true(checked_running);
    assert_string_equal(trail, "Pending>Running>Succeeded");
    /* the events agree: Running, then Succeeded */
    char path[256];
    snprintf(path, sizeof path, "/v1/jobs/%s/events?namespace=%s", job, NS_Q);
    json_t *events = get_json(path);
    int running_at = -1, succeeded_at = -1;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(events, "items"), i, ev)
    {
        const char *type = th_jstr(ev, "type");
        if (type != NULL && strcmp(type, "Running") == 0 && running_at < 0)
            running_at = (int)i;
        if (type != NULL && strcmp(type, "Succeeded") == 0)
            succeeded_at = (int)i;
    }
    if (running_at < 0 || succeeded_at < running_at)
        note_json("events", events);
    json_decref(events);
    assert_true(running_at >= 0 && succeeded_at > running_at);

    /* logs: two distinct UUIDs of the fake NVML, the ones allocated */
    char *log = get_logs(job, 0, 0);
    char seen[8][96];
    int seen_n = parse_gpus_line(log, seen, 8);
    th_note("log: %.300s", log);
    assert_int_equal(seen_n, 2);
    assert_string_not_equal(seen[0], seen[1]);
    assert_true(same_set(seen, seen_n, held, held_n));
    json_t *gpus = node_gpus();
    char node_uuids[16][96];
    int node_n = 0;
    json_t *g;
    json_array_foreach(gpus, i, g)
    {
        if (node_n < 16 && !json_is_true(json_object_get(g, "mig_mode")))
            snprintf(node_uuids[node_n++], 96, "%s", th_jstr(g, "uuid"));
        assert_string_equal(th_jstr(g, "model"), "A10G");
    }
    assert_int_equal(json_array_size(gpus), 4);
    json_decref(gpus);
    for (int k = 0; k < seen_n; k++) {
        assert_int_equal(strncmp(seen[k], "GPU-", 4), 0);
        assert_true(uuid_in(seen[k], node_uuids, node_n));
    }
    /* and `gpuaas doctor` (on the same fake description) knows them */
    {
        char *dout = NULL;
        char *dargv[] = {(char *)th_server_bin(), "doctor", "-o", "json", "--data", srv.data_dir,
                         "--nvml-library", "/nonexistent/gpuaas-test/libnvidia-ml.so.1", NULL};
        assert_int_equal(run_cli(dargv, &dout, NULL), 0);
        json_t *doc = json_loads(dout, 0, NULL);
        free(dout);
        assert_non_null(doc);
        assert_true(json_is_true(th_jpath(doc, "gpus.fake")));
        char doc_uuids[16][96];
        int doc_n = 0;
        json_array_foreach(th_jpath(doc, "gpus.devices"), i, g)
        {
            if (doc_n < 16)
                snprintf(doc_uuids[doc_n++], 96, "%s", th_jstr(g, "uuid") ? th_jstr(g, "uuid") : "");
        }
        json_decref(doc);
        assert_int_equal(doc_n, 4);
        for (int k = 0; k < seen_n; k++)
            assert_true(uuid_in(seen[k], doc_uuids, doc_n));
    }
    /* CLI logs, where the verb exists */
    {
        char *lout = NULL, *lerr = NULL;
        char *largv[] = {(char *)th_server_bin(), "logs", (char *)job, "-n", NS, "--server", srv.url,
                         "--token", srv.token, NULL};
        int rc = th_run_capture(largv, &lout, &lerr, 20000);
        if (rc == 2 && lerr != NULL && strstr(lerr, "logs") != NULL &&
            (strstr(lerr, "unknown") != NULL || strstr(lerr, "not a") != NULL)) {
            th_note("`gpuaas logs` is not there yet (%.200s); CLI log check skipped", lerr);
        } else {
            if (rc != 0)
                th_note("`gpuaas logs` exited %d: %.500s", rc, lerr ? lerr : "");
            assert_int_equal(rc, 0);
            assert_string_equal(lout, log);
        }
        free(lout);
        free(lerr);
    }
    free(log);

    assert_all_gpus_free("after the job ended");
    json_t *pods = get_pods(job);
    if (json_array_size(pods) != 1)
        note_json("pods", pods);
    assert_int_equal(json_array_size(pods), 1);
    json_t *pod = json_array_get(pods, 0);
    note_json("pod", pod);
    assert_string_equal(th_jstr(pod, "node"), "local");
    assert_string_equal(th_jstr(pod, "gpu_model"), "A10G");
    assert_string_equal(th_jstr(pod, "state"), "Succeeded");
    assert_true(json_is_integer(json_object_get(pod, "exit_code")));
    assert_int_equal(json_integer_value(json_object_get(pod, "exit_code")), 0);
    char pod_uuids[8][96];
    int pod_n = 0;
    json_array_foreach(json_object_get(pod, "gpus"), i, g)
    {
        if (pod_n < 8)
            snprintf(pod_uuids[pod_n++], 96, "%s", th_jstr(g, "uuid"));
    }
    assert_true(same_set(pod_uuids, pod_n, held, held_n));
    long long started = json_integer_value(json_object_get(pod, "started_ms"));
    long long ended = json_integer_value(json_object_get(pod, "ended_ms"));
    th_note("pod ran %lld ms", ended - started);
    assert_true(started > 0);
    assert_in_range(ended - started, 1000, 3000);
    json_decref(pods);
    finish();
    TH_PASS();
}

/* ---- 2: MIG ------------------------------------------------------------------------------- */

static json_t *sh_command(const char *script)
{
    return json_pack("[s,s,s,s]", "sh", "-c", script, marker);
}

static void test_mig(void **state)
{
    (void)state;
    begin("mig");
    json_t *gpus = node_gpus();
    assert_int_equal(json_array_size(gpus), 4);
    json_t *g3 = json_array_get(gpus, 3);
    assert_true(json_is_true(json_object_get(g3, "mig_mode")));
    assert_int_equal(json_integer_value(json_object_get(g3, "index")), 3);
    char gpu3_uuid[96];
    snprintf(gpu3_uuid, sizeof gpu3_uuid, "%s", th_jstr(g3, "uuid"));

    /* a 1g.6gb slice, alongside two 3-GPU jobs */
    submit_ok(job_doc("mig-small", json_pack("{s:s}", "mig", "1g.6gb"),
                      sh_command("echo \"GPUS=$CUDA_VISIBLE_DEVICES\"; sleep 1"), "Never", -1));
    submit_ok(job_doc("three-a", json_pack("{s:i}", "gpus", 3),
                      sh_command("echo \"GPUS=$CUDA_VISIBLE_DEVICES\"; sleep 0.3"), "Never", -1));
    submit_ok(job_doc("three-b", json_pack("{s:i}", "gpus", 3),
                      sh_command("echo \"GPUS=$CUDA_VISIBLE_DEVICES\"; sleep 0.3"), "Never", -1));

    /* refused at submit */
    expect_invalid(job_doc("four", json_pack("{s:i}", "gpus", 4), sh_command("true"), "Never", -1),
                   "resources.gpus", "'local'", "gpus: 4 (3 whole GPUs, one in MIG mode)");
    expect_invalid(job_doc("bad-mig", json_pack("{s:s}", "mig", "7g.80gb"), sh_command("true"), "Never", -1),
                   "resources.mig", NULL, "unknown MIG profile");
    json_t *h100 = job_doc("h100", json_pack("{s:i}", "gpus", 1), sh_command("true"), "Never", -1);
    json_object_set_new(h100, "selector", json_pack("{s:s}", "gpuaas.io/gpu-model", "H100"));
    expect_invalid(h100, "selector.gpuaas.io/gpu-model", NULL, "unknown model H100");

    assert_string_equal(wait_job_final("mig-small", 20000, NULL, 0), "Succeeded");
    assert_string_equal(wait_job_final("three-a", 20000, NULL, 0), "Succeeded");
    assert_string_equal(wait_job_final("three-b", 20000, NULL, 0), "Succeeded");

    /* the slice: a MIG-... UUID of GPU 3, profile 1g.6gb */
    char *log = get_logs("mig-small", 0, 0);
    char seen[8][96];
    int n = parse_gpus_line(log, seen, 8);
    th_note("mig-small log: %.300s", log);
    free(log);
    assert_int_equal(n, 1);
    assert_int_equal(strncmp(seen[0], "MIG-", 4), 0);
    bool found = false;
    size_t i;
    json_t *mig;
    json_array_foreach(json_object_get(g3, "mig_devices"), i, mig)
    {
        if (strcmp(th_jstr(mig, "uuid"), seen[0]) == 0) {
            found = true;
            assert_string_equal(th_jstr(mig, "profile"), "1g.6gb");
        }
    }
    if (!found)
        note_json("GPU 3", g3);
    assert_true(found);
    json_t *pods = get_pods("mig-small");
    assert_int_equal(json_array_size(pods), 1);
    json_t *dev = json_array_get(json_object_get(json_array_get(pods, 0), "gpus"), 0);
    assert_non_null(dev);
    assert_string_equal(th_jstr(dev, "uuid"), seen[0]);
    assert_int_equal(json_integer_value(json_object_get(dev, "gpu_index")), 3);
    assert_string_equal(th_jstr(dev, "mig_profile"), "1g.6gb");
    json_decref(pods);

    /* the 3-GPU jobs never got GPU 3 (nor a slice of it) */
    const char *threes[] = {"three-a", "three-b"};
    for (int k = 0; k < 2; k++) {
        pods = get_pods(threes[k]);
        assert_int_equal(json_array_size(pods), 1);
        json_t *devs = json_object_get(json_array_get(pods, 0), "gpus");
        if (json_array_size(devs) != 3)
            note_json(threes[k], pods);
        assert_int_equal(json_array_size(devs), 3);
        json_array_foreach(devs, i, dev)
        {
            if (json_integer_value(json_object_get(dev, "gpu_index")) == 3 ||
                strcmp(th_jstr(dev, "uuid"), gpu3_uuid) == 0 || json_object_get(dev, "mig_index") != NULL) {
                note_json(threes[k], pods);
                fail_msg("%s got GPU 3 or a MIG slice", threes[k]);
            }
        }
        log = get_logs(threes[k], 0, 0);
        n = parse_gpus_line(log, seen, 8);
        free(log);
        assert_int_equal(n, 3);
        for (int d = 0; d < 3; d++)
            assert_string_not_equal(seen[d], gpu3_uuid);
        json_decref(pods);
    }
    json_decref(gpus);
    assert_all_gpus_free("after the MIG jobs");
    finish();
    TH_PASS();
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void test_bad_gpus_100(void **state)
{
    (void)state;
    begin("bad");
    expect_invalid(job_doc("hundred", json_pack("{s:i}", "gpus", 100), sh_command("true"), "Never", -1),
                   "resources.gpus", NULL, "gpus: 100");
    /* nothing was created */
    struct th_resp r;
    th_call(&http, "GET", "/v1/jobs/hundred?namespace=" NS_Q, NULL, NULL, &r);
    expect_status(&r, 404, "GET the refused job");
    th_resp_free(&r);
    finish();
    TH_PASS();
}

/* ---- 3: no double allocation -------------------------------------------------------------- */

#define BURST_JOBS 20

static void test_no_double_allocation(void **state)
{
    (void)state;
    begin("burst");
    unsigned seed = 20261125u;
    int want[BURST_JOBS];
    for (int k = 0; k < BURST_JOBS; k++) {
        seed = seed * 1103515245u + 12345u;
        want[k] = (int)((seed >> 16) % 3) + 1;
        char name[32];
        snprintf(name, sizeof name, "burst-%02d", k);
        submit_ok(job_doc(name, json_pack("{s:i}", "gpus", want[k]), sh_command("sleep 0.3"), "Never", -1));
    }
    long long deadline = th_now_ms() + 90000;
    int done = 0, succeeded = 0;
    json_t *jobs = NULL;
    for (;;) {
        jobs = get_json("/v1/jobs?namespace=" NS_Q);
        done = succeeded = 0;
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(jobs, "items"), i, job)
        {
            const char *s = th_jstr(job, "status.state");
            done += s != NULL && final_job_state(s);
            succeeded += s != NULL && strcmp(s, "Succeeded") == 0;
        }
        if (done == BURST_JOBS || th_now_ms() > deadline)
            break;
        json_decref(jobs);
        jobs = NULL;
        th_sleep_ms(200);
    }
    if (succeeded != BURST_JOBS)
        note_json("jobs", jobs);
    json_decref(jobs);
    assert_int_equal(succeeded, BURST_JOBS);

    json_t *pods = get_pods(NULL);
    assert_int_equal(json_array_size(pods), BURST_JOBS);
    size_t i, j, a, b;
    json_t *p, *q, *da, *db;
    json_array_foreach(pods, i, p)
    {
        int k = atoi(th_jstr(p, "job") + strlen("burst-"));
        assert_in_range(k, 0, BURST_JOBS - 1);
        assert_int_equal(json_array_size(json_object_get(p, "gpus")), want[k]);
        assert_string_equal(th_jstr(p, "state"), "Succeeded");
        assert_true(json_integer_value(json_object_get(p, "ended_ms")) >=
                    json_integer_value(json_object_get(p, "started_ms")));
    }
    int overlaps = 0, shared_pairs = 0;
    json_array_foreach(pods, i, p)
    {
        json_array_foreach(pods, j, q)
        {
            if (j <= i)
                continue;
            json_array_foreach(json_object_get(p, "gpus"), a, da)
            {
                json_array_foreach(json_object_get(q, "gpus"), b, db)
                {
                    if (strcmp(th_jstr(da, "uuid"), th_jstr(db, "uuid")) != 0)
                        continue;
                    shared_pairs++;
                    /* [started, ended) as asked, and the whole allocation
                     * [scheduled, ended) */
                    const char *from[] = {"started_ms", "scheduled_ms"};
                    for (int f = 0; f < 2; f++) {
                        long long s1 = json_integer_value(json_object_get(p, from[f]));
                        long long e1 = json_integer_value(json_object_get(p, "ended_ms"));
                        long long s2 = json_integer_value(json_object_get(q, from[f]));
                        long long e2 = json_integer_value(json_object_get(q, "ended_ms"));
                        if (s1 < e2 && s2 < e1) {
                            th_note("GPU %s: pod %s [%lld, %lld) and pod %s [%lld, %lld) overlap (%s)",
                                    th_jstr(da, "uuid"), th_jstr(p, "name"), s1, e1, th_jstr(q, "name"), s2,
                                    e2, from[f]);
                            overlaps++;
                        }
                    }
                }
            }
        }
    }
    th_note("%d pod pairs shared a GPU; %d overlaps", shared_pairs, overlaps);
    assert_true(shared_pairs > 0);
    assert_int_equal(overlaps, 0);
    json_decref(pods);
    assert_all_gpus_free("after the burst");
    finish();
    TH_PASS();
}

/* ---- 4: restarts and cancel ----------------------------------------------------------------- */

static void test_restarts_on_failure(void **state)
{
    (void)state;
    begin("restart");
    submit_ok(job_doc("exit-three", json_pack("{s:i}", "gpus", 1), sh_command("exit 3"), "OnFailure", 2));
    char trail[256];
    const char *final = wait_job_final("exit-three", 30000, trail, sizeof trail);
    th_note("states seen: %s", trail);
    json_t *job = get_job("exit-three");
    assert_string_equal(final, "Failed");
    assert_int_equal(json_integer_value(th_jpath(job, "status.restarts")), 2);
    th_note("reason: %s", th_jstr(job, "status.reason"));
    json_decref(job);
    json_t *pods = get_pods("exit-three");
    if (json_array_size(pods) != 3)
        note_json("pods", pods);
    assert_int_equal(json_array_size(pods), 3);
    int attempts_seen = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        int attempt = (int)json_integer_value(json_object_get(p, "attempt"));
        assert_in_range(attempt, 1, 3);
        attempts_seen |= 1 << attempt;
        assert_string_equal(th_jstr(p, "state"), "Failed");
        assert_int_equal(json_integer_value(json_object_get(p, "exit_code")), 3);
        assert_int_equal(json_integer_value(json_object_get(p, "replica")), 0);
    }
    assert_int_equal(attempts_seen, (1 << 1) | (1 << 2) | (1 << 3));
    json_decref(pods);
    assert_all_gpus_free("after the failed job");
    finish();
    TH_PASS();
}

struct stubborn {
    const char *job;
    char flag[700];     /* written by the grandchild once it ignores TERM */
    char argv_mark[96]; /* in the argv of the shells: <marker>/<job>/ */
    char job_env[96];   /* GPUAAS_JOB=<job> (with the test's GX_MARKER) */
    struct th_proc_match by_cmd, by_env;
    long long gone_after_ms;
};

static int stubborn_alive(struct stubborn *t, pid_t *pids, int max)
{
    int n = th_find_procs(&t->by_cmd, srv.pid, pids, max);
    return n + th_find_procs(&t->by_env, srv.pid, pids != NULL ? pids + (n < max ? n : max) : NULL,
                             n < max ? max - n : 0);
}

/* Cancel of a running job whose tree ignores SIGTERM:
 *  - "stubborn": only the grandchild (and its sleep) ignore TERM; the main
 *    process dies of it, and the pod ends with its main process;
 *  - "stubborn-all": every process ignores TERM, so only the SIGKILL at
 *    stop_grace ends it.
 * Either way nothing is left within stop_grace + 3 s, the job is
 * Cancelled, the pod Killed, the GPUs free. */
static void test_cancel_kills_tree(void **state)
{
    (void)state;
    begin("cancel");
    struct stubborn t[2] = {{.job = "stubborn"}, {.job = "stubborn-all"}};
    for (int k = 0; k < 2; k++) {
        snprintf(t[k].flag, sizeof t[k].flag, "%s/trapped-%s", srv.data_dir, t[k].job);
        snprintf(t[k].argv_mark, sizeof t[k].argv_mark, "%s/%s/", marker, t[k].job);
        snprintf(t[k].job_env, sizeof t[k].job_env, "GPUAAS_JOB=%s", t[k].job);
        t[k].by_cmd = (struct th_proc_match){.cmd_sub = t[k].argv_mark};
        t[k].by_env = (struct th_proc_match){.env_entry = t[k].job_env, .env_also = env_marker};
        char script[2048];
        snprintf(script, sizeof script, "%ssh -c \"trap '' TERM; touch %s; sleep 1000\" %s & sleep 1000",
                 k == 1 ? "trap '' TERM; " : "", t[k].flag, t[k].argv_mark);
        json_t *cmd = json_pack("[s,s,s,s]", "sh", "-c", script, t[k].argv_mark);
        submit_ok(job_doc(t[k].job, json_pack("{s:i}", "gpus", 1), cmd, "Never", -1));
    }
    for (int k = 0; k < 2; k++) {
        assert_true(wait_job_state(t[k].job, "Running", 15000));
        long long deadline = th_now_ms() + 10000;
        while ((access(t[k].flag, F_OK) != 0 || th_find_procs(&t[k].by_cmd, srv.pid, NULL, 0) < 2) &&
               th_now_ms() < deadline)
            th_sleep_ms(20);
        assert_int_equal(access(t[k].flag, F_OK), 0);
        int in_argv = th_find_procs(&t[k].by_cmd, srv.pid, NULL, 0);
        int in_env = th_find_procs(&t[k].by_env, srv.pid, NULL, 0);
        th_note("%s before cancel: %d process(es) with the marker in argv, %d in the environment", t[k].job,
                in_argv, in_env);
        assert_true(in_argv >= 2);
        assert_true(in_env >= 4);
    }

    long long t0 = th_now_ms();
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/jobs/%s/cancel?namespace=%s", t[k].job, NS_Q);
        struct th_resp r;
        th_call(&http, "POST", path, NULL, NULL, &r);
        expect_status(&r, 200, path);
        assert_string_equal(th_jstr(r.json, "status.state"), "Cancelled");
        th_resp_free(&r);
        t[k].gone_after_ms = -1;
    }
    for (;;) {
        bool all_gone = true;
        for (int k = 0; k < 2; k++) {
            if (t[k].gone_after_ms >= 0)
                continue;
            if (stubborn_alive(&t[k], NULL, 0) == 0)
                t[k].gone_after_ms = th_now_ms() - t0;
            else
                all_gone = false;
        }
        if (all_gone || th_now_ms() - t0 > STOP_GRACE_MS + 3000)
            break;
        th_sleep_ms(20);
    }
    for (int k = 0; k < 2; k++) {
        if (t[k].gone_after_ms < 0) {
            pid_t pids[64];
            int left = stubborn_alive(&t[k], pids, 64);
            th_describe_procs("still alive after cancel", pids, left < 64 ? left : 64);
        } else {
            th_note("%s: the tree was gone %lld ms after the cancel (stop_grace %d ms)", t[k].job,
                    t[k].gone_after_ms, STOP_GRACE_MS);
        }
    }
    for (int k = 0; k < 2; k++) {
        assert_true(t[k].gone_after_ms >= 0);
        assert_true(t[k].gone_after_ms <= STOP_GRACE_MS + 3000);
    }
    /* every process ignores TERM: killed at the grace, not before */
    if (t[1].gone_after_ms < STOP_GRACE_MS - 300)
        th_note("stubborn-all was killed %lld ms after the cancel, before stop_grace (%d ms)",
                t[1].gone_after_ms, STOP_GRACE_MS);
    assert_true(t[1].gone_after_ms >= STOP_GRACE_MS - 300);

    /* the pods: Killed once their exits are in */
    for (int k = 0; k < 2; k++) {
        long long deadline = th_now_ms() + 5000;
        json_t *pods = NULL;
        for (;;) {
            pods = get_pods(t[k].job);
            assert_int_equal(json_array_size(pods), 1);
            if (final_pod_state(th_jstr(json_array_get(pods, 0), "state")) || th_now_ms() > deadline)
                break;
            json_decref(pods);
            th_sleep_ms(50);
        }
        json_t *pod = json_array_get(pods, 0);
        if (strcmp(th_jstr(pod, "state"), "Killed") != 0)
            note_json("pod", pod);
        assert_string_equal(th_jstr(pod, "state"), "Killed");
        assert_true(json_is_true(json_object_get(pod, "stop_requested")));
        assert_true(json_integer_value(json_object_get(pod, "ended_ms")) > 0);
        json_decref(pods);
        char state_now[32];
        job_state(t[k].job, state_now, sizeof state_now);
        assert_string_equal(state_now, "Cancelled");
    }
    assert_all_gpus_free("after the cancel");
    finish();
    TH_PASS();
}

/* ---- 5: kill -9 of the server with pods running ---------------------------------------------- */

static void test_server_kill9_adopt(void **state)
{
    (void)state;
    begin("kill9");
    const char *jobs[] = {"sleeper-a", "sleeper-b", "sleeper-c"};
    for (int k = 0; k < 2; k++)
        submit_ok(job_doc(jobs[k], json_pack("{s:i}", "gpus", 1), sh_command("sleep 3"), "Never", -1));
    /* this one's processes are killed while the server is down */
    submit_ok(job_doc(jobs[2], json_pack("{s:i}", "gpus", 1), sh_command("sleep 3"), "OnFailure", 2));
    for (int k = 0; k < 3; k++)
        assert_true(wait_job_state(jobs[k], "Running", 15000));
    json_t *before = get_pods(NULL);
    assert_int_equal(json_array_size(before), 3);
    long long c_pod = -1;
    size_t i;
    json_t *p;
    json_array_foreach(before, i, p)
    {
        assert_string_equal(th_jstr(p, "state"), "Running");
        if (strcmp(th_jstr(p, "job"), jobs[2]) == 0)
            c_pod = json_integer_value(json_object_get(p, "id"));
    }
    json_decref(before);
    assert_true(c_pod > 0);

    /* job C's workload has started (the shim has forked and exec'd it) */
    char pod_env[64];
    snprintf(pod_env, sizeof pod_env, "GPUAAS_POD=%lld", c_pod);
    struct th_proc_match workload = {.env_entry = pod_env, .env_also = env_marker};
    long long deadline = th_now_ms() + 5000;
    while (th_find_procs(&workload, srv.pid, NULL, 0) == 0 && th_now_ms() < deadline)
        th_sleep_ms(20);
    assert_true(th_find_procs(&workload, srv.pid, NULL, 0) > 0);

    th_server_kill9(&srv);
    th_note("server killed with SIGKILL");
    /* job C: its shim and everything of its pod */
    char pod_dir[700];
    snprintf(pod_dir, sizeof pod_dir, "%s/pods/%lld", srv.data_dir, c_pod);
    struct th_proc_match shim = {.cmd_word = pod_dir, .cmd_sub = "__exec-shim"};
    pid_t pids[64];
    int n = th_find_procs(&shim, srv.pid, pids, 64);
    th_describe_procs("the shim of job C's pod", pids, n);
    assert_int_equal(n, 1);
    /* and its workload, found by the pod number in its environment */
    int w = th_find_procs(&workload, srv.pid, pids + 1, 63);
    th_describe_procs("job C's workload", pids + 1, w);
    th_note("killing the shim and %d workload process(es) of job C's pod", w);
    deadline = th_now_ms() + 3000;
    for (;;) {
        n = th_find_procs(&shim, srv.pid, pids, 1);
        n += th_find_procs(&workload, srv.pid, pids + n, 63);
        if (n == 0 || th_now_ms() > deadline)
            break;
        for (int k = 0; k < n && k < 64; k++)
            kill(pids[k], SIGKILL);
        th_sleep_ms(30);
    }
    assert_int_equal(th_find_procs(&shim, srv.pid, NULL, 0) + th_find_procs(&workload, srv.pid, NULL, 0), 0);
    /* the others still run */
    struct th_proc_match by_env = {.env_entry = env_marker};
    th_note("%d process(es) of the other jobs still run", th_find_procs(&by_env, srv.pid, NULL, 0));

    assert_int_equal(th_server_restart_config(&srv, NULL), 0);
    th_http_retarget(&http, &srv);
    th_note("server restarted on the same data dir");

    /* right after the restart: A and B adopted (Running) or already ended;
     * C's pod Lost */
    json_t *after = get_pods(NULL);
    note_json("pods after the restart", after);
    json_array_foreach(after, i, p)
    {
        const char *s = th_jstr(p, "state");
        long long id = json_integer_value(json_object_get(p, "id"));
        if (id == c_pod)
            assert_string_equal(s, "Lost");
        else if (json_integer_value(json_object_get(p, "attempt")) == 1)
            assert_true(strcmp(s, "Running") == 0 || strcmp(s, "Succeeded") == 0 || strcmp(s, "Lost") == 0);
    }
    /* what holds a GPU now is an active pod, and each active pod holds its GPU */
    json_t *gitems = get_gpu_items();
    json_array_foreach(after, i, p)
    {
        if (final_pod_state(th_jstr(p, "state")))
            continue;
        const char *uuid = th_jstr(json_array_get(json_object_get(p, "gpus"), 0), "uuid");
        size_t gi;
        json_t *g;
        bool held = false;
        json_array_foreach(gitems, gi, g)
        {
            if (uuid != NULL && strcmp(th_jstr(g, "uuid"), uuid) == 0)
                held = json_equal(th_jpath(g, "allocated_to.pod"), json_object_get(p, "id"));
        }
        if (!held)
            note_json("GET /v1/gpus after the restart", gitems);
        assert_true(held);
    }
    json_decref(gitems);
    json_decref(after);

    const char *final[3];
    char finals[3][32];
    for (int k = 0; k < 3; k++) {
        final[k] = wait_job_final(jobs[k], 20000, NULL, 0);
        snprintf(finals[k], sizeof finals[k], "%s", final[k]);
        th_note("%s: %s", jobs[k], finals[k]);
    }
    json_t *all = get_pods(NULL);
    note_json("pods at the end", all);
    /* ids unique, (job, replica, attempt) unique */
    json_t *q;
    size_t j;
    json_array_foreach(all, i, p)
    {
        json_array_foreach(all, j, q)
        {
            if (j <= i)
                continue;
            assert_false(json_equal(json_object_get(p, "id"), json_object_get(q, "id")));
            bool same = strcmp(th_jstr(p, "job"), th_jstr(q, "job")) == 0 &&
                        json_equal(json_object_get(p, "replica"), json_object_get(q, "replica")) &&
                        json_equal(json_object_get(p, "attempt"), json_object_get(q, "attempt"));
            assert_false(same);
        }
    }
    /* A and B: one pod each, adopted and Succeeded, or Lost (policy Never:
     * then the job Failed) */
    for (int k = 0; k < 2; k++) {
        json_t *pods = get_pods(jobs[k]);
        assert_int_equal(json_array_size(pods), 1);
        json_t *jj = get_job(jobs[k]);
        assert_int_equal(json_integer_value(th_jpath(jj, "status.restarts")), 0);
        json_decref(jj);
        const char *s = th_jstr(json_array_get(pods, 0), "state");
        if (strcmp(s, "Succeeded") == 0)
            assert_string_equal(finals[k], "Succeeded");
        else {
            assert_string_equal(s, "Lost");
            assert_string_equal(finals[k], "Failed");
            th_note("%s: its pod was not adopted but reported Lost", jobs[k]);
        }
        json_decref(pods);
    }
    /* C: attempt 1 Lost, attempt 2 ran to the end */
    json_t *cpods = get_pods(jobs[2]);
    assert_int_equal(json_array_size(cpods), 2);
    json_array_foreach(cpods, i, p)
    {
        int attempt = (int)json_integer_value(json_object_get(p, "attempt"));
        if (attempt == 1)
            assert_string_equal(th_jstr(p, "state"), "Lost");
        else {
            assert_int_equal(attempt, 2);
            assert_string_equal(th_jstr(p, "state"), "Succeeded");
        }
    }
    json_decref(cpods);
    assert_string_equal(finals[2], "Succeeded");
    json_t *cjob = get_job(jobs[2]);
    assert_int_equal(json_integer_value(th_jpath(cjob, "status.restarts")), 1);
    json_decref(cjob);
    json_decref(all);
    assert_all_gpus_free("after the jobs ended (after a kill -9 and a restart)");
    finish();
    TH_PASS();
}

/* ---- 6: memory limit ------------------------------------------------------------------------- */

static void test_memory_limit_oom(void **state)
{
    (void)state;
    char *out = NULL;
    char *argv[] = {(char *)th_server_bin(), "doctor", "-o", "json", "--nvml-library",
                    "/nonexistent/gpuaas-test/libnvidia-ml.so.1", NULL};
    assert_int_equal(run_cli(argv, &out, NULL), 0);
    json_t *doc = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(doc);
    json_t *limit = th_jpath(doc, "executor.memory_limit");
    if (!json_is_boolean(limit))
        note_json("doctor", doc);
    assert_true(json_is_boolean(limit));
    bool enforced = json_is_true(limit);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", th_jstr(doc, "executor.detail") ? th_jstr(doc, "executor.detail") : "");
    json_decref(doc);
    if (!enforced) {
        th_note("doctor: executor.memory_limit is false (%s): memory limit test skipped", detail);
        TH_PASS();
        skip();
        return;
    }
    begin("oom");
    json_t *res = json_pack("{s:s}", "memory", "64Mi");
    submit_ok(job_doc("hog", res, sh_command("dd if=/dev/zero of=/dev/null bs=256M count=1"), "Never", -1));
    const char *final = wait_job_final("hog", 30000, NULL, 0);
    json_t *job = get_job("hog");
    th_note("hog: %s, reason: %s", final, th_jstr(job, "status.reason"));
    json_decref(job);
    json_t *pods = get_pods("hog");
    assert_int_equal(json_array_size(pods), 1);
    json_t *pod = json_array_get(pods, 0);
    note_json("pod", pod);
    char *log = get_logs("hog", 0, 0);
    th_note("log: %.500s", log);
    free(log);
    assert_string_equal(final, "Failed");
    assert_string_equal(th_jstr(pod, "state"), "Failed");
    assert_true(json_is_true(json_object_get(pod, "oom_killed")));
    assert_string_equal(th_jstr(pod, "memory"), "64Mi");
    json_decref(pods);

    /* the pipeline form: dd is OOM-killed, but the main process (sh) exits
     * with cat's status 0. A process lost to the memory limit still fails
     * the pod: the job must not look like a success. */
    res = json_pack("{s:s}", "memory", "64Mi");
    submit_ok(job_doc("hog-pipe", res, sh_command("dd if=/dev/zero bs=256M count=1 | cat >/dev/null"), "Never",
                      -1));
    final = wait_job_final("hog-pipe", 30000, NULL, 0);
    pods = get_pods("hog-pipe");
    assert_int_equal(json_array_size(pods), 1);
    pod = json_array_get(pods, 0);
    th_note("hog-pipe: job %s, pod %s, exit_code %lld, oom_killed %s", final, th_jstr(pod, "state"),
            (long long)json_integer_value(json_object_get(pod, "exit_code")),
            json_is_true(json_object_get(pod, "oom_killed")) ? "true" : "false");
    assert_true(json_is_true(json_object_get(pod, "oom_killed")));
    assert_string_equal(th_jstr(pod, "state"), "Failed");
    assert_string_equal(final, "Failed");
    json_decref(pods);
    finish();
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_scenario1_cli_two_gpus), T(test_mig),
        T(test_bad_gpus_100),           T(test_no_double_allocation),
        T(test_restarts_on_failure),    T(test_cancel_kills_tree),
        T(test_server_kill9_adopt),     T(test_memory_limit_oom),
    };
    /* EXEC_SCENARIOS_ONLY=test_mig (a cmocka pattern) runs a subset */
    const char *only = getenv("EXEC_SCENARIOS_ONLY");
    if (only != NULL && *only != '\0')
        cmocka_set_test_filter(only);
    int rc = cmocka_run_group_tests_name("exec_scenarios", tests, NULL, NULL);
    th_global_cleanup();
    return rc;
}
