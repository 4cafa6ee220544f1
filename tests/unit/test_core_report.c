/* The monthly report builder on a hand-built state: exact sums per org,
 * project, model and capacity, top consumers, month over month, the
 * utilisation buckets with and without the meter's optional fields, and
 * the month helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/meter.h"
#include "core/model.h"
#include "core/report.h"
#include "report/months.h"
#include "gpuaas/error.h"

#define HOUR_MS 3600000LL
#define GPU_HOUR 3600000000LL /* milli-GPU x ms in one GPU-hour */

static int64_t at(const char *text)
{
    int64_t ms = 0;
    assert_int_equal(meter_parse_time(text, &ms), 0);
    return ms;
}

static void add_pod(struct core_state *st, uint64_t id, const char *ns, const char *model, const char *capacity,
                    int gpus, int milli_each, int64_t start, int64_t end)
{
    struct core_pod pod;
    memset(&pod, 0, sizeof pod);
    pod.id = id;
    pod.job_id = id;
    snprintf(pod.namespace_path, sizeof pod.namespace_path, "%s", ns);
    snprintf(pod.job_name, sizeof pod.job_name, "job%llu", (unsigned long long)id);
    snprintf(pod.node, sizeof pod.node, "n1");
    snprintf(pod.gpu_model, sizeof pod.gpu_model, "%s", model);
    snprintf(pod.capacity_type, sizeof pod.capacity_type, "%s", capacity);
    pod.state = end ? POD_SUCCEEDED : POD_RUNNING;
    pod.scheduled_ms = pod.started_ms = start;
    pod.ended_ms = end;
    for (int g = 0; g < gpus; g++) {
        struct core_pod_device *d = &pod.devices[pod.device_count++];
        d->gpu = (uint16_t)g;
        d->mig = -1;
        d->milli = milli_each;
    }
    assert_int_equal(core_restore_pod(st, &pod), 0);
}

static const json_t *row(const json_t *rows, const char *key)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
        if (strcmp(json_string_value(json_object_get(r, "key")), key) == 0)
            return r;
    return NULL;
}

static int64_t milli(const json_t *r)
{
    assert_non_null(r);
    return (int64_t)json_integer_value(json_object_get(r, "gpu_milli_ms"));
}

static int64_t milli_of(const json_t *report, const char *member, const char *key)
{
    return milli(row(json_object_get(report, member), key));
}

static const struct meter_prices prices = {
    .currency = "USD",
    .count = 3,
    .items = {{"A100", "on-demand", 4.0}, {"A100", "spot", 1.5}, {"T4", "spot", 0.25}},
};

/* November 2026: hand-computed amounts, and one pod that spans October. */
static void november(struct core_state *st)
{
    core_state_init(st);
    /* team-ai/llm/dev: 2 A100 on-demand for 10 h = 20 GPU-h */
    add_pod(st, 1, "team-ai/llm/dev", "A100", "on-demand", 2, 1000, at("2026-11-02T00:00:00Z"),
            at("2026-11-02T10:00:00Z"));
    /* team-ai/llm/prod: 1 A100 spot from Oct 31 22:00 to Nov 1 02:00: 2 h in each month */
    add_pod(st, 2, "team-ai/llm/prod", "A100", "spot", 1, 1000, at("2026-10-31T22:00:00Z"),
            at("2026-11-01T02:00:00Z"));
    /* team-ai/vision/dev: a quarter of a T4 (spot) for 8 h = 2 GPU-h */
    add_pod(st, 3, "team-ai/vision/dev", "T4", "spot", 1, 250, at("2026-11-10T00:00:00Z"),
            at("2026-11-10T08:00:00Z"));
    /* team-data/etl/prod: 4 T4 spot for 30 min = 2 GPU-h */
    add_pod(st, 4, "team-data/etl/prod", "T4", "spot", 4, 1000, at("2026-11-20T12:00:00Z"),
            at("2026-11-20T12:30:00Z"));
    /* team-data/etl/prod: still running since Nov 30 23:00 (1 GPU, until "now" or month end) */
    add_pod(st, 5, "team-data/etl/prod", "T4", "spot", 1, 1000, at("2026-11-30T23:00:00Z"), 0);
    /* October only: team-data 3 A100 on-demand for 4 h = 12 GPU-h */
    add_pod(st, 6, "team-data/etl/dev", "A100", "on-demand", 3, 1000, at("2026-10-05T00:00:00Z"),
            at("2026-10-05T04:00:00Z"));
}

