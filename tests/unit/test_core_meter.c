/* Metering: exact GPU time per pod attempt, split at month boundaries,
 * grouped, priced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/meter.h"
#include "core/model.h"
#include "gpuaas/error.h"

#define HOUR_MS 3600000LL

static int64_t at(const char *text)
{
    int64_t ms = 0;
    assert_int_equal(meter_parse_time(text, &ms), 0);
    return ms;
}

/* A pod holding `gpus` whole GPUs (or one MIG slice / share) from start to end. */
static void add_pod(struct core_state *st, uint64_t id, const char *ns, const char *model, const char *capacity,
                    int gpus, int64_t start, int64_t end)
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
    pod.attempt = 1;
    pod.state = end ? POD_SUCCEEDED : POD_RUNNING;
    pod.scheduled_ms = pod.started_ms = start;
    pod.ended_ms = end;
    for (int g = 0; g < gpus; g++) {
        struct core_pod_device *d = &pod.devices[pod.device_count++];
        d->gpu = (uint16_t)g;
        d->mig = -1;
        d->milli = 1000;
        snprintf(d->uuid, sizeof d->uuid, "GPU-%llu-%d", (unsigned long long)id, g);
    }
    assert_int_equal(core_restore_pod(st, &pod), 0);
}

static int64_t row_amount(const json_t *usage, const char *key)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(usage, "rows"), i, row)
        if (strcmp(json_string_value(json_object_get(row, "key")), key) == 0)
            return json_integer_value(json_object_get(row, "gpu_milli_ms"));
    return 0;
}

static int64_t total_amount(const json_t *usage)
{
    return json_integer_value(json_object_get(json_object_get(usage, "total"), "gpu_milli_ms"));
}

