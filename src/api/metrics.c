/* GET /metrics: Prometheus text format. GPU metrics carry the names
 * dcgm-exporter uses (so existing dashboards and alerts work) plus the
 * namespace, pod and job holding the GPU; platform metrics are gpuaas_*.
 * Rendered in the engine thread from one consistent state. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/meter.h"
#include "core/model.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"

struct text {
    char *data;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = cap <= (64u << 20) ? realloc(t->data, cap) : NULL;
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
}

/* Label values escape backslash, quote and newline. */
static const char *esc(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o + 3 < size; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct gpu_metric {
    const char *name, *field, *help;
    double scale;
};

static void gpu_metrics(struct text *t, const json_t *rows)
{
    static const struct gpu_metric metrics[] = {
        {"DCGM_FI_DEV_GPU_UTIL", "utilization_pct", "GPU utilization (in %).", 1},
        {"DCGM_FI_DEV_FB_USED", "memory_used_bytes", "Framebuffer memory used (in MiB).", 1.0 / 1048576},
        {"DCGM_FI_DEV_FB_FREE", "memory_free_bytes", "Framebuffer memory free (in MiB).", 1.0 / 1048576},
        {"DCGM_FI_DEV_GPU_TEMP", "temperature_c", "GPU temperature (in C).", 1},
        {"DCGM_FI_DEV_POWER_USAGE", "power_w", "Power draw (in W).", 1},
        {"DCGM_FI_DEV_XID_ERRORS", "xid_last", "Value of the last XID error encountered.", 1},
    };
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        family(t, metrics[m].name, "gauge", metrics[m].help);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            json_t *v = json_object_get(row, metrics[m].field);
            if (!json_is_number(v))
                continue; /* simulated GPUs have no live readings */
            json_t *holder = json_object_get(row, "allocated_to");
            char a[5][256];
            char pod[96] = "";
            if (json_is_object(holder))
                snprintf(pod, sizeof pod, "%s-r%lld", json_string_value(json_object_get(holder, "job")),
                         (long long)json_integer_value(json_object_get(holder, "replica")));
            put(t,
                "%s{gpu=\"%lld\",UUID=\"%s\",modelName=\"%s\",Hostname=\"%s\",namespace=\"%s\",pod=\"%s\","
                "job=\"%s\"} %.6g\n",
                metrics[m].name, (long long)json_integer_value(json_object_get(row, "index")),
                esc(json_string_value(json_object_get(row, "uuid")), a[0], sizeof a[0]),
                esc(json_string_value(json_object_get(row, "model")), a[1], sizeof a[1]),
                esc(json_string_value(json_object_get(row, "node")), a[2], sizeof a[2]),
                esc(json_is_object(holder) ? json_string_value(json_object_get(holder, "namespace")) : "", a[3],
                    sizeof a[3]),
                pod, esc(json_is_object(holder) ? json_string_value(json_object_get(holder, "job")) : "", a[4],
                         sizeof a[4]),
                json_number_value(v) * metrics[m].scale);
        }
    }
}