static json_t *build(const struct core_state *st, const char *month, int64_t now,
                     bool (*keep)(const char *, void *), void *arg)
{
    json_t *report = NULL;
    struct report_options opt = {.month = month, .now_ms = now, .prices = &prices, .keep = keep, .keep_arg = arg,
                                 .scope = "platform", .title = "Forschung · 研究"};
    assert_int_equal(report_build(st, &opt, &report), 0);
    assert_non_null(report);
    return report;
}

static void test_exact_sums(void **state)
{
    (void)state;
    struct core_state st;
    november(&st);
    int64_t now = at("2026-12-01T05:00:00Z"); /* after the close: pod 5 counts 1 h in November */
    json_t *r = build(&st, "2026-11", now, NULL, NULL);
    const json_t *total = json_object_get(r, "total");
    int64_t expected = 20 * GPU_HOUR + 2 * GPU_HOUR + 2 * GPU_HOUR + 2 * GPU_HOUR + 1 * GPU_HOUR;
    assert_int_equal(milli(total), expected);
    assert_int_equal(json_integer_value(json_object_get(total, "pods")), 5);
    /* cost: 20 h x 4 + 2 h x 1.5 + (2 + 2 + 1) h x 0.25 */
    assert_true(json_number_value(json_object_get(total, "cost")) > 84.25 - 1e-9);
    assert_true(json_number_value(json_object_get(total, "cost")) < 84.25 + 1e-9);
    assert_string_equal(json_string_value(json_object_get(r, "currency")), "USD");
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "GpuReport");
    assert_string_equal(json_string_value(json_object_get(r, "month")), "2026-11");
    assert_string_equal(json_string_value(json_object_get(r, "from")), "2026-11-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(r, "to")), "2026-12-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(r, "generated_at")), "2026-12-01T05:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(r, "title")), "Forschung · 研究");
    assert_true(json_is_true(json_object_get(r, "complete")));

    /* orgs and projects add up to the total, exactly */
    assert_int_equal(milli_of(r, "orgs", "team-ai"), 24 * GPU_HOUR);
    assert_int_equal(milli_of(r, "orgs", "team-data"), 3 * GPU_HOUR);
    assert_int_equal(milli_of(r, "projects", "team-ai/llm"), 22 * GPU_HOUR);
    assert_int_equal(milli_of(r, "projects", "team-ai/vision"), 2 * GPU_HOUR);
    assert_int_equal(milli_of(r, "projects", "team-data/etl"), 3 * GPU_HOUR);
    assert_int_equal(json_array_size(json_object_get(r, "orgs")), 2);
    assert_int_equal(json_array_size(json_object_get(r, "namespaces")), 4); /* etl/dev has nothing in November */
    /* models and capacity */
    assert_int_equal(milli_of(r, "models", "A100"), 22 * GPU_HOUR);
    assert_int_equal(milli_of(r, "models", "T4"), 5 * GPU_HOUR);
    assert_int_equal(milli_of(r, "capacity", "on-demand"), 20 * GPU_HOUR);
    assert_int_equal(milli_of(r, "capacity", "spot"), 7 * GPU_HOUR);
    assert_int_equal(milli_of(r, "capacity", "on-demand") + milli_of(r, "capacity", "spot"), milli(total));

    /* top consumers: by GPU time, biggest first */
    const json_t *top = json_object_get(r, "top_consumers");
    assert_int_equal(json_array_size(top), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "key")), "team-ai/llm/dev");
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 1), "key")), "team-data/etl/prod");
    /* ties (2 GPU-h each) in key order */
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 2), "key")), "team-ai/llm/prod");
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 3), "key")), "team-ai/vision/dev");

    /* month over month: October had 2 h (pod 2) + 12 h (pod 6) */
    const json_t *prev = json_object_get(r, "previous");
    assert_string_equal(json_string_value(json_object_get(prev, "month")), "2026-10");
    assert_int_equal(milli(json_object_get(prev, "total")), 14 * GPU_HOUR);
    const json_t *change = json_object_get(r, "change");
    assert_int_equal(json_integer_value(json_object_get(change, "gpu_milli_ms")), 13 * GPU_HOUR);
    assert_int_equal(json_integer_value(json_object_get(change, "pods")), 3);
    double pct = json_number_value(json_object_get(change, "gpu_hours_pct"));
    assert_true(pct > 13.0 * 100 / 14 - 1e-9 && pct < 13.0 * 100 / 14 + 1e-9);
    /* October cost: 2 h x 1.5 + 12 h x 4 = 51 */
    double cost_pct = json_number_value(json_object_get(change, "cost_pct"));
    assert_true(cost_pct > (84.25 - 51) * 100 / 51 - 1e-9 && cost_pct < (84.25 - 51) * 100 / 51 + 1e-9);

    /* no utilisation from this meter: everything is n/a, nothing invented */
    const json_t *util = json_object_get(r, "utilisation");
    assert_true(json_is_false(json_object_get(util, "available")));
    const json_t *buckets = json_object_get(util, "buckets");
    assert_int_equal(json_array_size(buckets), REPORT_UTIL_BUCKETS);
    assert_int_equal(milli_of(util, "buckets", "n/a"), milli(total));
    assert_int_equal(milli_of(util, "buckets", "0-20"), 0);
    const json_t *idle = json_object_get(r, "idle");
    assert_true(json_is_null(json_object_get(idle, "idle_gpu_seconds")));
    assert_true(json_is_null(json_object_get(idle, "idle_cost")));
    json_decref(r);
    core_state_free(&st);
}

