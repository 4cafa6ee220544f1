/* Unit tests for src/core/joblist.c: pages by id with continue tokens,
 * state and namespace filters, the visibility callback, counts, and the
 * parsing of ?state= and ?continue=. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/joblist.h"
#include "core/model.h"
#include "core/spec.h"
#include "gpuaas/error.h"

#define T0 1795622400123LL
#define NS_A "team-a/p/dev"
#define NS_B "team-b/q/dev"

struct fixture {
    struct core_state st;
    struct core_effects fx;
    struct core_reply reply;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    core_state_init(&f->st);
    core_effects_init(&f->fx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    core_reply_clear(&f->reply);
    core_effects_free(&f->fx);
    core_state_free(&f->st);
    free(f);
    return 0;
}

static void apply_ok(struct fixture *f, struct core_cmd *cmd)
{
    core_reply_clear(&f->reply);
    core_effects_free(&f->fx);
    core_effects_init(&f->fx);
    int r = core_apply(&f->st, cmd, T0, &f->fx, &f->reply);
    if (r < 0)
        fail_msg("core_apply: %s", f->reply.message);
    core_cmd_clear(cmd);
}

static void ns_create(struct fixture *f, const char *path)
{
    struct core_cmd cmd = {.kind = CORE_CMD_NAMESPACE_CREATE};
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", path);
    apply_ok(f, &cmd);
}

static void submit(struct fixture *f, const char *ns, const char *name)
{
    char text[256];
    snprintf(text, sizeof text, "{\"name\":\"%s\",\"command\":[\"sleep\",\"1\"]}", name);
    json_t *in = json_loads(text, 0, NULL);
    assert_non_null(in);
    struct core_cmd cmd = {.kind = CORE_CMD_JOB_SUBMIT};
    struct spec_error err;
    if (spec_parse_job(in, ns, &cmd.job, &err) < 0)
        fail_msg("spec: %s %s", err.field, err.message);
    json_decref(in);
    apply_ok(f, &cmd);
}

static void cancel(struct fixture *f, const char *ns, const char *name)
{
    struct core_cmd cmd = {.kind = CORE_CMD_JOB_CANCEL};
    snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", ns);
    snprintf(cmd.name, sizeof cmd.name, "%s", name);
    apply_ok(f, &cmd);
}

static json_t *page(struct fixture *f, const struct joblist_query *q)
{
    json_t *list = NULL;
    assert_int_equal(joblist_page(&f->st, q, &list), 0);
    assert_non_null(list);
    assert_int_equal(json_integer_value(json_object_get(list, "count")), json_array_size(json_object_get(list, "items")));
    return list;
}

static json_int_t num(const json_t *obj, const char *key) { return json_integer_value(json_object_get(obj, key)); }

/* Ten jobs in two namespaces; every third one cancelled. */
static void sample(struct fixture *f)
{
    ns_create(f, NS_A);
    ns_create(f, NS_B);
    char name[32];
    for (int i = 1; i <= 10; i++) {
        snprintf(name, sizeof name, "job-%02d", i);
        submit(f, i % 2 ? NS_A : NS_B, name);
        if (i % 3 == 0)
            cancel(f, i % 2 ? NS_A : NS_B, name);
    }
}

static void test_pages_walk_every_job_once_while_jobs_arrive(void **state)
{
    struct fixture *f = *state;
    sample(f);
    struct joblist_query q = {.limit = 3};
    bool seen[64] = {false};
    uint64_t last = 0;
    int pages = 0, added = 0;
    for (;;) {
        json_t *list = page(f, &q);
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(list, "items"), i, job) {
            uint64_t id = (uint64_t)num(job, "id");
            assert_true(id > last); /* ascending, never repeated */
            assert_true(id < 64);
            assert_false(seen[id]);
            seen[id] = true;
            last = id;
        }
        pages++;
        const char *token = json_string_value(json_object_get(list, "continue"));
        assert_int_equal(token != NULL, num(list, "remaining") > 0);
        if (!token) {
            json_decref(list);
            break;
        }
        assert_int_equal(joblist_parse_continue(token, &q.after_id), 0);
        assert_int_equal(q.after_id, last);
        json_decref(list);
        /* new jobs between pages: they come after the cursor */
        if (added < 4) {
            char name[32];
            snprintf(name, sizeof name, "late-%d", added++);
            submit(f, NS_A, name);
        }
    }
    for (uint64_t id = 1; id <= 10 + (uint64_t)added; id++)
        assert_true(seen[id]);
    assert_int_equal(pages, 5); /* 14 jobs, 3 a page */
}

static void test_states_and_prefix(void **state)
{
    struct fixture *f = *state;
    sample(f);
    struct joblist_query q = {.limit = 100, .states = 1u << JOB_CANCELLED};
    json_t *list = page(f, &q);
    assert_int_equal(num(list, "total"), 3); /* 3, 6, 9 */
    assert_int_equal(num(list, "count"), 3);
    assert_int_equal(num(list, "remaining"), 0);
    assert_null(json_object_get(list, "continue"));
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(list, "items"), i, job)
        assert_string_equal(json_string_value(json_object_get(json_object_get(job, "status"), "state")), "Cancelled");
    json_decref(list);

    q.states = 1u << JOB_PENDING | 1u << JOB_CANCELLED;
    q.prefix = "team-a";
    q.limit = 2;
    list = page(f, &q);
    assert_int_equal(num(list, "total"), 5); /* the odd ones */
    assert_int_equal(num(list, "count"), 2);
    assert_int_equal(num(list, "remaining"), 3);
    json_array_foreach(json_object_get(list, "items"), i, job)
        assert_string_equal(json_string_value(json_object_get(job, "namespace")), NS_A);
    assert_int_equal(num(json_array_get(json_object_get(list, "items"), 0), "id"), 1);
    assert_int_equal(num(json_array_get(json_object_get(list, "items"), 1), "id"), 3);
    json_decref(list);

    q.limit = 0;
    json_t *none = NULL;
    assert_int_equal(joblist_page(&f->st, &q, &none), GPUAAS_EINVAL);
    q.limit = JOBLIST_LIMIT_MAX + 1;
    assert_int_equal(joblist_page(&f->st, &q, &none), GPUAAS_EINVAL);
    assert_null(none);
}

