#include "core/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

const char *const report_util_bucket_names[REPORT_UTIL_BUCKETS] = {"0-20", "20-40", "40-70", "70-100", "n/a"};

unsigned report_util_bucket(const json_t *util_avg_pct)
{
    if (!json_is_number(util_avg_pct))
        return REPORT_UTIL_BUCKETS - 1;
    double pct = json_number_value(util_avg_pct);
    if (pct < 20)
        return 0;
    if (pct < 40)
        return 1;
    if (pct < 70)
        return 2;
    return 3;
}

void report_month_of(int64_t ms, char *out, size_t out_size)
{
    char text[40];
    core_format_time(ms, text, sizeof text);
    snprintf(out, out_size, "%.7s", text);
}

/* The month's and the previous month's ranges: the caller's (time zone),
 * else the UTC months. */
static int month_ranges(const struct report_options *opt, int64_t *from, int64_t *to, int64_t *prev_from,
                        int64_t *prev_to)
{
    char prev[16];
    if (opt->to_ms > opt->from_ms && opt->prev_to_ms > opt->prev_from_ms) {
        *from = opt->from_ms, *to = opt->to_ms;
        if (prev_from)
            *prev_from = opt->prev_from_ms, *prev_to = opt->prev_to_ms;
        return 0;
    }
    if (meter_month_range(opt->month, from, to) < 0)
        return GPUAAS_EINVAL;
    if (prev_from && (report_month_add(opt->month, -1, prev, sizeof prev) < 0 ||
                      meter_month_range(prev, prev_from, prev_to) < 0))
        return GPUAAS_EINVAL;
    return 0;
}

int report_month_add(const char *month, int delta, char *out, size_t out_size)
{
    int64_t from, to;
    if (meter_month_range(month, &from, &to) < 0)
        return GPUAAS_EINVAL;
    int y = (month[0] - '0') * 1000 + (month[1] - '0') * 100 + (month[2] - '0') * 10 + (month[3] - '0');
    int m = (month[5] - '0') * 10 + (month[6] - '0');
    long index = (long)y * 12 + (m - 1) + delta;
    if (index < 1970L * 12 || index > 9999L * 12 + 11)
        return GPUAAS_EINVAL;
    snprintf(out, out_size, "%04ld-%02ld", index / 12, index % 12 + 1);
    return 0;
}

static int64_t row_milli(const json_t *row)
{
    return (int64_t)json_integer_value(json_object_get(row, "gpu_milli_ms"));
}

static int64_t row_pods(const json_t *row)
{
    return (int64_t)json_integer_value(json_object_get(row, "pods"));
}

/* A number, or null when the meter does not give one. */
static json_t *number_or_null(const json_t *value)
{
    return json_is_number(value) ? json_real(json_number_value(value)) : json_null();
}

static json_t *copy_rows(const json_t *usage)
{
    json_t *rows = json_object_get(usage, "rows");
    return rows ? json_deep_copy(rows) : json_array();
}

/* Biggest GPU time first; equal ones by key, so the order is stable. */
static int cmp_consumers(const void *a, const void *b)
{
    const json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    int64_t ma = row_milli(ra), mb = row_milli(rb);
    if (ma != mb)
        return ma > mb ? -1 : 1;
    return strcmp(json_string_value(json_object_get(ra, "key")), json_string_value(json_object_get(rb, "key")));
}

static json_t *top_consumers(const json_t *namespace_rows)
{
    size_t n = json_array_size(namespace_rows);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    json_t *top = json_array();
    if (!sorted || !top)
        goto fail;
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(namespace_rows, i);
    qsort(sorted, n, sizeof *sorted, cmp_consumers);
    for (size_t i = 0; i < n && i < REPORT_TOP_CONSUMERS; i++)
        if (json_array_append_new(top, json_deep_copy(sorted[i])) < 0)
            goto fail;
    free(sorted);
    return top;
fail:
    free(sorted);
    json_decref(top);
    return NULL;
}

