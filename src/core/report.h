/* The monthly chargeback report: one JSON document per month, assembled
 * from the meter's usage (core/meter.h). GPU time stays exact (integer
 * milli-GPU x ms, "gpu_milli_ms"); costs are the meter's. Optional meter
 * fields (utilisation, idle time, list cost ...) are carried through when
 * the meter gives them and reported as null ("n/a") when it does not.
 * Pure: time comes in as now_ms. Renderers live in src/report/. */
#ifndef GPUAAS_CORE_REPORT_H
#define GPUAAS_CORE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/meter.h"
#include "core/model.h"

#define REPORT_TOP_CONSUMERS 10
#define REPORT_MONTH_LEN 7 /* "YYYY-MM" */
#define REPORT_TITLE_MAX 128 /* bytes of UTF-8 */

/* Per-pod utilisation buckets (percent, lower bound inclusive). */
#define REPORT_UTIL_BUCKETS 5
extern const char *const report_util_bucket_names[REPORT_UTIL_BUCKETS]; /* "0-20" ... "70-100", "n/a" */
/* The bucket of a per-pod average utilisation; NULL (no samples) is "n/a". */
unsigned report_util_bucket(const json_t *util_avg_pct);

/* The UTC month holding ms, as "YYYY-MM" (out has at least 8 bytes). */
void report_month_of(int64_t ms, char *out, size_t out_size);
/* month + delta months ("2026-01", -1 -> "2025-12"). GPUAAS_EINVAL when
 * month is not YYYY-MM or the result leaves 1970..9999. */
int report_month_add(const char *month, int delta, char *out, size_t out_size);

struct report_options {
    const char *month;                 /* "YYYY-MM" */
    /* the month and the one before as [from, to) in ms, from the metering
     * time zone (the shell computes them: src/report/months.c); all zero:
     * the UTC months */
    int64_t from_ms, to_ms, prev_from_ms, prev_to_ms;
    int64_t now_ms;                    /* generated_at; running pods count up to it */
    const struct meter_prices *prices; /* may be NULL */
    /* the namespaces counted (NULL: all), as meter_usage's keep */
    bool (*keep)(const char *ns, void *arg);
    void *keep_arg;
    const char *scope; /* what the report covers, shown as is ("platform") */
    const char *title; /* heading of the rendered report; NULL: none */
};

/* The meter's answers a report is assembled from (meter_usage JSON; each
 * borrowed). by_pod may be NULL when no row has utilisation (everything is
 * then "n/a"); previous is the month before, grouped by anything, and
 * previous_by_org (may be NULL) the same grouped by org. */
struct report_inputs {
    const json_t *by_namespace, *by_project, *by_org, *by_model, *by_capacity, *by_pod;
    const json_t *previous, *previous_by_org;
};

/* Assembles the document:
 * {"kind":"GpuReport","month","from","to","complete","generated_at","scope",
 *  "title","currency","total":ROW,"orgs":[ROW],"projects":[ROW],
 *  "namespaces":[ROW],"models":[ROW],"capacity":[ROW],"top_consumers":[ROW],
 *  "utilisation":{"available","buckets":[{"key","gpu_milli_ms","gpu_seconds","gpu_hours","pods"}]},
 *  "idle":{"idle_gpu_seconds","idle_gpu_hours","idle_share_pct","idle_cost"},
 *  "previous":{"month","total":ROW,"orgs":[ROW]},
 *  "change":{"gpu_milli_ms","gpu_hours","gpu_hours_pct","pods","cost","cost_pct"}}
 * ROW is a meter row as given. *ret_report is new (the caller's). */
int report_assemble(const struct report_options *opt, const struct report_inputs *in, json_t **ret_report);

/* Runs the meter over the month (and the one before) and assembles the
 * report. 0, GPUAAS_EINVAL (bad month) or GPUAAS_ENOMEM. */
int report_build(const struct core_state *st, const struct report_options *opt, json_t **ret_report);

#endif
