/* Quotas end to end through the real server (ASan build) and the CLI:
 *
 *  - the walk-through: `gpuaas set quota team-ai/project-llm/dev --gpus 2`,
 *    a 3-GPU job refused at submit, two 2-GPU jobs of which one waits with
 *    the quota named and runs once the other has ended; a parent quota of 3
 *    over two children of 2 that caps their sum, and a child quota larger
 *    than its parent's refused;
 *  - concurrency: 8 client threads submit 60 jobs into 3 namespaces under one
 *    parent while the scheduler runs them, with a SIGTERM and a restart in the
 *    middle; from the pod records, at no moment do the GPUs held by a child
 *    exceed 2 or those of the parent's subtree 3;
 *  - quotas survive a restart; cpu, memory, pods, MIG and per-model limits
 *    make the next job wait with the resource named; bad bodies are 422 naming
 *    the field; a missing namespace is 404; the CLI's get / describe /
 *    delete.
 *
 * Every test starts its own server with a config written to its data dir:
 * node `local` with the fake NVML's GPUs (4 x A10G, GPU 3 in MIG mode:
 * 1g.6gb, 1g.6gb, 2g.12gb) and node `sim-a10g` with 4 declared A10G, so
 * that 7 whole GPUs are there and the quotas, not the capacity, are what
 * limits; restart_backoff 200ms, stop_grace 2s. Every job carries
 * GX_MARKER=<marker> in its environment so that leftover processes can be
 * found (and killed, by pid, in the teardown). Each test ends with every job
 * final, no process left, and the server's exit status 0 after SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

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
    "    gpus: discover\n"
    "  - name: sim-a10g\n"
    "    cpu: 16\n"
    "    memory: 64Gi\n"
    "    labels:\n"
    "      gpuaas.io/capacity-type: on-demand\n"
    "    gpus:\n"
    "      - {model: A10G, memory: 24Gi, count: 4}\n";

static struct th_server srv;
static struct th_http http;
static bool http_ready;
static char marker[64];
static char env_marker[96];
static int test_seq;

/* SIGTERM (exit status 0 expected), then a start on the same data dir. */
static void restart_server(void)
{
    int rc = th_server_stop(&srv);
    if (rc != 0)
        th_note("server exit status %d after SIGTERM (expected 0; log above)", rc);
    assert_int_equal(rc, 0);
    assert_int_equal(th_server_restart_config(&srv, NULL), 0);
    th_http_retarget(&http, &srv);
}

/* ---- leftover processes ------------------------------------------------------------ */

/* Processes of this test: a job (its environment holds env_marker) or a
 * shim of this server (its command line names the data dir's pods/). */
static int stray_procs(pid_t *pids, int max)
{
    struct th_proc_match ours = {.env_entry = env_marker};
    char pods_dir[600];
    if (env_marker[0] != '\0' && srv.data_dir[0] != '\0') {
        snprintf(pods_dir, sizeof pods_dir, "%s/pods/", srv.data_dir);
        ours.cmd_word = "__exec-shim";
        ours.cmd_sub = pods_dir;
    }
    return th_find_procs(&ours, srv.pid, pids, max);
}

static void kill_strays(void)
{
    th_kill_procs(stray_procs, "teardown: killing leftover process");
}

/* ---- API helpers --------------------------------------------------------------------- */

static void expect_status(const struct th_resp *r, long want, const char *what)
{
    if (r->status != want)
        th_note("%s: expected HTTP %ld, got %ld (%s): %.1500s", what, want, r->status, r->curl_err,
                r->body != NULL ? r->body : "");
    assert_int_equal(r->status, want);
}

static json_t *get_json_h(struct th_http *h, const char *path)
{
    struct th_resp r;
    th_call(h, "GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    assert_non_null(r.json);
    json_t *j = json_incref(r.json);
    th_resp_free(&r);
    return j;
}

static json_t *get_json(const char *path) { return get_json_h(&http, path); }

static char *dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : strdup("(absent)");
}

static void note_json(const char *what, const json_t *j)
{
    char *text = dump(j);
    th_note("%s: %.3000s", what, text != NULL ? text : "?");
    free(text);
}

/* "a/b/c" -> "a%2Fb%2Fc" */
static void escape_ns(const char *ns, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = ns; *p && o + 4 < size; p++) {
        if (*p == '/') {
            memcpy(out + o, "%2F", 3);
            o += 3;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void create_namespace(const char *ns)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", ns);
    struct th_resp r;
    th_call(&http, "POST", "/v1/namespaces", body, NULL, &r);
    expect_status(&r, 201, "POST /v1/namespaces");
    th_resp_free(&r);
}

/* PUT /v1/quotas/NS with a body; the status (the reply stays in *r). */
static long put_quota(const char *ns, const char *body, struct th_resp *r)
{
    char path[300];
    snprintf(path, sizeof path, "/v1/quotas/%s", ns);
    return th_call(&http, "PUT", path, body, NULL, r);
}

static void put_quota_ok(const char *ns, const char *body)
{
    struct th_resp r;
    put_quota(ns, body, &r);
    expect_status(&r, 200, "PUT quota");
    th_resp_free(&r);
}

/* {"kind":"Job",...} with the test's marker in env, restart Never. */
static json_t *job_doc(const char *ns, const char *name, const char *resources, const char *sleep_s)
{
    json_t *res = json_loads(resources, 0, NULL);
    assert_non_null(res);
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:[s,s],s:{s:s},s:{s:s}}", "kind", "Job", "name", name, "namespace", ns,
                          "resources", res, "command", "sleep", sleep_s, "env", "GX_MARKER", marker, "restart",
                          "policy", "Never");
    assert_non_null(j);
    return j;
}

