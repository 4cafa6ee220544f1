/* Metering: GPU time per pod, from the pod records (one per replica
 * attempt). Billing counts allocated time (from placement to the end), not
 * busy time; each attempt is charged on its own, so no second is charged
 * twice. Amounts are exact integers (milli-GPU x milliseconds). Pure. */
#ifndef GPUAAS_CORE_METER_H
#define GPUAAS_CORE_METER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

enum meter_group {
    METER_BY_NAMESPACE,
    METER_BY_PROJECT,  /* org/project */
    METER_BY_ORG,
    METER_BY_MODEL,
    METER_BY_CAPACITY, /* spot / on-demand */
    METER_BY_NODE,
    METER_BY_POD,
    METER_BY_SERIES,   /* "namespace model capacity" (space-separated: none of them holds a space) */
    METER_BY_NODE_GROUP, /* the node's gpuaas.io/node-group label when the pod was placed */
};

#define METER_PRICES_MAX 64

struct meter_price {
    char model[32];
    char capacity_type[16]; /* "spot", "on-demand" */
    double per_gpu_hour;
};

struct meter_prices {
    char currency[8];
    /* the seed's utilisation factor: each pod pays list price x a factor
     * from its average utilisation (meter_util_factor); rows then show
     * list_cost, utilisation_discount and idle_cost on their own */
    bool utilisation_factor;
    unsigned count;
    struct meter_price items[METER_PRICES_MAX];
};

int meter_group_from_name(const char *name, enum meter_group *ret);
const char *meter_group_name(enum meter_group group);
/* "2026-11" -> [2026-11-01T00:00Z, 2026-12-01T00:00Z) in ms. */
int meter_month_range(const char *month, int64_t *ret_from_ms, int64_t *ret_to_ms);
/* "1795000000000" (ms), "2026-11-25", "2026-11-25T16:00:00Z" (UTC) -> ms. */
int meter_parse_time(const char *text, int64_t *ret_ms);
/* Milli-GPUs a device counts for: 1000 for a whole GPU, its share for a
 * share, N/7 of a GPU for an "Ng.*" MIG slice. */
int64_t meter_device_milli(const struct core_pod_device *d);

/* >= 70 % -> 1.0, 40-69 % -> 0.8, 20-39 % -> 0.6, < 20 % -> 0.4. */
double meter_util_factor(double util_avg_pct);

/* A pod's utilisation sums inside [from_ms, to_ms), for a pod whose interval
 * crosses an edge of the query (the shell reads the hourly rollups).
 * Returns 0, or < 0 to fall back to the pod's sums scaled by the overlap. */
typedef int (*meter_util_window_fn)(void *arg, uint64_t pod_id, int64_t from_ms, int64_t to_ms,
                                    struct core_pod_util *ret);

struct meter_query {
    int64_t from_ms, to_ms; /* [from, to) */
    int64_t now_ms;         /* open intervals count up to now */
    enum meter_group by;
    const struct meter_prices *prices; /* NULL: no costs */
    bool (*keep)(const char *ns, void *arg); /* NULL: every namespace */
    void *keep_arg;
    meter_util_window_fn util_window; /* NULL: scaled sums */
    void *util_window_arg;
    const char *time_zone; /* shown in the answer (NULL: "UTC"); the range is already in ms */
};

/* Usage over [from, to): {"from","to","by","currency","time_zone",
 * "utilisation_factor","rows":[{"key","gpu_seconds","gpu_hours",
 * "gpu_milli_ms","pods","cost","util_avg_pct","idle_gpu_seconds",
 * "mem_avg_bytes" (+ "list_cost","utilisation_discount","idle_cost" when
 * the factor is on)}],"total":{...}}, rows sorted by key. util_avg_pct and
 * mem_avg_bytes are null without samples; cost (and the factor's fields)
 * null when a price is missing. New object, NULL on out of memory. */
json_t *meter_usage_query(const struct core_state *st, const struct meter_query *q);
/* The same over a ledger alone (benchmarks, tests). */
json_t *meter_ledger_usage(const struct ledger *l, const struct meter_query *q);

/* Usage over [from_ms, to_ms) (pods still running count up to now_ms),
 * grouped; keep(ns, arg) selects the namespaces counted (NULL: all).
 * Returns {"from","to","by","currency","rows":[{"key","gpu_seconds",
 * "gpu_hours","pods","cost"}],"total":{...}} sorted by key. */
json_t *meter_usage(const struct core_state *st, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                    enum meter_group by, const struct meter_prices *prices,
                    bool (*keep)(const char *ns, void *arg), void *arg);

#endif