static void test_month_to_date_and_running_pods(void **state)
{
    (void)state;
    struct core_state st;
    november(&st);
    /* during November: pod 5 has run 30 minutes so far */
    json_t *r = build(&st, "2026-11", at("2026-11-30T23:30:00Z"), NULL, NULL);
    assert_false(json_is_true(json_object_get(r, "complete")));
    assert_int_equal(milli_of(r, "namespaces", "team-data/etl/prod"), 2 * GPU_HOUR + GPU_HOUR / 2);
    json_decref(r);
    core_state_free(&st);
}

static bool keep_team_ai(const char *ns, void *arg)
{
    (void)arg;
    return strncmp(ns, "team-ai/", 8) == 0;
}

static void test_keep_filter(void **state)
{
    (void)state;
    struct core_state st;
    november(&st);
    json_t *r = build(&st, "2026-11", at("2026-12-01T05:00:00Z"), keep_team_ai, NULL);
    assert_int_equal(milli(json_object_get(r, "total")), 24 * GPU_HOUR);
    assert_int_equal(json_array_size(json_object_get(r, "orgs")), 1);
    assert_null(row(json_object_get(r, "namespaces"), "team-data/etl/prod"));
    /* the previous month is filtered the same way: 2 h of team-ai only */
    assert_int_equal(milli(json_object_get(json_object_get(r, "previous"), "total")), 2 * GPU_HOUR);
    json_decref(r);
    core_state_free(&st);
}

static void test_top_ten(void **state)
{
    (void)state;
    struct core_state st;
    core_state_init(&st);
    /* 12 namespaces, namespace i uses i GPU-hours */
    for (int i = 1; i <= 12; i++) {
        char ns[64];
        snprintf(ns, sizeof ns, "org%02d/p/dev", i);
        add_pod(&st, (uint64_t)i, ns, "A100", "on-demand", 1, 1000, at("2026-11-03T00:00:00Z"),
                at("2026-11-03T00:00:00Z") + i * HOUR_MS);
    }
    json_t *r = build(&st, "2026-11", at("2026-12-02T00:00:00Z"), NULL, NULL);
    const json_t *top = json_object_get(r, "top_consumers");
    assert_int_equal(json_array_size(top), REPORT_TOP_CONSUMERS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "key")), "org12/p/dev");
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 9), "key")), "org03/p/dev");
    assert_int_equal(json_array_size(json_object_get(r, "namespaces")), 12);
    /* no previous usage: percentages are null, deltas are the whole month */
    const json_t *change = json_object_get(r, "change");
    assert_true(json_is_null(json_object_get(change, "gpu_hours_pct")));
    assert_true(json_is_null(json_object_get(change, "cost_pct")));
    assert_int_equal(json_integer_value(json_object_get(change, "gpu_milli_ms")), 78 * GPU_HOUR);
    json_decref(r);
    core_state_free(&st);
}

/* With the meter's optional utilisation fields, pods fall into buckets by
 * their own average, and idle time and list cost come through. */