struct keep_count {
    const char *allowed;
    int calls;
};

static bool keep_one(const char *ns, void *arg)
{
    struct keep_count *k = arg;
    k->calls++;
    return strcmp(ns, k->allowed) == 0;
}

static void test_visibility_asked_once_per_namespace(void **state)
{
    struct fixture *f = *state;
    sample(f);
    struct keep_count k = {NS_B, 0};
    struct joblist_query q = {.limit = 100, .keep = keep_one, .keep_arg = &k};
    json_t *list = page(f, &q);
    assert_int_equal(num(list, "total"), 5);
    size_t i;
    json_t *job;
    json_array_foreach(json_object_get(list, "items"), i, job)
        assert_string_equal(json_string_value(json_object_get(job, "namespace")), NS_B);
    json_decref(list);
    assert_int_equal(k.calls, 2); /* two namespaces, ten jobs */

    k.calls = 0;
    json_t *summary = NULL;
    assert_int_equal(joblist_summary(&f->st, NULL, keep_one, &k, &summary), 0);
    assert_int_equal(k.calls, 2);
    assert_int_equal(num(summary, "total"), 5);
    json_t *rows = json_object_get(summary, "namespaces");
    assert_int_equal(json_array_size(rows), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "namespace")), NS_B);
    json_decref(summary);
}

static void test_summary_counts(void **state)
{
    struct fixture *f = *state;
    sample(f);
    json_t *summary = NULL;
    assert_int_equal(joblist_summary(&f->st, NULL, NULL, NULL, &summary), 0);
    json_t *by_state = json_object_get(summary, "by_state");
    assert_int_equal(num(summary, "total"), 10);
    assert_int_equal(num(by_state, "Pending"), 7);
    assert_int_equal(num(by_state, "Cancelled"), 3);
    assert_int_equal(num(by_state, "Running"), 0);
    assert_int_equal(json_object_size(by_state), 5); /* every state, zeros too */
    json_t *rows = json_object_get(summary, "namespaces");
    assert_int_equal(json_array_size(rows), 2);
    json_t *a = json_array_get(rows, 0), *b = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(a, "namespace")), NS_A); /* name order */
    assert_int_equal(num(a, "total"), 5);
    assert_int_equal(num(json_object_get(a, "by_state"), "Cancelled"), 2); /* 3, 9 */
    assert_int_equal(num(json_object_get(b, "by_state"), "Cancelled"), 1); /* 6 */
    json_decref(summary);

    assert_int_equal(joblist_summary(&f->st, "team-b", NULL, NULL, &summary), 0);
    assert_int_equal(num(summary, "total"), 5);
    assert_int_equal(json_array_size(json_object_get(summary, "namespaces")), 1);
    json_decref(summary);

    assert_int_equal(joblist_summary(&f->st, "team-c", NULL, NULL, &summary), 0);
    assert_int_equal(num(summary, "total"), 0);
    assert_int_equal(json_array_size(json_object_get(summary, "namespaces")), 0);
    json_decref(summary);
}

static void test_parse_states(void **state)
{
    (void)state;
    unsigned s = 0;
    char why[160];
    assert_int_equal(joblist_parse_states("Pending", &s, why, sizeof why), 0);
    assert_int_equal(s, 1u << JOB_PENDING);
    assert_int_equal(joblist_parse_states("running,SUCCEEDED,Pending,Pending", &s, why, sizeof why), 0);
    assert_int_equal(s, 1u << JOB_PENDING | 1u << JOB_RUNNING | 1u << JOB_SUCCEEDED);
    static const char *const bad[] = {"", "Bogus", "Pending,", ",Pending", "Pending,,Failed", "Pend", "Pending ",
                                      "Failed,Done"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = 77;
        why[0] = '\0';
        if (joblist_parse_states(bad[i], &s, why, sizeof why) != GPUAAS_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(s, 77);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(joblist_parse_states("Failed,Done", &s, why, sizeof why), GPUAAS_EINVAL);
    assert_non_null(strstr(why, "'Done'"));
    char longer[JOBLIST_STATES_TEXT_MAX + 8];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(joblist_parse_states(longer, &s, why, sizeof why), GPUAAS_EINVAL);
}

static void test_continue_tokens(void **state)
{
    (void)state;
    char token[JOBLIST_CONTINUE_MAX];
    uint64_t id = 0;
    static const uint64_t ids[] = {1, 17, 1000000, UINT64_MAX};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        joblist_format_continue(ids[i], token, sizeof token);
        assert_int_equal(joblist_parse_continue(token, &id), 0);
        assert_true(id == ids[i]);
    }
    static const char *const bad[] = {"", "j1.", "j1.0", "j1.xyz", "j1.1G", "j2.1", "1", "j1.-1",
                                      "j1.10000000000000000", "J1.1", "j1.1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        id = 5;
        if (joblist_parse_continue(bad[i], &id) != GPUAAS_EINVAL)
            fail_msg("token '%s' was accepted", bad[i]);
        assert_true(id == 5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pages_walk_every_job_once_while_jobs_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_states_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visibility_asked_once_per_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_counts, setup, teardown),
        cmocka_unit_test(test_parse_states),
        cmocka_unit_test(test_continue_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