static void platform_metrics(struct text *t, const struct core_state *st, const json_t *gpu_rows, int64_t now_ms)
{
    char a[4][256];
    size_t i;
    json_t *row;
    family(t, "gpuaas_gpus", "gauge", "GPUs by node, model, capacity type and whether they are allocated.");
    json_array_foreach(gpu_rows, i, row) {
        put(t, "gpuaas_gpus{node=\"%s\",model=\"%s\",capacity_type=\"%s\",allocated=\"%s\"} 1\n",
            esc(json_string_value(json_object_get(row, "node")), a[0], sizeof a[0]),
            esc(json_string_value(json_object_get(row, "model")), a[1], sizeof a[1]),
            esc(json_string_value(json_object_get(row, "capacity_type")), a[2], sizeof a[2]),
            json_is_true(json_object_get(row, "allocated")) ? "true" : "false");
    }
    family(t, "gpuaas_node_state", "gauge", "1 for the state each node is in (Ready, Cordoned, Failed).");
    for (size_t n = 0; n < st->node_order_count; n++)
        put(t, "gpuaas_node_state{node=\"%s\",state=\"%s\"} 1\n", esc(st->node_order[n]->name, a[0], sizeof a[0]),
            core_node_state_name(st->node_order[n]->state));

    /* jobs by namespace and state; pending ones by how long they have waited */
    family(t, "gpuaas_jobs", "gauge", "Jobs by namespace and state.");
    family(t, "gpuaas_job_restarts_total", "counter", "Restarts of each job's pods (OnFailure policy).");
    void *value;
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        put(t, "gpuaas_jobs{namespace=\"%s\",job=\"%s\",state=\"%s\"} 1\n",
            esc(job->spec.namespace_path, a[0], sizeof a[0]), esc(job->spec.name, a[1], sizeof a[1]),
            core_job_state_name(job->state));
        if (job->restarts)
            put(t, "gpuaas_job_restarts_total{namespace=\"%s\",job=\"%s\"} %d\n",
                esc(job->spec.namespace_path, a[0], sizeof a[0]), esc(job->spec.name, a[1], sizeof a[1]),
                job->restarts);
    }
    family(t, "gpuaas_pending_job_wait_seconds", "gauge", "How long each pending job has waited, by reason.");
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        if (job->state != JOB_PENDING)
            continue;
        char reason[64];
        snprintf(reason, sizeof reason, "%.*s", (int)strcspn(job->reason, ":"), job->reason);
        put(t, "gpuaas_pending_job_wait_seconds{namespace=\"%s\",job=\"%s\",reason=\"%s\"} %.3f\n",
            esc(job->spec.namespace_path, a[0], sizeof a[0]), esc(job->spec.name, a[1], sizeof a[1]),
            esc(reason, a[2], sizeof a[2]), (now_ms - job->created_ms) / 1000.0);
    }
    family(t, "gpuaas_quota_limit", "gauge", "Quota limits by namespace and resource.");
    family(t, "gpuaas_quota_used", "gauge", "What a namespace subtree holds, by resource.");
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
        const struct core_namespace *ns = value;
        if (!ns->has_quota)
            continue;
        static const char *const names[] = {"gpus", "gpu_milli", "cpu_milli", "memory_bytes", "pods"};
        const int64_t lim[] = {ns->quota.gpus, ns->quota.gpu_milli, ns->quota.cpu_milli, ns->quota.memory_bytes,
                               ns->quota.pods};
        const int64_t used[] = {ns->used.gpus, ns->used.gpu_milli, ns->used.cpu_milli, ns->used.memory_bytes,
                                ns->used.pods};
        for (int k = 0; k < 5; k++) {
            if (lim[k] == QUOTA_UNLIMITED)
                continue;
            put(t, "gpuaas_quota_limit{namespace=\"%s\",resource=\"%s\"} %lld\n", esc(ns->path, a[0], sizeof a[0]),
                names[k], (long long)lim[k]);
            put(t, "gpuaas_quota_used{namespace=\"%s\",resource=\"%s\"} %lld\n", esc(ns->path, a[0], sizeof a[0]),
                names[k], (long long)used[k]);
        }
    }
    /* exact GPU-seconds: increase() over a window gives GPU-hours */
    family(t, "gpuaas_allocated_gpu_seconds_total", "counter",
           "Allocated GPU-seconds by namespace, model and capacity type since the start of the records.");
    json_t *usage = meter_usage(st, 0, now_ms, now_ms, METER_BY_SERIES, NULL, NULL, NULL);
    if (!usage) {
        t->failed = true;
        return;
    }
    json_array_foreach(json_object_get(usage, "rows"), i, row) {
        char ns[NS_PATH_MAX + 1], model[32], capacity[16];
        if (sscanf(json_string_value(json_object_get(row, "key")), "%191s %31s %15s", ns, model, capacity) != 3 ||
            strcmp(model, "none") == 0)
            continue; /* pods without GPUs */
        put(t, "gpuaas_allocated_gpu_seconds_total{namespace=\"%s\",model=\"%s\",capacity_type=\"%s\"} %.3f\n",
            esc(ns, a[0], sizeof a[0]), esc(model, a[1], sizeof a[1]), esc(capacity, a[2], sizeof a[2]),
            json_real_value(json_object_get(row, "gpu_seconds")));
    }
    json_decref(usage);
}