static json_t *usage_row(const char *key, int64_t amount, int64_t pods, json_t *util)
{
    json_t *r = json_pack("{s:s,s:f,s:f,s:I,s:I,s:f}", "key", key, "gpu_seconds", amount / 1e6, "gpu_hours",
                          amount / 3.6e9, "gpu_milli_ms", (json_int_t)amount, "pods", (json_int_t)pods, "cost",
                          amount / 3.6e9 * 2.0);
    json_object_set_new(r, "util_avg_pct", util);
    return r;
}

static json_t *usage(json_t *rows, json_t *total)
{
    return json_pack("{s:s,s:o,s:o}", "currency", "EUR", "rows", rows, "total", total);
}

static void test_utilisation_buckets(void **state)
{
    (void)state;
    json_t *pods = json_array();
    json_array_append_new(pods, usage_row("a/p/e/j-r0-a0", 1 * GPU_HOUR, 1, json_real(5.0)));     /* 0-20 */
    json_array_append_new(pods, usage_row("a/p/e/j-r1-a0", 2 * GPU_HOUR, 1, json_real(19.999))); /* 0-20 */
    json_array_append_new(pods, usage_row("a/p/e/k-r0-a0", 4 * GPU_HOUR, 1, json_real(20.0)));   /* 20-40 */
    json_array_append_new(pods, usage_row("a/p/e/l-r0-a0", 8 * GPU_HOUR, 1, json_integer(55)));  /* 40-70 */
    json_array_append_new(pods, usage_row("a/p/e/m-r0-a0", 16 * GPU_HOUR, 1, json_real(70.0)));  /* 70-100 */
    json_array_append_new(pods, usage_row("a/p/e/n-r0-a0", 32 * GPU_HOUR, 1, json_null()));      /* n/a */
    json_t *total = usage_row("total", 63 * GPU_HOUR, 6, json_real(41.5));
    json_object_set_new(total, "idle_gpu_seconds", json_integer(3 * 3600));
    json_object_set_new(total, "idle_cost", json_real(6.0));
    json_object_set_new(total, "list_cost", json_real(130.0));
    json_object_set_new(total, "utilisation_discount", json_real(4.0));
    json_t *by_pod = usage(pods, total);
    json_t *by_ns = usage(json_pack("[o]", usage_row("a/p/e", 63 * GPU_HOUR, 6, json_real(41.5))),
                          json_deep_copy(total));
    json_t *empty = usage(json_array(), usage_row("total", 0, 0, json_null()));
    struct report_inputs in = {.by_namespace = by_ns, .by_project = by_ns, .by_org = by_ns, .by_model = by_ns,
                               .by_capacity = by_ns, .by_pod = by_pod, .previous = empty};
    struct report_options opt = {.month = "2027-01", .now_ms = at("2027-02-01T00:00:00Z")};
    json_t *r = NULL;
    assert_int_equal(report_assemble(&opt, &in, &r), 0);
    const json_t *util = json_object_get(r, "utilisation");
    assert_true(json_is_true(json_object_get(util, "available")));
    assert_int_equal(milli_of(util, "buckets", "0-20"), 3 * GPU_HOUR);
    assert_int_equal(milli_of(util, "buckets", "20-40"), 4 * GPU_HOUR);
    assert_int_equal(milli_of(util, "buckets", "40-70"), 8 * GPU_HOUR);
    assert_int_equal(milli_of(util, "buckets", "70-100"), 16 * GPU_HOUR);
    assert_int_equal(milli_of(util, "buckets", "n/a"), 32 * GPU_HOUR);
    assert_int_equal(json_integer_value(json_object_get(row(json_object_get(util, "buckets"), "0-20"), "pods")), 2);
    const json_t *idle = json_object_get(r, "idle");
    assert_true(json_number_value(json_object_get(idle, "idle_gpu_hours")) == 3.0);
    double share = json_number_value(json_object_get(idle, "idle_share_pct"));
    assert_true(share > 300.0 / 63 - 1e-9 && share < 300.0 / 63 + 1e-9);
    assert_true(json_number_value(json_object_get(idle, "idle_cost")) == 6.0);
    /* the optional fields ride along in the rows as the meter gave them */
    const json_t *t = json_object_get(r, "total");
    assert_true(json_number_value(json_object_get(t, "list_cost")) == 130.0);
    assert_true(json_number_value(json_object_get(t, "util_avg_pct")) == 41.5);
    assert_string_equal(json_string_value(json_object_get(r, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(r, "scope")), "platform");
    assert_true(json_is_null(json_object_get(r, "title")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "previous"), "month")), "2026-12");
    json_decref(r);
    json_decref(by_pod);
    json_decref(by_ns);
    json_decref(empty);
}