static json_t *bucket_json(const char *key, int64_t milli, int64_t pods)
{
    return json_pack("{s:s,s:I,s:f,s:f,s:I}", "key", key, "gpu_milli_ms", (json_int_t)milli, "gpu_seconds",
                     milli / 1e6, "gpu_hours", milli / 3.6e9, "pods", (json_int_t)pods);
}

/* GPU time by per-pod average utilisation. Without pod rows everything is
 * "n/a" (the meter has no samples). */
static json_t *utilisation(const json_t *by_pod, const json_t *total)
{
    int64_t milli[REPORT_UTIL_BUCKETS] = {0}, pods[REPORT_UTIL_BUCKETS] = {0};
    bool available = false;
    if (by_pod) {
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(by_pod, "rows"), i, row) {
            const json_t *util = json_object_get(row, "util_avg_pct");
            unsigned b = report_util_bucket(util);
            available |= json_is_number(util);
            milli[b] += row_milli(row);
            pods[b] += row_pods(row);
        }
    } else {
        milli[REPORT_UTIL_BUCKETS - 1] = row_milli(total);
        pods[REPORT_UTIL_BUCKETS - 1] = row_pods(total);
    }
    json_t *buckets = json_array();
    for (unsigned b = 0; buckets && b < REPORT_UTIL_BUCKETS; b++)
        if (json_array_append_new(buckets, bucket_json(report_util_bucket_names[b], milli[b], pods[b])) < 0) {
            json_decref(buckets);
            return NULL;
        }
    return buckets ? json_pack("{s:b,s:o}", "available", available, "buckets", buckets) : NULL;
}

static json_t *idle(const json_t *total)
{
    /* idle time is only known where utilisation was sampled: without a
     * sample it is "n/a", never zero */
    bool sampled = json_is_number(json_object_get(total, "util_avg_pct"));
    const json_t *seconds = sampled ? json_object_get(total, "idle_gpu_seconds") : NULL;
    double allocated = json_number_value(json_object_get(total, "gpu_seconds"));
    json_t *obj = json_pack("{s:o,s:o,s:o,s:o}", "idle_gpu_seconds", number_or_null(seconds), "idle_gpu_hours",
                            json_is_number(seconds) ? json_real(json_number_value(seconds) / 3600.0) : json_null(),
                            "idle_share_pct",
                            json_is_number(seconds) && allocated > 0
                                ? json_real(json_number_value(seconds) * 100.0 / allocated)
                                : json_null(),
                            "idle_cost", number_or_null(sampled ? json_object_get(total, "idle_cost") : NULL));
    return obj;
}

/* Month over month, from the exact amounts where there are some. */
static json_t *change(const json_t *cur, const json_t *prev)
{
    int64_t cm = row_milli(cur), pm = row_milli(prev);
    const json_t *cc = json_object_get(cur, "cost"), *pc = json_object_get(prev, "cost");
    bool costs = json_is_number(cc) && json_is_number(pc);
    double ccv = json_number_value(cc), pcv = json_number_value(pc);
    return json_pack("{s:I,s:f,s:o,s:I,s:o,s:o}", "gpu_milli_ms", (json_int_t)(cm - pm), "gpu_hours",
                     (double)(cm - pm) / 3.6e9, "gpu_hours_pct",
                     pm > 0 ? json_real((double)(cm - pm) * 100.0 / (double)pm) : json_null(), "pods",
                     (json_int_t)(row_pods(cur) - row_pods(prev)), "cost",
                     costs ? json_real(ccv - pcv) : json_null(), "cost_pct",
                     costs && pcv > 0 ? json_real((ccv - pcv) * 100.0 / pcv) : json_null());
}