static long post_job_h(struct th_http *h, json_t *doc, struct th_resp *r)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(body);
    long status = th_call(h, "POST", "/v1/jobs", body, NULL, r);
    free(body);
    return status;
}

static void submit_ok(const char *ns, const char *name, const char *resources, const char *sleep_s)
{
    struct th_resp r;
    post_job_h(&http, job_doc(ns, name, resources, sleep_s), &r);
    expect_status(&r, 201, name);
    th_resp_free(&r);
}

static json_t *get_job(const char *ns, const char *name)
{
    char path[400], q[256];
    escape_ns(ns, q, sizeof q);
    snprintf(path, sizeof path, "/v1/jobs/%s?namespace=%s", name, q);
    return get_json(path);
}

static bool final_job_state(const char *s)
{
    return s != NULL && (strcmp(s, "Succeeded") == 0 || strcmp(s, "Failed") == 0 || strcmp(s, "Cancelled") == 0);
}

static bool final_pod_state(const char *s)
{
    return s != NULL && (strcmp(s, "Succeeded") == 0 || strcmp(s, "Failed") == 0 || strcmp(s, "Killed") == 0 ||
                         strcmp(s, "Lost") == 0);
}

/* State and reason of a job. */
static void job_status(const char *ns, const char *name, char *state, size_t state_size, char *reason,
                       size_t reason_size)
{
    json_t *j = get_job(ns, name);
    const char *s = th_jstr(j, "status.state"), *why = th_jstr(j, "status.reason");
    snprintf(state, state_size, "%s", s ? s : "");
    if (reason)
        snprintf(reason, reason_size, "%s", why ? why : "");
    json_decref(j);
}

static bool wait_job_state(const char *ns, const char *name, const char *want, long timeout_ms)
{
    char state[32], reason[300];
    long long deadline = th_now_ms() + timeout_ms;
    for (;;) {
        job_status(ns, name, state, sizeof state, reason, sizeof reason);
        if (strcmp(state, want) == 0)
            return true;
        if ((final_job_state(state) && !final_job_state(want)) || th_now_ms() > deadline) {
            th_note("job %s/%s: waited for %s, is %s (%s)", ns, name, want, state, reason);
            return false;
        }
        th_sleep_ms(30);
    }
}

/* Pending, with exactly this reason, right now. */
static void expect_waiting(const char *ns, const char *name, const char *reason)
{
    char state[32], got[300];
    job_status(ns, name, state, sizeof state, got, sizeof got);
    if (strcmp(state, "Pending") != 0 || strcmp(got, reason) != 0)
        th_note("job %s/%s: %s '%s'; expected Pending '%s'", ns, name, state, got, reason);
    assert_string_equal(state, "Pending");
    assert_string_equal(got, reason);
}

/* The pods of a subtree (items), e.g. of "team-ai". */
static json_t *get_pods(const char *ns)
{
    char path[300], q[256];
    escape_ns(ns, q, sizeof q);
    snprintf(path, sizeof path, "/v1/pods?namespace=%s", q);
    json_t *j = get_json(path);
    json_t *items = json_incref(json_object_get(j, "items"));
    json_decref(j);
    assert_true(json_is_array(items));
    return items;
}

static json_t *pod_of(json_t *pods, const char *ns, const char *job)
{
    size_t i;
    json_t *p, *found = NULL;
    json_array_foreach(pods, i, p)
    {
        if (strcmp(th_jstr(p, "namespace"), ns) == 0 && strcmp(th_jstr(p, "job"), job) == 0) {
            assert_null(found);
            found = p;
        }
    }
    if (found == NULL)
        fail_msg("no pod of %s/%s", ns, job);
    return found;
}

static long long jint(json_t *obj, const char *key) { return (long long)json_integer_value(json_object_get(obj, key)); }

/* Runs the CLI with --server/--token appended; captures stdout (and stderr). */
static int run_cli(const char *const *args, char **out, char **err_out)
{
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)th_server_bin();
    for (int i = 0; args[i] != NULL && n < 34; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = "--server";
    argv[n++] = srv.url;
    argv[n++] = "--token";
    argv[n++] = srv.token;
    argv[n] = NULL;
    char *o = NULL, *e = NULL;
    int rc = th_run_capture(argv, &o, &e, 20000);
    if (out)
        *out = o;
    else
        free(o);
    if (err_out)
        *err_out = e;
    else
        free(e);
    return rc;
}

static void cli_ok(const char *const *args, char **out)
{
    char *err = NULL, *o = NULL;
    int rc = run_cli(args, &o, &err);
    if (rc != 0) {
        th_note("gpuaas %s %s %s ... exited %d", args[0], args[1] ? args[1] : "", args[1] && args[2] ? args[2] : "",
                rc);
        th_note("  stdout: %.1000s", o ? o : "");
        th_note("  stderr: %.1000s", err ? err : "");
    }
    free(err);
    assert_int_equal(rc, 0);
    if (out)
        *out = o;
    else
        free(o);
}

/* The whitespace-separated words of the first line of text that starts with
 * `first`; count returned. */