static void test_months(void **state)
{
    (void)state;
    char out[16];
    report_month_of(at("2026-11-30T23:59:59Z"), out, sizeof out);
    assert_string_equal(out, "2026-11");
    report_month_of(at("2026-12-01T00:00:00Z"), out, sizeof out);
    assert_string_equal(out, "2026-12");
    assert_int_equal(report_month_add("2026-01", -1, out, sizeof out), 0);
    assert_string_equal(out, "2025-12");
    assert_int_equal(report_month_add("2026-12", 1, out, sizeof out), 0);
    assert_string_equal(out, "2027-01");
    assert_int_equal(report_month_add("2026-11", -23, out, sizeof out), 0);
    assert_string_equal(out, "2024-12");
    assert_int_equal(report_month_add("1970-01", -1, out, sizeof out), GPUAAS_EINVAL);
    assert_int_equal(report_month_add("2026-13", 0, out, sizeof out), GPUAAS_EINVAL);
    assert_int_equal(report_month_add("nope", 0, out, sizeof out), GPUAAS_EINVAL);
    struct core_state st;
    core_state_init(&st);
    json_t *r = NULL;
    struct report_options opt = {.month = "2026-1", .now_ms = 0};
    assert_int_equal(report_build(&st, &opt, &r), GPUAAS_EINVAL);
    assert_null(r);
    opt.month = "1970-01"; /* has no month before it */
    assert_int_equal(report_build(&st, &opt, &r), GPUAAS_EINVAL);
    core_state_free(&st);
    json_t *n = json_null(), *low = json_real(-1), *high = json_real(100);
    assert_int_equal(report_util_bucket(NULL), 4);
    assert_int_equal(report_util_bucket(n), 4);
    assert_int_equal(report_util_bucket(low), 0);
    assert_int_equal(report_util_bucket(high), 3);
    json_decref(n);
    json_decref(low);
    json_decref(high);
}

/* Months in the metering time zone: Berlin's November 2026 is
 * [Oct 31 23:00Z, Nov 30 23:00Z). */
static void test_time_zone(void **state)
{
    (void)state;
    struct tzmonth_table berlin = {0};
    char err[256], out[16];
    assert_int_equal(tzmonth_build(&berlin, "Europe/Berlin", err, sizeof err), 0);
    report_month_at(&berlin, at("2026-10-31T23:30:00Z"), out, sizeof out);
    assert_string_equal(out, "2026-11");
    report_month_at(&berlin, at("2026-10-31T22:30:00Z"), out, sizeof out);
    assert_string_equal(out, "2026-10");
    report_month_at(&berlin, at("2026-11-30T23:00:00Z"), out, sizeof out);
    assert_string_equal(out, "2026-12");
    report_month_at(NULL, at("2026-11-30T23:00:00Z"), out, sizeof out);
    assert_string_equal(out, "2026-11");
    struct core_state st;
    november(&st);
    json_t *r = NULL;
    struct report_options opt = {.month = "2026-11", .now_ms = at("2026-12-05T00:00:00Z"), .prices = &prices,
                                 .scope = "platform"};
    assert_int_equal(report_set_months(&opt, &berlin), 0);
    assert_int_equal(report_build(&st, &opt, &r), 0);
    assert_string_equal(json_string_value(json_object_get(r, "from")), "2026-10-31T23:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(r, "to")), "2026-11-30T23:00:00.000Z");
    /* the pod across the edge: 3 h of Berlin's November (2 h in UTC's) */
    assert_int_equal(milli_of(r, "namespaces", "team-ai/llm/prod"), 3 * GPU_HOUR);
    /* the pod started at Berlin's December 1st is not November's */
    assert_int_equal(milli_of(r, "namespaces", "team-data/etl/prod"), 2 * GPU_HOUR);
    json_decref(r);
    core_state_free(&st);
    tzmonth_free(&berlin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_sums),        cmocka_unit_test(test_month_to_date_and_running_pods),
        cmocka_unit_test(test_keep_filter),       cmocka_unit_test(test_top_ten),
        cmocka_unit_test(test_utilisation_buckets), cmocka_unit_test(test_months),
        cmocka_unit_test(test_time_zone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