int report_assemble(const struct report_options *opt, const struct report_inputs *in, json_t **ret_report)
{
    int64_t from, to;
    char prev_month[16], from_text[40], to_text[40], now_text[40];
    if (month_ranges(opt, &from, &to, NULL, NULL) < 0 ||
        report_month_add(opt->month, -1, prev_month, sizeof prev_month) < 0)
        return GPUAAS_EINVAL;
    core_format_time(from, from_text, sizeof from_text);
    core_format_time(to, to_text, sizeof to_text);
    core_format_time(opt->now_ms, now_text, sizeof now_text);
    const json_t *total = json_object_get(in->by_namespace, "total");
    const json_t *prev_total = json_object_get(in->previous, "total");
    const char *currency = json_string_value(json_object_get(in->by_namespace, "currency"));
    json_t *namespaces = copy_rows(in->by_namespace);
    json_t *report = json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:o,s:s,s:o}", "kind", "GpuReport", "month", opt->month, "from", from_text,
        "to", to_text, "complete", opt->now_ms >= to, "generated_at", now_text, "scope",
        opt->scope ? opt->scope : "platform", "title", opt->title ? json_string(opt->title) : json_null(),
        "currency", currency ? currency : "", "total", total ? json_deep_copy(total) : json_object());
    if (!report || !namespaces)
        goto fail;
    json_t *prev = json_pack("{s:s,s:o,s:o}", "month", prev_month, "total",
                             prev_total ? json_deep_copy(prev_total) : json_object(), "orgs",
                             in->previous_by_org ? copy_rows(in->previous_by_org) : json_array());
    int failed = json_object_set_new(report, "orgs", copy_rows(in->by_org));
    failed |= json_object_set_new(report, "projects", copy_rows(in->by_project));
    failed |= json_object_set_new(report, "top_consumers", top_consumers(namespaces));
    failed |= json_object_set_new(report, "namespaces", namespaces);
    namespaces = NULL;
    failed |= json_object_set_new(report, "models", copy_rows(in->by_model));
    failed |= json_object_set_new(report, "capacity", copy_rows(in->by_capacity));
    failed |= json_object_set_new(report, "utilisation", utilisation(in->by_pod, total));
    failed |= json_object_set_new(report, "idle", idle(total));
    failed |= json_object_set_new(report, "previous", prev);
    failed |= json_object_set_new(report, "change", change(total, prev_total));
    if (failed)
        goto fail;
    *ret_report = report;
    return 0;
fail:
    json_decref(namespaces);
    json_decref(report);
    return GPUAAS_ENOMEM;
}

int report_build(const struct core_state *st, const struct report_options *opt, json_t **ret_report)
{
    static const enum meter_group groups[] = {METER_BY_NAMESPACE, METER_BY_PROJECT, METER_BY_ORG, METER_BY_MODEL,
                                              METER_BY_CAPACITY};
    json_t *usage[sizeof groups / sizeof groups[0]] = {NULL};
    json_t *by_pod = NULL, *previous = NULL;
    int64_t from, to, prev_from, prev_to;
    char prev_month[16];
    int r = GPUAAS_ENOMEM;
    if (month_ranges(opt, &from, &to, &prev_from, &prev_to) < 0 ||
        report_month_add(opt->month, -1, prev_month, sizeof prev_month) < 0)
        return GPUAAS_EINVAL;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        if (!(usage[g] = meter_usage(st, from, to, opt->now_ms, groups[g], opt->prices, opt->keep, opt->keep_arg)))
            goto out;
    /* one row per pod only when there is utilisation to bucket */
    if (json_is_number(json_object_get(json_object_get(usage[0], "total"), "util_avg_pct")) &&
        !(by_pod = meter_usage(st, from, to, opt->now_ms, METER_BY_POD, opt->prices, opt->keep, opt->keep_arg)))
        goto out;
    if (!(previous = meter_usage(st, prev_from, prev_to, opt->now_ms, METER_BY_ORG, opt->prices, opt->keep,
                                 opt->keep_arg)))
        goto out;
    struct report_inputs in = {.by_namespace = usage[0], .by_project = usage[1], .by_org = usage[2],
                               .by_model = usage[3], .by_capacity = usage[4], .by_pod = by_pod,
                               .previous = previous, .previous_by_org = previous};
    r = report_assemble(opt, &in, ret_report);
out:
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        json_decref(usage[g]);
    json_decref(by_pod);
    json_decref(previous);
    return r;
}