static int line_words(const char *text, const char *first, char words[][96], int max)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t flen = strlen(first);
        if (len >= flen && strncmp(line, first, flen) == 0 && (len == flen || isspace((unsigned char)line[flen]))) {
            int n = 0;
            size_t i = 0;
            while (i < len && n < max) {
                while (i < len && isspace((unsigned char)line[i]))
                    i++;
                size_t start = i;
                while (i < len && !isspace((unsigned char)line[i]))
                    i++;
                if (i > start) {
                    snprintf(words[n], 96, "%.*s", (int)(i - start), line + start);
                    n++;
                }
            }
            return n;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* ---- per-test start and end --------------------------------------------------------------- */

static void begin(const char *tag)
{
    snprintf(marker, sizeof marker, "gxq-%d-%d-%s", (int)getpid(), ++test_seq, tag);
    snprintf(env_marker, sizeof env_marker, "GX_MARKER=%s", marker);
    assert_int_equal(th_server_start_config(&srv, tag, CONFIG_YAML), 0);
    th_log_server = &srv;
    assert_int_equal(th_http_init(&http, &srv), 0);
    http_ready = true;
}

/* Every job final, no process of ours left, SIGTERM, exit status 0. */
static void finish(void)
{
    json_t *jobs = get_json("/v1/jobs");
    size_t i;
    json_t *job;
    int active = 0;
    json_array_foreach(json_object_get(jobs, "items"), i, job)
    {
        const char *s = th_jstr(job, "status.state");
        if (!final_job_state(s)) {
            th_note("job %s/%s is still %s at the end of the test", th_jstr(job, "namespace"), th_jstr(job, "name"),
                    s ? s : "?");
            active++;
        }
    }
    json_decref(jobs);
    assert_int_equal(active, 0);
    long long deadline = th_now_ms() + STOP_GRACE_MS + 3000;
    for (;;) {
        json_t *j = get_json("/v1/pods");
        json_t *pod;
        int live = 0;
        json_array_foreach(json_object_get(j, "items"), i, pod) live += !final_pod_state(th_jstr(pod, "state"));
        json_decref(j);
        if (live == 0)
            break;
        if (th_now_ms() > deadline)
            fail_msg("%d pod(s) not final at the end of the test", live);
        th_sleep_ms(50);
    }
    deadline = th_now_ms() + 3000;
    int n;
    while ((n = stray_procs(NULL, 0)) > 0 && th_now_ms() < deadline)
        th_sleep_ms(50);
    if (n > 0)
        th_note("%d process(es) left behind by finished jobs", n);
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
        th_call(&http, "GET", "/v1/jobs", NULL, NULL, &r);
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(r.json, "items"), i, job)
        {
            const char *s = th_jstr(job, "status.state");
            if (s != NULL && !final_job_state(s)) {
                char path[400], q[256];
                escape_ns(th_jstr(job, "namespace"), q, sizeof q);
                snprintf(path, sizeof path, "/v1/jobs/%s/cancel?namespace=%s", th_jstr(job, "name"), q);
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

/* ---- the invariant over pod records ------------------------------------------------------ */

struct edge {
    long long at;
    int delta;     /* +gpus at scheduled_ms, -gpus at ended_ms */
    int child;     /* index into the children, -1: outside them */
};

static int cmp_edge(const void *x, const void *y)
{
    const struct edge *a = x, *b = y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a->delta - b->delta; /* [scheduled, ended): ends first at the same instant */
}

/* Sweeps every pod interval [scheduled_ms, ended_ms) of the subtree `parent`:
 * the most whole GPUs held at once by each child and by the parent's
 * subtree. Every pod must have ended. Returns the number of pods. */
static size_t sweep_gpus(json_t *pods, const char *const *children, int nchildren, int *max_child, int *max_parent)
{
    size_t n = json_array_size(pods), i;
    struct edge *edges = calloc(2 * n + 1, sizeof *edges);
    assert_non_null(edges);
    size_t ne = 0;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        const char *ns = th_jstr(p, "namespace");
        int child = -1;
        for (int c = 0; c < nchildren; c++)
            if (strcmp(ns, children[c]) == 0)
                child = c;
        int gpus = (int)json_array_size(json_object_get(p, "gpus"));
        long long s = jint(p, "scheduled_ms"), e = jint(p, "ended_ms");
        if (e <= 0 || e < s) {
            note_json("pod without a sane [scheduled_ms, ended_ms)", p);
            fail_msg("pod %s: scheduled_ms %lld ended_ms %lld", th_jstr(p, "name"), s, e);
        }
        edges[ne++] = (struct edge){.at = s, .delta = gpus, .child = child};
        edges[ne++] = (struct edge){.at = e, .delta = -gpus, .child = child};
    }
    qsort(edges, ne, sizeof *edges, cmp_edge);
    int held[16] = {0}, total = 0;
    for (int c = 0; c < nchildren; c++)
        max_child[c] = 0;
    *max_parent = 0;
    for (size_t k = 0; k < ne; k++) {
        total += edges[k].delta;
        if (edges[k].child >= 0) {
            held[edges[k].child] += edges[k].delta;
            if (held[edges[k].child] > max_child[edges[k].child])
                max_child[edges[k].child] = held[edges[k].child];
        }
        if (total > *max_parent)
            *max_parent = total;
    }
    free(edges);
    return n;
}

/* ---- a: the walk-through ------------------------------------------------------------------ */

#define DEV "team-ai/project-llm/dev"
#define PROJ "team-ai/project-llm"
#define CHILD_A "team-ai/project-llm/a"
#define CHILD_B "team-ai/project-llm/b"

static void test_walkthrough(void **state)
{
    (void)state;
    begin("walk");
    create_namespace(DEV);
    char *out = NULL;
    const char *set_dev[] = {"set", "quota", DEV, "--gpus", "2", NULL};
    cli_ok(set_dev, &out);
    th_note("gpuaas set quota: %s", out);
    assert_non_null(strstr(out, "quota \"" DEV "\" set: gpus 2"));
    free(out);
    json_t *q = get_json("/v1/quotas/" DEV);
    assert_string_equal(th_jstr(q, "namespace"), DEV);
    json_t *want = json_pack("{s:i}", "gpus", 2);
    assert_true(json_equal(json_object_get(q, "limits"), want));
    json_decref(want);
    assert_int_equal(json_integer_value(th_jpath(q, "used.gpus")), 0);
    json_decref(q);

    /* 3 GPUs can never fit under 2: refused at submit, naming the quota */
    struct th_resp r;
    post_job_h(&http, job_doc(DEV, "three", "{\"gpus\":3}", "2"), &r);
    expect_status(&r, 422, "3-GPU job under a 2-GPU quota");
    const char *field = th_err_field(&r), *msg = th_err_message(&r), *code = th_err_code(&r);
    th_note("refused: %s field=%s: %s", code ? code : "?", field ? field : "?", msg ? msg : "?");
    assert_non_null(field);
    assert_string_equal(field, "resources.gpus");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "quota " DEV));
    assert_non_null(strstr(msg, "limit 2"));
    assert_non_null(strstr(msg, "needs 3"));
    th_resp_free(&r);
    struct th_resp g;
    th_call(&http, "GET", "/v1/jobs/three?namespace=team-ai%2Fproject-llm%2Fdev", NULL, NULL, &g);
    expect_status(&g, 404, "the refused job");
    th_resp_free(&g);

    /* two 2-GPU jobs: one runs, the other waits for the quota */
    submit_ok(DEV, "first", "{\"gpus\":2}", "2");
    submit_ok(DEV, "second", "{\"gpus\":2}", "2");
    assert_true(wait_job_state(DEV, "first", "Running", 10000));
    expect_waiting(DEV, "second", "quota " DEV ": gpus 2/2 in use, needs 2");

    /* the CLI shows the use: NAMESPACE GPUS with 2/2 */
    const char *get_q[] = {"get", "quotas", NULL};
    cli_ok(get_q, &out);
    th_note("gpuaas get quotas:\n%s", out);
    char words[8][96];
    assert_int_equal(line_words(out, "NAMESPACE", words, 8), 2);
    assert_string_equal(words[1], "GPUS");
    assert_int_equal(line_words(out, DEV, words, 8), 2);
    assert_string_equal(words[1], "2/2");
    free(out);
    const char *get_qj[] = {"get", "quotas", "-o", "json", NULL};
    cli_ok(get_qj, &out);
    json_t *cli_list = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(cli_list);
    json_t *api_list = get_json("/v1/quotas");
    if (!json_equal(cli_list, api_list)) {
        note_json("CLI", cli_list);
        note_json("API", api_list);
    }
    assert_true(json_equal(cli_list, api_list));
    json_decref(cli_list);
    json_decref(api_list);
    const char *describe[] = {"describe", "namespace", DEV, NULL};
    cli_ok(describe, &out);
    th_note("gpuaas describe namespace:\n%s", out);
    assert_non_null(strstr(out, "Quota:"));
    assert_int_equal(line_words(out, "  gpus", words, 8), 3);
    assert_string_equal(words[1], "2");
    assert_string_equal(words[2], "2");
    free(out);

    /* the second runs once the first has ended: both seen running */
    assert_true(wait_job_state(DEV, "second", "Running", 10000));
    assert_true(wait_job_state(DEV, "first", "Succeeded", 10000));
    assert_true(wait_job_state(DEV, "second", "Succeeded", 10000));
    json_t *pods = get_pods(DEV);
    json_t *p1 = pod_of(pods, DEV, "first"), *p2 = pod_of(pods, DEV, "second");
    th_note("first [%lld, %lld), second [%lld, %lld)", jint(p1, "scheduled_ms"), jint(p1, "ended_ms"),
            jint(p2, "scheduled_ms"), jint(p2, "ended_ms"));
    assert_true(jint(p2, "scheduled_ms") >= jint(p1, "ended_ms"));
    assert_int_equal(json_array_size(json_object_get(p1, "gpus")), 2);
    assert_int_equal(json_array_size(json_object_get(p2, "gpus")), 2);
    json_decref(pods);

    /* a parent quota caps the sum of its children */
    create_namespace(CHILD_A);
    create_namespace(CHILD_B);
    const char *set_proj[] = {"set", "quota", PROJ, "--gpus", "3", NULL};
    cli_ok(set_proj, NULL);
    const char *set_a[] = {"set", "quota", CHILD_A, "--gpus", "2", NULL};
    cli_ok(set_a, NULL);
    const char *set_b[] = {"set", "quota", "--gpus=2", "-n", CHILD_B, NULL};
    cli_ok(set_b, NULL);
    /* a child may not be larger than its parent */
    put_quota(CHILD_A, "{\"gpus\":4}", &r);
    expect_status(&r, 422, "child quota 4 under the parent's 3");
    assert_string_equal(th_err_field(&r), "gpus");
    th_note("child 4 under 3: %s", th_err_message(&r));
    assert_non_null(strstr(th_err_message(&r), PROJ));
    th_resp_free(&r);
    char *err = NULL;
    const char *set_a4[] = {"set", "quota", CHILD_A, "--gpus", "4", NULL};
    assert_int_equal(run_cli(set_a4, NULL, &err), 1);
    assert_non_null(strstr(err, "HTTP 422"));
    free(err);
    q = get_json("/v1/quotas/" CHILD_A);
    assert_int_equal(json_integer_value(th_jpath(q, "limits.gpus")), 2); /* unchanged */
    json_decref(q);

    /* 2 + 2 one-GPU jobs: 3 run, the 4th waits for the parent */
    submit_ok(CHILD_A, "a1", "{\"gpus\":1}", "2");
    submit_ok(CHILD_A, "a2", "{\"gpus\":1}", "2");
    submit_ok(CHILD_B, "b1", "{\"gpus\":1}", "2");
    submit_ok(CHILD_B, "b2", "{\"gpus\":1}", "2");
    assert_true(wait_job_state(CHILD_B, "b1", "Running", 10000));
    expect_waiting(CHILD_B, "b2", "quota " PROJ ": gpus 3/3 in use, needs 1");
    q = get_json("/v1/quotas/" PROJ);
    assert_int_equal(json_integer_value(th_jpath(q, "used.gpus")), 3);
    json_decref(q);
    assert_true(wait_job_state(CHILD_B, "b2", "Running", 10000));
    const char *names[][2] = {{CHILD_A, "a1"}, {CHILD_A, "a2"}, {CHILD_B, "b1"}, {CHILD_B, "b2"}};
    for (int k = 0; k < 4; k++)
        assert_true(wait_job_state(names[k][0], names[k][1], "Succeeded", 15000));
    pods = get_pods(PROJ);
    const char *children[] = {CHILD_A, CHILD_B, DEV};
    int max_child[3], max_parent;
    assert_int_equal(sweep_gpus(pods, children, 3, max_child, &max_parent), 6);
    th_note("most GPUs held at once: a %d, b %d, dev %d, %s %d", max_child[0], max_child[1], max_child[2], PROJ,
            max_parent);
    assert_true(max_parent <= 3);
    assert_int_equal(max_parent, 3); /* the quota, not more, held them back */
    assert_true(max_child[0] <= 2 && max_child[1] <= 2);
    json_t *b2 = pod_of(pods, CHILD_B, "b2");
    long long first_end = -1;
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        if (strcmp(th_jstr(p, "namespace"), DEV) != 0 && p != b2 &&
            (first_end < 0 || jint(p, "ended_ms") < first_end))
            first_end = jint(p, "ended_ms");
    }
    assert_true(jint(b2, "scheduled_ms") >= first_end);
    json_decref(pods);
    finish();
    TH_PASS();
}