static void test_month_range_and_times(void **state)
{
    (void)state;
    int64_t from, to;
    assert_int_equal(meter_month_range("2026-11", &from, &to), 0);
    assert_int_equal(from, at("2026-11-01"));
    assert_int_equal(to, at("2026-12-01"));
    assert_int_equal(meter_month_range("2026-12", &from, &to), 0);
    assert_int_equal(to, at("2027-01-01"));
    assert_int_equal(meter_month_range("2028-02", &from, &to), 0);
    assert_int_equal(to - from, 29 * 24 * HOUR_MS); /* leap year */
    assert_int_equal(at("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(at("2026-11-25T16:00:00Z"), 1795622400000LL);
    assert_int_equal(at("1795622400000"), 1795622400000LL);
    const char *bad[] = {"2026-13", "2026-1", "26-11", "", "2026-11x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(meter_month_range(bad[i], &from, &to), GPUAAS_EINVAL);
    int64_t ms;
    assert_int_equal(meter_parse_time("2026-11-25T25:00Z", &ms), GPUAAS_EINVAL);
    assert_int_equal(meter_parse_time("yesterday", &ms), GPUAAS_EINVAL);
}

static void test_device_shares(void **state)
{
    (void)state;
    struct core_pod_device whole = {.mig = -1, .milli = 1000}, share = {.mig = -1, .milli = 250};
    struct core_pod_device mig3 = {.mig = 0, .milli = 1000}, mig1 = {.mig = 1, .milli = 1000};
    snprintf(mig3.mig_profile, sizeof mig3.mig_profile, "3g.20gb");
    snprintf(mig1.mig_profile, sizeof mig1.mig_profile, "1g.5gb");
    assert_int_equal(meter_device_milli(&whole), 1000);
    assert_int_equal(meter_device_milli(&share), 250);
    assert_int_equal(meter_device_milli(&mig3), 428);
    assert_int_equal(meter_device_milli(&mig1), 142);
}

/* An interval across a month boundary is split at it; the months add up to
 * the all-time total exactly. */
static void test_month_split_and_conservation(void **state)
{
    (void)state;
    struct core_state st;
    core_state_init(&st);
    add_pod(&st, 1, "team-ai/llm/dev", "A100", "on-demand", 2, at("2026-11-30T23:00:00Z"), at("2026-12-01T01:00:00Z"));
    add_pod(&st, 2, "team-ai/llm/prod", "A10G", "spot", 1, at("2026-11-10T00:00:00Z"), at("2026-11-10T00:30:00Z"));
    add_pod(&st, 3, "team-data/etl/prod", "T4", "spot", 1, at("2026-12-02T00:00:00Z"), 0); /* still running */
    int64_t now = at("2026-12-02T03:00:00Z");
    int64_t nov_from, nov_to, dec_from, dec_to;
    meter_month_range("2026-11", &nov_from, &nov_to);
    meter_month_range("2026-12", &dec_from, &dec_to);
    json_t *nov = meter_usage(&st, nov_from, nov_to, now, METER_BY_NAMESPACE, NULL, NULL, NULL);
    json_t *dec = meter_usage(&st, dec_from, dec_to, now, METER_BY_NAMESPACE, NULL, NULL, NULL);
    json_t *all = meter_usage(&st, 0, now, now, METER_BY_NAMESPACE, NULL, NULL, NULL);
    assert_non_null(nov);
    assert_non_null(dec);
    assert_non_null(all);
    /* 2 GPUs x 1 h on each side of midnight */
    assert_int_equal(row_amount(nov, "team-ai/llm/dev"), 2 * 1000 * HOUR_MS);
    assert_int_equal(row_amount(dec, "team-ai/llm/dev"), 2 * 1000 * HOUR_MS);
    assert_int_equal(row_amount(nov, "team-ai/llm/prod"), 1000 * HOUR_MS / 2);
    assert_int_equal(row_amount(dec, "team-data/etl/prod"), 3 * 1000 * HOUR_MS); /* running: up to now */
    assert_int_equal(total_amount(nov) + total_amount(dec), total_amount(all));
    json_decref(nov);
    json_decref(dec);
    json_decref(all);
    core_state_free(&st);
}

static void test_groups_and_prices(void **state)
{
    (void)state;
    struct core_state st;
    core_state_init(&st);
    add_pod(&st, 1, "team-ai/llm/dev", "A100", "on-demand", 2, 0, 2 * HOUR_MS);
    add_pod(&st, 2, "team-ai/cv/dev", "A100", "spot", 1, 0, HOUR_MS);
    add_pod(&st, 3, "team-data/etl/prod", "H100", "spot", 1, 0, HOUR_MS);
    struct meter_prices prices = {.currency = "USD", .count = 2};
    prices.items[0] = (struct meter_price){.model = "A100", .capacity_type = "on-demand", .per_gpu_hour = 4.0};
    prices.items[1] = (struct meter_price){.model = "A100", .capacity_type = "spot", .per_gpu_hour = 1.5};
    json_t *org = meter_usage(&st, 0, 10 * HOUR_MS, 10 * HOUR_MS, METER_BY_ORG, &prices, NULL, NULL);
    assert_int_equal(row_amount(org, "team-ai"), 5 * 1000 * HOUR_MS);
    assert_int_equal(row_amount(org, "team-data"), 1000 * HOUR_MS);
    json_t *rows = json_object_get(org, "rows");
    assert_int_equal(json_array_size(rows), 2);
    /* 4 GPU-h on-demand at 4.0 + 1 GPU-h spot at 1.5 */
    assert_true(json_real_value(json_object_get(json_array_get(rows, 0), "cost")) > 17.49 &&
                json_real_value(json_object_get(json_array_get(rows, 0), "cost")) < 17.51);
    /* no price for H100 spot: the cost is unknown, not zero */
    assert_true(json_is_null(json_object_get(json_array_get(rows, 1), "cost")));
    assert_true(json_is_null(json_object_get(json_object_get(org, "total"), "cost")));
    json_t *cap = meter_usage(&st, 0, 10 * HOUR_MS, 10 * HOUR_MS, METER_BY_CAPACITY, &prices, NULL, NULL);
    assert_int_equal(row_amount(cap, "on-demand"), 4 * 1000 * HOUR_MS);
    assert_int_equal(row_amount(cap, "spot"), 2 * 1000 * HOUR_MS);
    json_t *project = meter_usage(&st, 0, 10 * HOUR_MS, 10 * HOUR_MS, METER_BY_PROJECT, &prices, NULL, NULL);
    assert_int_equal(row_amount(project, "team-ai/llm"), 4 * 1000 * HOUR_MS);
    assert_int_equal(row_amount(project, "team-ai/cv"), 1000 * HOUR_MS);
    json_decref(org);
    json_decref(cap);
    json_decref(project);
    core_state_free(&st);
}

/* A restarted job is charged per attempt: two attempts, never the same
 * second twice. */
static void test_attempts_charged_separately(void **state)
{
    (void)state;
    struct core_state st;
    core_state_init(&st);
    add_pod(&st, 1, "a/b/c", "A10G", "on-demand", 1, 0, HOUR_MS);
    add_pod(&st, 2, "a/b/c", "A10G", "on-demand", 1, HOUR_MS + 10000, 2 * HOUR_MS);
    json_t *u = meter_usage(&st, 0, 3 * HOUR_MS, 3 * HOUR_MS, METER_BY_POD, NULL, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(u, "rows")), 2);
    assert_int_equal(total_amount(u), 1000 * (2 * HOUR_MS - 10000));
    json_decref(u);
    core_state_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month_range_and_times),
        cmocka_unit_test(test_device_shares),
        cmocka_unit_test(test_month_split_and_conservation),
        cmocka_unit_test(test_groups_and_prices),
        cmocka_unit_test(test_attempts_charged_separately),
    };
    return cmocka_run_group_tests_name("core_meter", tests, NULL, NULL);
}
