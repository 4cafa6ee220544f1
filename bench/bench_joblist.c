/* Job lists over a large state: the whole list rendered (what GET /v1/jobs
 * did before it paged) against a page of 1000, the dashboard's queries
 * (?state=Pending&limit=20 and /v1/job-summary), and a viewer's filtered
 * page; the median of several runs, in-process (the engine thread's work).
 *
 *   bench_joblist [JOBS]
 *
 * JOBS (default 200,000) jobs in 300 namespaces go through core_apply;
 * every fourth is cancelled, the rest wait (no nodes). Prints RESULT lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/joblist.h"
#include "core/model.h"
#include "core/spec.h"

#define RUNS 5
#define T0 1795622400123LL

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void ns_of(long i, char *out, size_t size)
{
    snprintf(out, size, "org%ld/proj%ld/env%ld", i % 10, (i / 10) % 10, (i / 100) % 3);
}

static void apply(struct core_state *st, struct core_cmd *cmd)
{
    struct core_effects fx;
    struct core_reply reply = {0};
    core_effects_init(&fx);
    if (core_apply(st, cmd, T0, &fx, &reply) < 0) {
        fprintf(stderr, "bench_joblist: %s\n", reply.message);
        exit(1);
    }
    core_reply_clear(&reply);
    core_effects_free(&fx);
    core_cmd_clear(cmd);
}

static bool keep_one_project(const char *ns, void *arg)
{
    (void)arg;
    return strncmp(ns, "org3/proj4/", 11) == 0;
}

enum what { WHOLE, PAGE, QUEUE, SUMMARY, VIEWER };

static double median(const struct core_state *st, enum what w, size_t *ret_items)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        json_t *out = NULL;
        struct joblist_query q = {.limit = 1000};
        double t0 = now_s();
        switch (w) {
        case WHOLE:
            out = core_list_jobs(st, NULL);
            break;
        case PAGE:
            joblist_page(st, &q, &out);
            break;
        case QUEUE:
            q.limit = 20;
            q.states = 1u << JOB_PENDING;
            joblist_page(st, &q, &out);
            break;
        case SUMMARY:
            joblist_summary(st, NULL, NULL, NULL, &out);
            break;
        case VIEWER:
            q.keep = keep_one_project;
            joblist_page(st, &q, &out);
            break;
        }
        char *text = out ? json_dumps(out, JSON_COMPACT) : NULL; /* the reply as sent */
        t[i] = now_s() - t0;
        if (!text) {
            fprintf(stderr, "bench_joblist: out of memory\n");
            exit(1);
        }
        *ret_items = w == SUMMARY ? json_array_size(json_object_get(out, "namespaces"))
                                  : json_array_size(json_object_get(out, "items"));
        free(text);
        json_decref(out);
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

int main(int argc, char **argv)
{
    long jobs = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (jobs < 1 || jobs > 5000000) {
        fprintf(stderr, "usage: bench_joblist [JOBS (1..5000000)]\n");
        return 2;
    }
    struct core_state st;
    core_state_init(&st);
    char ns[64], name[32], text[256];
    for (long i = 0; i < 300; i++) {
        struct core_cmd cmd = {.kind = CORE_CMD_NAMESPACE_CREATE};
        ns_of(i, cmd.namespace_path, sizeof cmd.namespace_path);
        apply(&st, &cmd);
    }
    double t0 = now_s();
    for (long i = 0; i < jobs; i++) {
        ns_of(i % 300, ns, sizeof ns);
        snprintf(name, sizeof name, "job-%ld", i);
        snprintf(text, sizeof text, "{\"name\":\"%s\",\"command\":[\"true\"]}", name);
        json_t *in = json_loads(text, 0, NULL);
        struct core_cmd cmd = {.kind = CORE_CMD_JOB_SUBMIT};
        struct spec_error err;
        if (!in || spec_parse_job(in, ns, &cmd.job, &err) < 0) {
            fprintf(stderr, "bench_joblist: spec: %s\n", err.message);
            return 1;
        }
        json_decref(in);
        apply(&st, &cmd);
        if (i % 4 == 3) {
            struct core_cmd c = {.kind = CORE_CMD_JOB_CANCEL};
            snprintf(c.namespace_path, sizeof c.namespace_path, "%s", ns);
            snprintf(c.name, sizeof c.name, "%s", name);
            apply(&st, &c);
        }
    }
    printf("built %ld jobs in 300 namespaces in %.1f s\n", jobs, now_s() - t0);
    static const struct {
        enum what w;
        const char *label;
    } cases[] = {
        {WHOLE, "every job rendered (the list before paging)"},
        {PAGE, "GET /v1/jobs (first page of 1000)"},
        {QUEUE, "GET /v1/jobs?state=Pending&limit=20 (dashboard queue)"},
        {SUMMARY, "GET /v1/job-summary (dashboard counts)"},
        {VIEWER, "GET /v1/jobs as a viewer of one project (page of 1000)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t items = 0;
        double s = median(&st, cases[c].w, &items);
        printf("RESULT joblist jobs=%ld case=\"%s\" items=%zu median_ms=%.1f\n", jobs, cases[c].label, items,
               s * 1e3);
    }
    core_state_free(&st);
    return 0;
}