/* ---- b: concurrency, with a restart in the middle ----------------------------------------------- */

#define CC_PARENT "team-cc/proj"
#define CC_JOBS 60
#define CC_THREADS 8

static const char *const cc_children[] = {"team-cc/proj/c0", "team-cc/proj/c1", "team-cc/proj/c2"};

struct cc_thread {
    pthread_t thread;
    int index;
    int submitted;
    int failures;
    char first_failure[512];
};

static int cc_gpus(int k) { return 1 + (int)((k * 7u + 3u) % 5u == 0 || k % 3 == 1); }

static void *cc_submit(void *arg)
{
    struct cc_thread *t = arg;
    struct th_http h;
    if (th_http_init(&h, &srv) != 0) {
        t->failures++;
        snprintf(t->first_failure, sizeof t->first_failure, "curl_easy_init failed");
        return NULL;
    }
    for (int k = t->index; k < CC_JOBS; k += CC_THREADS) {
        char name[32], res[32];
        snprintf(name, sizeof name, "cc-%02d", k);
        snprintf(res, sizeof res, "{\"gpus\":%d}", cc_gpus(k));
        json_t *res_json = json_loads(res, 0, NULL);
        json_t *doc = json_pack("{s:s,s:s,s:s,s:o,s:[s,s],s:{s:s},s:{s:s}}", "kind", "Job", "name", name,
                                "namespace", cc_children[k % 3], "resources", res_json, "command", "sleep", "0.2",
                                "env", "GX_MARKER", marker, "restart", "policy", "Never");
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        struct th_resp r;
        long status = body ? th_call(&h, "POST", "/v1/jobs", body, NULL, &r) : 0;
        free(body);
        if (status == 201) {
            t->submitted++;
        } else {
            if (t->failures++ == 0)
                snprintf(t->first_failure, sizeof t->first_failure, "%s: HTTP %ld %s %.300s", name, status,
                         r.curl_err, r.body ? r.body : "");
        }
        th_resp_free(&r);
    }
    th_http_free(&h);
    return NULL;
}