/* API request counts by route and status class, and latency histograms. */
static void http_metrics(struct text *t)
{
    family(t, "gpuaas_http_requests_total", "counter", "API requests answered, by route and status class.");
    for (unsigned r = 0; r <= api_route_count; r++) {
        const struct api_route_stats *st = api_stats(r);
        const char *method = r < api_route_count ? api_routes[r].method : "-";
        const char *route = r < api_route_count ? api_routes[r].pattern : "unmatched";
        for (unsigned c = 1; c < 6; c++) {
            unsigned long long n = atomic_load(&st->by_class[c]);
            if (n)
                put(t, "gpuaas_http_requests_total{method=\"%s\",route=\"%s\",status=\"%uxx\"} %llu\n", method,
                    route, c, n);
        }
    }
    family(t, "gpuaas_http_request_duration_seconds", "histogram",
           "Time from a request's first byte to its answer (durable for mutations), by route.");
    for (unsigned r = 0; r <= api_route_count; r++) {
        const struct api_route_stats *st = api_stats(r);
        unsigned long long total = 0;
        for (unsigned b = 0; b < API_LATENCY_BUCKETS; b++)
            total += atomic_load(&st->buckets[b]);
        if (!total)
            continue;
        const char *method = r < api_route_count ? api_routes[r].method : "-";
        const char *route = r < api_route_count ? api_routes[r].pattern : "unmatched";
        unsigned long long cumulative = 0;
        for (unsigned b = 0; b < API_LATENCY_BUCKETS; b++) {
            cumulative += atomic_load(&st->buckets[b]);
            if (b < API_LATENCY_BUCKETS - 1)
                put(t, "gpuaas_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
                    method, route, api_latency_bounds_s[b], cumulative);
            else
                put(t, "gpuaas_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
                    method, route, cumulative);
        }
        put(t, "gpuaas_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", method, route,
            atomic_load(&st->sum_us) / 1e6);
        put(t, "gpuaas_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n", method, route,
            cumulative);
    }
}

void api_metrics_query(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    struct text t = {.data = malloc(65536), .cap = 65536};
    json_t *gpus = core_list_gpus(st);
    if (!t.data || !gpus) {
        free(t.data);
        json_decref(gpus);
        reply->err = GPUAAS_ENOMEM;
        snprintf(reply->message, sizeof reply->message, "out of memory");
        return;
    }
    json_t *rows = json_object_get(gpus, "items");
    api_gpu_annotate(req->server, rows);
    /* free framebuffer = total - used, where both are known */
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        int64_t total;
        json_t *used = json_object_get(row, "memory_used_bytes");
        const char *memory = json_string_value(json_object_get(row, "memory"));
        if (json_is_integer(used) && memory && quantity_parse_memory_bytes(memory, &total) == 0 &&
            total >= json_integer_value(used))
            json_object_set_new(row, "memory_free_bytes", json_integer(total - json_integer_value(used)));
    }
    gpu_metrics(&t, rows);
    platform_metrics(&t, st, rows, api_now_ms(req->server));
    http_metrics(&t);
    json_decref(gpus);
    if (t.failed) {
        free(t.data);
        reply->err = GPUAAS_ENOMEM;
        snprintf(reply->message, sizeof reply->message, "metrics too large");
        return;
    }
    req->raw_text = t.data;
    req->raw_len = t.len;
    req->raw_content_type = "text/plain; version=0.0.4; charset=utf-8";
    snprintf(req->raw_headers[0][0], sizeof req->raw_headers[0][0], "X-Content-Type-Options");
    snprintf(req->raw_headers[0][1], sizeof req->raw_headers[0][1], "nosniff");
    reply->err = 0;
}