/* Jobs of the subtree that are final, and of those the ones that succeeded. */
static int cc_count_final(int *succeeded)
{
    json_t *jobs = get_json("/v1/jobs?namespace=team-cc");
    size_t i;
    json_t *job;
    int done = 0;
    *succeeded = 0;
    json_array_foreach(json_object_get(jobs, "items"), i, job)
    {
        const char *s = th_jstr(job, "status.state");
        done += final_job_state(s);
        *succeeded += s != NULL && strcmp(s, "Succeeded") == 0;
    }
    json_decref(jobs);
    return done;
}

static void test_concurrency_restart(void **state)
{
    (void)state;
    begin("cc");
    for (int c = 0; c < 3; c++)
        create_namespace(cc_children[c]);
    put_quota_ok(CC_PARENT, "{\"gpus\":3}");
    for (int c = 0; c < 3; c++)
        put_quota_ok(cc_children[c], "{\"gpus\":2}");

    struct cc_thread threads[CC_THREADS];
    memset(threads, 0, sizeof threads);
    long long t0 = th_now_ms();
    for (int t = 0; t < CC_THREADS; t++) {
        threads[t].index = t;
        assert_int_equal(pthread_create(&threads[t].thread, NULL, cc_submit, &threads[t]), 0);
    }
    int submitted = 0, failures = 0;
    for (int t = 0; t < CC_THREADS; t++) {
        pthread_join(threads[t].thread, NULL);
        submitted += threads[t].submitted;
        failures += threads[t].failures;
        if (threads[t].failures)
            th_note("thread %d: %d failure(s), first: %s", t, threads[t].failures, threads[t].first_failure);
    }
    th_note("%d jobs submitted by %d threads in %lld ms", submitted, CC_THREADS, th_now_ms() - t0);
    assert_int_equal(failures, 0);
    assert_int_equal(submitted, CC_JOBS);

    /* a third done: SIGTERM and start again while the rest run and wait */
    int succeeded = 0, done = 0;
    long long deadline = th_now_ms() + 60000;
    while ((done = cc_count_final(&succeeded)) < CC_JOBS / 3 && th_now_ms() < deadline)
        th_sleep_ms(50);
    th_note("restart with %d/%d jobs final", done, CC_JOBS);
    assert_true(done < CC_JOBS); /* still work left to do across the restart */
    json_t *before = get_json("/v1/quotas?namespace=team-cc");
    restart_server();
    json_t *after = get_json("/v1/quotas?namespace=team-cc");
    /* limits as they were; use from the pods still active (some may have ended meanwhile) */
    size_t i;
    json_t *qa;
    json_array_foreach(json_object_get(after, "items"), i, qa)
    {
        json_t *qb = json_array_get(json_object_get(before, "items"), i);
        assert_string_equal(th_jstr(qa, "namespace"), th_jstr(qb, "namespace"));
        assert_true(json_equal(json_object_get(qa, "limits"), json_object_get(qb, "limits")));
        assert_true(json_integer_value(th_jpath(qa, "used.gpus")) <=
                    json_integer_value(json_object_get(json_object_get(qa, "limits"), "gpus")));
    }
    json_decref(before);
    json_decref(after);

    deadline = th_now_ms() + 60000;
    while ((done = cc_count_final(&succeeded)) < CC_JOBS && th_now_ms() < deadline)
        th_sleep_ms(100);
    th_note("%d jobs final (%d succeeded) %lld ms after the first submit", done, succeeded, th_now_ms() - t0);
    if (succeeded != CC_JOBS) {
        json_t *jobs = get_json("/v1/jobs?namespace=team-cc");
        json_t *job;
        json_array_foreach(json_object_get(jobs, "items"), i, job)
        {
            if (strcmp(th_jstr(job, "status.state"), "Succeeded") != 0)
                note_json("not succeeded", job);
        }
        json_decref(jobs);
    }
    assert_int_equal(succeeded, CC_JOBS);

    json_t *pods = get_pods("team-cc");
    int max_child[3], max_parent;
    size_t n = sweep_gpus(pods, cc_children, 3, max_child, &max_parent);
    int states[6] = {0};
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        const char *s = th_jstr(p, "state");
        states[strcmp(s, "Succeeded") == 0 ? 0 : strcmp(s, "Lost") == 0 ? 1 : 2]++;
    }
    th_note("%zu pods (%d Succeeded, %d Lost, %d other); most GPUs at once: c0 %d, c1 %d, c2 %d, parent %d", n,
            states[0], states[1], states[2], max_child[0], max_child[1], max_child[2], max_parent);
    for (int c = 0; c < 3; c++) {
        if (max_child[c] > 2)
            th_note("%s held %d GPUs at once (quota 2)", cc_children[c], max_child[c]);
        assert_true(max_child[c] <= 2);
    }
    if (max_parent > 3)
        th_note("%s held %d GPUs at once (quota 3)", CC_PARENT, max_parent);
    assert_true(max_parent <= 3);
    assert_true(max_parent >= 2); /* the quotas let work run side by side */
    assert_int_equal(n, CC_JOBS);
    json_decref(pods);
    finish();
    TH_PASS();
}

/* ---- c: restart, every kind of limit, bad bodies --------------------------------------------- */

#define QNS "team-q/p"

static void test_quotas_survive_restart(void **state)
{
    (void)state;
    begin("durable");
    create_namespace(QNS "/e");
    put_quota_ok("team-q", "{\"gpus\":6,\"cpu\":\"12\",\"memory\":\"48Gi\"}");
    put_quota_ok(QNS, "{\"gpus\":4,\"gpus_per_model\":{\"A10G\":3},\"mig\":{\"1g.6gb\":1,\"2g.12gb\":0},"
                      "\"gpu_milli\":1500,\"cpu\":\"500m\",\"memory\":\"1536Mi\",\"pods\":7}");
    put_quota_ok(QNS "/e", "{}");
    /* a running pod holds some of it across the restart */
    submit_ok(QNS "/e", "holder", "{\"gpus\":1,\"cpu\":\"250m\",\"memory\":\"512Mi\"}", "30");
    assert_true(wait_job_state(QNS "/e", "holder", "Running", 10000));
    json_t *before = get_json("/v1/quotas");
    assert_int_equal(json_array_size(json_object_get(before, "items")), 3);
    restart_server();
    json_t *after = get_json("/v1/quotas");
    if (!json_equal(before, after)) {
        note_json("before", before);
        note_json("after", after);
    }
    assert_true(json_equal(before, after));
    json_t *one = get_json("/v1/quotas/" QNS);
    assert_true(json_equal(one, json_array_get(json_object_get(after, "items"), 1)));
    assert_int_equal(json_integer_value(th_jpath(one, "used.gpus")), 1);
    assert_string_equal(th_jstr(one, "used.cpu"), "250m");
    assert_string_equal(th_jstr(one, "used.memory"), "512Mi");
    json_decref(one);
    json_decref(before);
    json_decref(after);
    /* a quota removed stays removed */
    const char *del[] = {"delete", "quota", QNS "/e", NULL};
    char *out = NULL;
    cli_ok(del, &out);
    assert_non_null(strstr(out, "quota \"" QNS "/e\" deleted"));
    free(out);
    restart_server();
    struct th_resp r;
    th_call(&http, "GET", "/v1/quotas/" QNS "/e", NULL, NULL, &r);
    expect_status(&r, 404, "deleted quota after a restart");
    th_resp_free(&r);
    json_t *list = get_json("/v1/quotas");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    json_decref(list);
    th_call(&http, "POST", "/v1/jobs/holder/cancel?namespace=team-q%2Fp%2Fe", NULL, NULL, &r);
    expect_status(&r, 200, "cancel holder");
    th_resp_free(&r);
    assert_true(wait_job_state(QNS "/e", "holder", "Cancelled", 10000));
    finish();
    TH_PASS();
}

static void test_each_limit_waits(void **state)
{
    (void)state;
    begin("limits");
    static const struct {
        const char *ns, *quota, *resources, *reason;
    } cases[] = {
        {"team-q/p/pods", "{\"pods\":1}", "{\"cpu\":\"100m\"}", "quota team-q/p/pods: pods 1/1 in use, needs 1"},
        {"team-q/p/cpu", "{\"cpu\":1}", "{\"cpu\":1}", "quota team-q/p/cpu: cpu 1/1 in use, needs 1"},
        {"team-q/p/mem", "{\"memory\":\"1Gi\"}", "{\"memory\":\"768Mi\"}",
         "quota team-q/p/mem: memory 768Mi/1Gi in use, needs 768Mi"},
        {"team-q/p/mig", "{\"mig\":{\"1g.6gb\":1}}", "{\"mig\":\"1g.6gb\"}",
         "quota team-q/p/mig: mig.1g.6gb 1/1 in use, needs 1"},
        {"team-q/p/model", "{\"gpus_per_model\":{\"A10G\":1}}", "{\"gpus\":1}",
         "quota team-q/p/model: gpus.A10G 1/1 in use, needs 1"},
        {"team-q/p/milli", "{\"gpu_milli\":500}", "{\"gpu_milli\":300}",
         "quota team-q/p/milli: gpu_milli 300/500 in use, needs 300"},
    };
    enum { NCASES = sizeof cases / sizeof cases[0] };
    for (int c = 0; c < NCASES; c++) {
        create_namespace(cases[c].ns);
        put_quota_ok(cases[c].ns, cases[c].quota);
    }
    for (int c = 0; c < NCASES; c++) {
        submit_ok(cases[c].ns, "one", cases[c].resources, "3");
        submit_ok(cases[c].ns, "two", cases[c].resources, "0.2");
    }
    for (int c = 0; c < NCASES; c++) {
        assert_true(wait_job_state(cases[c].ns, "one", "Running", 10000));
        expect_waiting(cases[c].ns, "two", cases[c].reason);
    }
    /* the CLI: one column per limited resource, each "used/limit" */
    char *out = NULL;
    const char *get_q[] = {"get", "quotas", "-n", "team-q", NULL};
    cli_ok(get_q, &out);
    th_note("gpuaas get quotas -n team-q:\n%s", out);
    char words[12][96];
    int nw = line_words(out, "NAMESPACE", words, 12);
    const char *headers[] = {"NAMESPACE", "A10G", "MIG-1g.6gb", "GPU-MILLI", "CPU", "MEMORY", "PODS"};
    assert_int_equal(nw, 7);
    for (int k = 0; k < nw; k++)
        assert_string_equal(words[k], headers[k]);
    assert_int_equal(line_words(out, "team-q/p/model", words, 12), 7);
    assert_string_equal(words[1], "1/1");
    assert_string_equal(words[2], "-");
    assert_int_equal(line_words(out, "team-q/p/mem", words, 12), 7);
    assert_string_equal(words[5], "768Mi/1Gi");
    free(out);
    /* each waiting one runs after the first has ended */
    for (int c = 0; c < NCASES; c++) {
        assert_true(wait_job_state(cases[c].ns, "two", "Succeeded", 15000));
        assert_true(wait_job_state(cases[c].ns, "one", "Succeeded", 15000));
        json_t *pods = get_pods(cases[c].ns);
        json_t *p1 = pod_of(pods, cases[c].ns, "one"), *p2 = pod_of(pods, cases[c].ns, "two");
        if (jint(p2, "scheduled_ms") < jint(p1, "ended_ms"))
            th_note("%s: two scheduled at %lld, one ended at %lld", cases[c].ns, jint(p2, "scheduled_ms"),
                    jint(p1, "ended_ms"));
        assert_true(jint(p2, "scheduled_ms") >= jint(p1, "ended_ms"));
        json_decref(pods);
    }
    finish();
    TH_PASS();
}

static void test_bad_bodies_and_missing(void **state)
{
    (void)state;
    begin("bad");
    create_namespace(QNS "/e");
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"gpus\":2,\"gpuz\":1}", "gpuz"},
        {"{\"gpus\":\"8\"}", "gpus"},
        {"{\"gpus\":-1}", "gpus"},
        {"{\"gpus\":2.5}", "gpus"},
        {"{\"pods\":-3}", "pods"},
        {"{\"gpu_milli\":[]}", "gpu_milli"},
        {"{\"cpu\":\"-2\"}", "cpu"},
        {"{\"cpu\":false}", "cpu"},
        {"{\"memory\":\"12 apples\"}", "memory"},
        {"{\"memory\":\"-1Gi\"}", "memory"},
        {"{\"gpus_per_model\":{\"A100\":-2}}", "gpus_per_model.A100"},
        {"{\"gpus_per_model\":[\"A100\"]}", "gpus_per_model"},
        {"{\"mig\":{\"1g.6gb\":\"one\"}}", "mig.1g.6gb"},
        {"{\"mig\":3}", "mig"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct th_resp r;
        put_quota(QNS "/e", cases[c].body, &r);
        const char *field = th_err_field(&r);
        if (r.status != 422 || field == NULL || strcmp(field, cases[c].field) != 0)
            th_note("PUT %s: HTTP %ld field %s: %.300s (want 422 naming %s)", cases[c].body, r.status,
                    field ? field : "(none)", r.body, cases[c].field);
        assert_int_equal(r.status, 422);
        assert_non_null(field);
        assert_string_equal(field, cases[c].field);
        assert_non_null(th_err_message(&r));
        assert_non_null(strstr(th_err_message(&r), cases[c].field));
        th_resp_free(&r);
    }
    /* not JSON: 400; JSON but not an object: 422 */
    struct th_resp r;
    put_quota(QNS "/e", "{\"gpus\":", &r);
    expect_status(&r, 400, "PUT of broken JSON");
    th_resp_free(&r);
    put_quota(QNS "/e", "[1]", &r);
    expect_status(&r, 422, "PUT of an array");
    th_note("PUT [1]: %s", r.body);
    th_resp_free(&r);
    /* nothing was set */
    th_call(&http, "GET", "/v1/quotas/" QNS "/e", NULL, NULL, &r);
    expect_status(&r, 404, "quota after refused PUTs");
    th_resp_free(&r);

    /* a namespace that does not exist (or cannot) */
    const char *missing[] = {"team-q/nope", "team-q/p/e/x", "Bad_Name"};
    for (size_t k = 0; k < sizeof missing / sizeof missing[0]; k++) {
        char what[128];
        snprintf(what, sizeof what, "PUT quota on %s", missing[k]);
        put_quota(missing[k], "{\"gpus\":1}", &r);
        expect_status(&r, 404, what);
        th_resp_free(&r);
        char path[200];
        snprintf(path, sizeof path, "/v1/quotas/%s", missing[k]);
        th_call(&http, "GET", path, NULL, NULL, &r);
        expect_status(&r, 404, "GET quota of a missing namespace");
        th_resp_free(&r);
        th_call(&http, "DELETE", path, NULL, NULL, &r);
        expect_status(&r, 404, "DELETE quota of a missing namespace");
        th_resp_free(&r);
    }
    /* the CLI: exit 1 for what the server refuses, 2 for a bad line */
    char *err = NULL;
    const char *set_missing[] = {"set", "quota", "team-q/nope", "--gpus", "1", NULL};
    assert_int_equal(run_cli(set_missing, NULL, &err), 1);
    assert_non_null(strstr(err, "HTTP 404"));
    free(err);
    const char *set_bad_cpu[] = {"set", "quota", QNS "/e", "--cpu", "lots", NULL};
    assert_int_equal(run_cli(set_bad_cpu, NULL, &err), 1);
    assert_non_null(strstr(err, "field cpu"));
    free(err);
    const char *set_bad_count[] = {"set", "quota", QNS "/e", "--gpus", "two", NULL};
    assert_int_equal(run_cli(set_bad_count, NULL, &err), 2);
    free(err);
    const char *set_none[] = {"set", "quota", QNS "/e", NULL};
    assert_int_equal(run_cli(set_none, NULL, &err), 2);
    free(err);
    const char *get_none[] = {"get", "quotas", QNS "/e", NULL};
    assert_int_equal(run_cli(get_none, NULL, &err), 1);
    free(err);
    const char *del_none[] = {"delete", "quota", QNS "/e", NULL};
    assert_int_equal(run_cli(del_none, NULL, &err), 1);
    free(err);
    /* kubectl-style: a second set replaces the whole quota */
    const char *set1[] = {"set", "quota", QNS "/e", "--gpus", "2", "--cpu", "4", "--mig-1g.6gb", "1", NULL};
    cli_ok(set1, NULL);
    const char *set2[] = {"set", "quota", QNS "/e", "--memory", "2Gi", "-o", "json", NULL};
    char *out = NULL;
    cli_ok(set2, &out);
    json_t *reply = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(reply);
    json_t *want = json_pack("{s:s}", "memory", "2Gi");
    assert_true(json_equal(json_object_get(reply, "limits"), want));
    json_decref(want);
    json_t *api = get_json("/v1/quotas/" QNS "/e");
    assert_true(json_equal(api, reply));
    json_decref(api);
    json_decref(reply);
    /* describe shows the quotas above as well */
    put_quota_ok(QNS, "{\"gpus\":5}");
    const char *describe[] = {"describe", "namespace", QNS "/e", NULL};
    cli_ok(describe, &out);
    th_note("gpuaas describe namespace:\n%s", out);
    assert_non_null(strstr(out, "memory"));
    assert_non_null(strstr(out, QNS ": gpus 0/5"));
    free(out);
    finish();
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_walkthrough),          T(test_concurrency_restart), T(test_quotas_survive_restart),
        T(test_each_limit_waits),     T(test_bad_bodies_and_missing),
    };
    const char *only = getenv("QUOTA_ONLY");
    if (only != NULL && *only != '\0')
        cmocka_set_test_filter(only);
    int rc = cmocka_run_group_tests_name("quota", tests, NULL, NULL);
    th_global_cleanup();
    return rc;
}
