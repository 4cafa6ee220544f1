/* GET /metrics: Prometheus text format. GPU metrics carry the names
 * dcgm-exporter uses (so existing dashboards and alerts work) plus the
 * namespace, pod and job holding the GPU; platform metrics are gpuaas_*.
 * Every family is written in one piece (HELP, TYPE, then its samples) and
 * no two samples of a family share a label set. docs/metrics.md lists them. */
#include "api/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "core/meter.h"
#include "report/months.h"
#include "gpuaas/error.h"
#include "lib/hmap.h"

#define TEXT_MAX (256u << 20)

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
        char *grown = cap <= TEXT_MAX ? realloc(t->data, cap) : NULL;
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
}

/* Label values escape backslash, quote and newline (names and paths that
 * gpuaas validated never hold them: those come back as they are). */
static const char *esc(const char *in, char *out, size_t size)
{
    if (!in)
        return "";
    if (!strpbrk(in, "\\\"\n"))
        return in;
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < size; p++) {
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

static const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* ---- fast appending (the GPU families are most of the text) ---------------------- */

static bool reserve(struct text *t, size_t n)
{
    if (t->failed)
        return false;
    if (t->len + n <= t->cap)
        return true;
    size_t cap = t->cap * 2 > t->len + n ? t->cap * 2 : t->len + n;
    char *grown = cap <= TEXT_MAX ? realloc(t->data, cap) : NULL;
    if (!grown) {
        t->failed = true;
        return false;
    }
    t->data = grown;
    t->cap = cap;
    return true;
}

static void append(struct text *t, const char *s, size_t n)
{
    if (reserve(t, n)) {
        memcpy(t->data + t->len, s, n);
        t->len += n;
    }
}

/* Integers as digits, anything else as %.10g. */
static void append_value(struct text *t, double v)
{
    char buf[40];
    size_t n;
    if (v == (double)(int64_t)v && v > -1e15 && v < 1e15) {
        int64_t i = (int64_t)v;
        char digits[24];
        size_t d = 0;
        uint64_t u = i < 0 ? (uint64_t)-i : (uint64_t)i;
        do
            digits[d++] = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        n = 0;
        if (i < 0)
            buf[n++] = '-';
        while (d)
            buf[n++] = digits[--d];
    } else {
        n = (size_t)snprintf(buf, sizeof buf, "%.10g", v);
    }
    append(t, buf, n);
}

/* ---- DCGM-named GPU metrics -------------------------------------------------- */

/* A GPU as the metrics see it, worked out once per scrape. */
struct gpu_view {
    const struct core_node *node;
    const struct core_gpu *gpu;
    const char *capacity;
    bool allocated;
    bool has_reading;
    uint64_t holder;     /* the whole GPU's pod, or its only share's; 0: none */
    size_t labels_at, labels_len;
    struct metrics_reading r;
};

/* Pods holding shares of a node's GPUs (the core keeps only the sum). */
struct node_shares {
    char name[NAME_LABEL_MAX + 1];
    uint64_t pod[CORE_NODE_GPUS_MAX];
    unsigned count[CORE_NODE_GPUS_MAX];
};

static int collect_shares(const struct core_state *st, struct hmap *by_node)
{
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (core_pod_state_final(pod->state))
            continue;
        for (uint32_t d = 0; d < pod->device_count; d++) {
            const struct core_pod_device *dev = &pod->devices[d];
            if (dev->mig >= 0 || dev->milli >= 1000 || dev->gpu >= CORE_NODE_GPUS_MAX)
                continue;
            struct node_shares *ns = hmap_get(by_node, pod->node);
            if (!ns) {
                ns = calloc(1, sizeof *ns);
                if (!ns)
                    return GPUAAS_ENOMEM;
                snprintf(ns->name, sizeof ns->name, "%s", pod->node);
                if (hmap_put(by_node, ns->name, ns) < 0) {
                    free(ns);
                    return GPUAAS_ENOMEM;
                }
            }
            ns->pod[dev->gpu] = pod->id;
            ns->count[dev->gpu]++;
        }
    }
    return 0;
}

static void append_str(struct text *t, const char *str) { append(t, str, strlen(str)); }

/* label="escaped value" */
static void append_label(struct text *t, const char *comma_name_eq_quote, const char *value)
{
    char buf[512];
    append_str(t, comma_name_eq_quote);
    append_str(t, esc(value, buf, sizeof buf));
    append(t, "\"", 1);
}

/* `gpu="0",UUID=...,modelName=...,Hostname=...[,GPU_I_PROFILE,GPU_I_ID],
 * namespace=...,pod=...,job=...` appended to t (built piece by piece: this
 * runs for every GPU of every scrape). */
static void gpu_labels(struct text *t, const struct core_state *st, const struct gpu_view *v, bool snake,
                       const char *mig_profile, int mig_instance, uint64_t holder_id)
{
    const struct core_pod *holder = holder_id ? core_find_pod(st, holder_id) : NULL;
    append(t, "gpu=\"", 5);
    append_value(t, v->gpu->index);
    append_label(t, "\",UUID=\"", v->gpu->uuid);
    append_label(t, snake ? ",model_name=\"" : ",modelName=\"", v->gpu->model);
    append_label(t, ",Hostname=\"", v->node->name);
    if (mig_profile) {
        append_label(t, ",GPU_I_PROFILE=\"", mig_profile);
        append(t, ",GPU_I_ID=\"", 11);
        append_value(t, mig_instance);
        append(t, "\"", 1);
    }
    append_label(t, ",namespace=\"", holder ? holder->namespace_path : "");
    char buf[512];
    append_str(t, ",pod=\"");
    if (holder) { /* JOB-rREPLICA */
        append_str(t, esc(holder->job_name, buf, sizeof buf));
        append(t, "-r", 2);
        append_value(t, holder->replica);
    }
    append(t, "\"", 1);
    append_label(t, ",job=\"", holder ? holder->job_name : "");
}

static struct gpu_view *gpu_views(const struct metrics_input *in, struct text *labels, size_t *ret_count)
{
    const struct core_state *st = in->st;
    size_t count = 0;
    for (size_t n = 0; n < st->node_order_count; n++)
        count += st->node_order[n]->gpu_count;
    struct gpu_view *views = count ? malloc(count * sizeof *views) : NULL;
    struct hmap shares;
    hmap_init(&shares);
    if ((count && !views) || collect_shares(st, &shares) < 0) {
        free(views);
        views = NULL;
        labels->failed = true;
        goto out;
    }
    size_t i = 0;
    for (size_t n = 0; n < st->node_order_count; n++) {
        const struct core_node *node = st->node_order[n];
        const char *capacity = core_node_label(node, "gpuaas.io/capacity-type");
        const struct node_shares *ns = shares.count ? hmap_get(&shares, node->name) : NULL;
        for (uint32_t g = 0; g < node->gpu_count; g++, i++) {
            struct gpu_view *v = &views[i];
            v->node = node;
            v->gpu = &node->gpus[g];
            v->capacity = capacity ? capacity : "on-demand";
            v->holder = node->alloc.gpu_pod[g];
            if (!v->holder && ns && ns->count[g] == 1)
                v->holder = ns->pod[g];
            v->allocated = node->alloc.gpu_pod[g] != 0 || node->alloc.gpu_milli_used[g] > 0;
            for (uint32_t m = 0; m < v->gpu->mig_count; m++)
                v->allocated |= node->alloc.mig_pod[g][m] != 0;
            v->has_reading = in->reading && in->reading(in->reading_arg, v->gpu->uuid, &v->r);
            v->labels_at = labels->len;
            gpu_labels(labels, st, v, in->snake_case_labels, NULL, 0, v->holder);
            v->labels_len = labels->len - v->labels_at;
        }
    }
    *ret_count = count;
out: {
    void *value;
    for (size_t it = 0; hmap_next(&shares, &it, NULL, &value);)
        free(value);
    hmap_free(&shares);
}
    return views;
}

enum gpu_field { F_UTIL, F_FB_USED, F_FB_FREE, F_TEMP, F_POWER, F_XID };

/* The field's value for a whole GPU; false when not available. */
static bool gpu_value(const struct gpu_view *v, enum gpu_field f, double *ret)
{
    const struct metrics_reading *r = &v->r;
    if (!v->has_reading)
        return false;
    switch (f) {
    case F_UTIL:
        *ret = r->utilization_pct;
        return r->utilization_pct >= 0;
    case F_FB_USED:
        *ret = r->memory_used_bytes / 1048576.0;
        return r->memory_used_bytes >= 0;
    case F_FB_FREE:
        *ret = (v->gpu->memory_bytes - r->memory_used_bytes) / 1048576.0;
        return r->memory_used_bytes >= 0 && v->gpu->memory_bytes >= r->memory_used_bytes;
    case F_TEMP:
        *ret = r->temperature_c;
        return r->temperature_c >= 0;
    case F_POWER:
        *ret = r->power_mw / 1000.0;
        return r->power_mw >= 0;
    case F_XID:
        *ret = (double)r->xid_last;
        return r->xid_last >= 0;
    }
    return false;
}

/* MIG slices of a GPU with readings: their own FB series. */
static void mig_lines(struct text *t, const struct core_state *st, const struct gpu_view *v, const char *name,
                      size_t name_len, bool free_memory, bool snake)
{
    unsigned g = (unsigned)(v->gpu - v->node->gpus);
    for (uint32_t m = 0; m < v->gpu->mig_count; m++) {
        for (unsigned k = 0; k < v->r.mig_count && k < METRICS_MIG_MAX; k++) {
            const __typeof__(v->r.mig[0]) *rm = &v->r.mig[k];
            if (strcmp(rm->uuid, v->gpu->mig[m].uuid) != 0 || rm->gpu_instance_id < 0 || rm->memory_used_bytes < 0)
                continue;
            if (free_memory && rm->memory_total_bytes < rm->memory_used_bytes)
                continue;
            append(t, name, name_len);
            append(t, "{", 1);
            gpu_labels(t, st, v, snake, v->gpu->mig[m].profile, rm->gpu_instance_id, v->node->alloc.mig_pod[g][m]);
            append(t, "} ", 2);
            append_value(t, (free_memory ? rm->memory_total_bytes - rm->memory_used_bytes : rm->memory_used_bytes) /
                                1048576.0);
            append(t, "\n", 1);
        }
    }
}

static void gpu_metrics(struct text *t, const struct core_state *st, const struct gpu_view *views, size_t count,
                        const char *labels, bool snake)
{
    static const struct {
        const char *name, *help;
        enum gpu_field field;
    } metrics[] = {
        {"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", F_UTIL},
        {"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", F_FB_USED},
        {"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", F_FB_FREE},
        {"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", F_TEMP},
        {"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", F_POWER},
        {"DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", F_XID},
    };
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        family(t, metrics[m].name, "gauge", metrics[m].help);
        size_t name_len = strlen(metrics[m].name);
        for (size_t i = 0; i < count && !t->failed; i++) {
            const struct gpu_view *v = &views[i];
            double value;
            if (gpu_value(v, metrics[m].field, &value)) { /* simulated GPUs have no readings */
                append(t, metrics[m].name, name_len);
                append(t, "{", 1);
                append(t, labels + v->labels_at, v->labels_len);
                append(t, "} ", 2);
                append_value(t, value);
                append(t, "\n", 1);
            }
            if (v->has_reading && v->r.mig_count && (metrics[m].field == F_FB_USED || metrics[m].field == F_FB_FREE))
                mig_lines(t, st, v, metrics[m].name, name_len, metrics[m].field == F_FB_FREE, snake);
        }
    }
}

/* ---- GPUs by node, model and capacity type ------------------------------------- */

struct gpu_group {
    const char *node, *model, *capacity;
    unsigned allocated, free, idle;
};

static void gpu_counts(struct text *t, const struct gpu_view *views, size_t count)
{
    size_t groups = 0;
    struct gpu_group *g = count ? calloc(count, sizeof *g) : NULL;
    if (count && !g) {
        t->failed = true;
        return;
    }
    /* views come node by node; a node's GPUs may be of several models */
    size_t node_first = 0;
    for (size_t i = 0; i < count; i++) {
        const struct gpu_view *v = &views[i];
        if (groups > 0 && g[groups - 1].node != v->node->name)
            node_first = groups;
        size_t k = node_first;
        while (k < groups && strcmp(g[k].model, v->gpu->model) != 0)
            k++;
        if (k == groups)
            g[groups++] = (struct gpu_group){v->node->name, v->gpu->model, v->capacity, 0, 0, 0};
        if (v->allocated) {
            g[k].allocated++;
            if (v->has_reading && v->r.utilization_pct >= 0 && v->r.utilization_pct < METRICS_IDLE_UTIL_PCT)
                g[k].idle++;
        } else {
            g[k].free++;
        }
    }
    char a[3][256];
    family(t, "gpuaas_gpus", "gauge",
           "GPUs by node, model, capacity type and state: allocated (wholly or in part) or free.");
    for (size_t k = 0; k < groups; k++)
        for (int s = 0; s < 2; s++)
            put(t, "gpuaas_gpus{node=\"%s\",model=\"%s\",capacity_type=\"%s\",state=\"%s\"} %u\n",
                esc(g[k].node, a[0], sizeof a[0]), esc(g[k].model, a[1], sizeof a[1]),
                esc(g[k].capacity, a[2], sizeof a[2]), s ? "free" : "allocated", s ? g[k].free : g[k].allocated);
    family(t, "gpuaas_gpus_idle", "gauge",
           "Allocated GPUs whose latest sampled utilization is below 10 %, by node, model and capacity type.");
    for (size_t k = 0; k < groups; k++)
        put(t, "gpuaas_gpus_idle{node=\"%s\",model=\"%s\",capacity_type=\"%s\"} %u\n",
            esc(g[k].node, a[0], sizeof a[0]), esc(g[k].model, a[1], sizeof a[1]),
            esc(g[k].capacity, a[2], sizeof a[2]), g[k].idle);
    free(g);
}

/* ---- jobs ------------------------------------------------------------------------ */

#define JOB_STATES 5

struct ns_jobs {
    char key[NS_PATH_MAX + 40]; /* namespace, or "namespace\x1freason" */
    size_t ns_len;
    int64_t count[JOB_STATES];
    int64_t oldest_ms;
};

/* The kind of wait: "quota", "capacity", "back-off", "waiting", ... (the
 * reason's first word, letters and '-' only). */
static void reason_kind(const char *reason, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = reason; *p && o + 1 < size && ((*p >= 'a' && *p <= 'z') || *p == '-'); p++)
        out[o++] = *p;
    out[o] = '\0';
    if (!o)
        snprintf(out, size, "other");
}

static struct ns_jobs *group_get(struct hmap *map, const char *ns, const char *reason, bool *failed)
{
    char key[sizeof((struct ns_jobs *)0)->key];
    snprintf(key, sizeof key, "%s%s%s", ns, reason ? "\x1f" : "", reason ? reason : "");
    struct ns_jobs *g = hmap_get(map, key);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g) {
        *failed = true;
        return NULL;
    }
    memcpy(g->key, key, sizeof key);
    g->ns_len = strlen(ns);
    if (hmap_put(map, g->key, g) < 0) {
        free(g);
        *failed = true;
        return NULL;
    }
    return g;
}

static int compare_groups(const void *a, const void *b)
{
    return strcmp((*(struct ns_jobs *const *)a)->key, (*(struct ns_jobs *const *)b)->key);
}

/* The groups in key order (so the output is stable); NULL when empty or on
 * failure (then *failed). */
static struct ns_jobs **group_sorted(const struct hmap *map, bool *failed)
{
    if (!map->count)
        return NULL;
    struct ns_jobs **list = malloc(map->count * sizeof *list);
    if (!list) {
        *failed = true;
        return NULL;
    }
    size_t n = 0;
    void *value;
    for (size_t it = 0; hmap_next(map, &it, NULL, &value);)
        list[n++] = value;
    qsort(list, n, sizeof *list, compare_groups);
    return list;
}

static void group_free(struct hmap *map)
{
    void *value;
    for (size_t it = 0; hmap_next(map, &it, NULL, &value);)
        free(value);
    hmap_free(map);
}

static void job_metrics(struct text *t, const struct core_state *st, int64_t now_ms)
{
    struct hmap by_ns, pending;
    hmap_init(&by_ns);
    hmap_init(&pending);
    bool failed = false;
    void *value;
    for (size_t it = 0; !failed && hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        struct ns_jobs *g = hmap_get(&by_ns, job->spec.namespace_path);
        if (!g)
            g = group_get(&by_ns, job->spec.namespace_path, NULL, &failed);
        if (g && (unsigned)job->state < JOB_STATES)
            g->count[job->state]++;
        if (job->state != JOB_PENDING)
            continue;
        char kind[32];
        reason_kind(job->reason, kind, sizeof kind);
        struct ns_jobs *p = group_get(&pending, job->spec.namespace_path, kind, &failed);
        if (p) {
            p->count[0]++;
            if (!p->oldest_ms || job->created_ms < p->oldest_ms)
                p->oldest_ms = job->created_ms;
        }
    }
    struct ns_jobs **list = group_sorted(&by_ns, &failed);
    struct ns_jobs **plist = group_sorted(&pending, &failed);
    char a[2][512];
    family(t, "gpuaas_jobs", "gauge", "Jobs by namespace and state.");
    for (size_t i = 0; list && i < by_ns.count; i++)
        for (int s = 0; s < JOB_STATES; s++)
            put(t, "gpuaas_jobs{namespace=\"%s\",state=\"%s\"} %lld\n", esc(list[i]->key, a[0], sizeof a[0]),
                core_job_state_name((enum job_state)s), (long long)list[i]->count[s]);
    family(t, "gpuaas_pending_jobs", "gauge", "Pending jobs by namespace and the kind of reason (starting: placed, pods not started yet).");
    for (size_t i = 0; plist && i < pending.count; i++) {
        snprintf(a[1], sizeof a[1], "%.*s", (int)plist[i]->ns_len, plist[i]->key);
        put(t, "gpuaas_pending_jobs{namespace=\"%s\",reason=\"%s\"} %lld\n", esc(a[1], a[0], sizeof a[0]),
            plist[i]->key + plist[i]->ns_len + 1, (long long)plist[i]->count[0]);
    }
    family(t, "gpuaas_pending_job_max_wait_seconds", "gauge",
           "How long the longest-waiting pending job has waited since submission, by namespace and reason.");
    for (size_t i = 0; plist && i < pending.count; i++) {
        snprintf(a[1], sizeof a[1], "%.*s", (int)plist[i]->ns_len, plist[i]->key);
        int64_t wait_ms = now_ms - plist[i]->oldest_ms;
        put(t, "gpuaas_pending_job_max_wait_seconds{namespace=\"%s\",reason=\"%s\"} %.3f\n",
            esc(a[1], a[0], sizeof a[0]), plist[i]->key + plist[i]->ns_len + 1,
            (wait_ms > 0 ? wait_ms : 0) / 1000.0);
    }
    free(list);
    free(plist);
    group_free(&by_ns);
    group_free(&pending);
    if (failed)
        t->failed = true;

    /* active jobs always (so the first restart is an increase), ended ones
     * that restarted */
    family(t, "gpuaas_job_restarts_total", "counter",
           "Restarts of a job's pods after a failure (restart policy OnFailure), by namespace and job.");
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);) {
        const struct core_job *job = value;
        bool active = job->state == JOB_PENDING || job->state == JOB_RUNNING;
        if (active || job->restarts)
            put(t, "gpuaas_job_restarts_total{namespace=\"%s\",job=\"%s\"} %d\n",
                esc(job->spec.namespace_path, a[0], sizeof a[0]), esc(job->spec.name, a[1], sizeof a[1]),
                job->restarts);
    }
}

/* ---- nodes, quotas, usage -------------------------------------------------------- */

static void node_metrics(struct text *t, const struct core_state *st)
{
    static const enum node_state states[] = {NODE_READY, NODE_CORDONED, NODE_FAILED};
    char a[256];
    family(t, "gpuaas_node_state", "gauge", "1 for the state a node is in (Ready, Cordoned, Failed), else 0.");
    for (size_t n = 0; n < st->node_order_count; n++) {
        const struct core_node *node = st->node_order[n];
        const char *name = esc(node->name, a, sizeof a);
        for (size_t s = 0; s < sizeof states / sizeof states[0]; s++)
            put(t, "gpuaas_node_state{node=\"%s\",state=\"%s\"} %d\n", name, core_node_state_name(states[s]),
                node->state == states[s]);
    }
}

static void quota_lines(struct text *t, const char *name, const char *ns, const struct quota_amounts *q,
                        const struct quota_amounts *limit)
{
    static const char *const names[] = {"gpus", "gpu_milli", "cpu_cores", "memory_bytes", "pods"};
    const int64_t lim[] = {limit->gpus, limit->gpu_milli, limit->cpu_milli, limit->memory_bytes, limit->pods};
    const int64_t value[] = {q->gpus, q->gpu_milli, q->cpu_milli, q->memory_bytes, q->pods};
    for (int k = 0; k < 5; k++) {
        if (lim[k] == QUOTA_UNLIMITED)
            continue;
        if (k == 2)
            put(t, "%s{namespace=\"%s\",resource=\"%s\"} %.3f\n", name, ns, names[k], value[k] / 1000.0);
        else
            put(t, "%s{namespace=\"%s\",resource=\"%s\"} %lld\n", name, ns, names[k], (long long)value[k]);
    }
    char a[80];
    for (uint32_t m = 0; m < limit->model_count; m++)
        put(t, "%s{namespace=\"%s\",resource=\"gpus:%s\"} %lld\n", name, ns,
            esc(limit->models[m].name, a, sizeof a),
            (long long)quota_kind_get(q->models, q->model_count, limit->models[m].name));
    for (uint32_t m = 0; m < limit->mig_count; m++)
        put(t, "%s{namespace=\"%s\",resource=\"mig:%s\"} %lld\n", name, ns, esc(limit->migs[m].name, a, sizeof a),
            (long long)quota_kind_get(q->migs, q->mig_count, limit->migs[m].name));
}

static void quota_metrics(struct text *t, const struct core_state *st)
{
    char a[512];
    void *value;
    for (int pass = 0; pass < 2; pass++) {
        const char *name = pass ? "gpuaas_quota_used" : "gpuaas_quota_limit";
        family(t, name, "gauge",
               pass ? "What a namespace subtree's active pods hold, for each resource its quota limits."
                    : "Quota limits of a namespace subtree by resource (cpu in cores, memory in bytes, gpus:MODEL, "
                      "mig:PROFILE).");
        for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
            const struct core_namespace *ns = value;
            if (ns->has_quota)
                quota_lines(t, name, esc(ns->path, a, sizeof a), pass ? &ns->used : &ns->quota, &ns->quota);
        }
    }
}

/* GPU-seconds by namespace, model and capacity type over [from_ms, now). */
static void usage_lines(struct text *t, const struct core_state *st, const char *name, const char *month,
                        int64_t from_ms, int64_t now_ms)
{
    json_t *usage = meter_usage(st, from_ms, now_ms, now_ms, METER_BY_SERIES, NULL, NULL, NULL);
    if (!usage) {
        t->failed = true;
        return;
    }
    size_t i;
    json_t *row;
    char a[3][256];
    json_array_foreach(json_object_get(usage, "rows"), i, row) {
        char ns[NS_PATH_MAX + 1], model[32], capacity[16];
        if (sscanf(jstr(row, "key"), "%191s %31s %15s", ns, model, capacity) != 3 || strcmp(model, "none") == 0)
            continue; /* pods without GPUs */
        put(t, "%s{namespace=\"%s\",model=\"%s\",capacity_type=\"%s\"%s%s%s} %.3f\n", name,
            esc(ns, a[0], sizeof a[0]), esc(model, a[1], sizeof a[1]), esc(capacity, a[2], sizeof a[2]),
            month ? ",month=\"" : "", month ? month : "", month ? "\"" : "",
            json_real_value(json_object_get(row, "gpu_seconds")));
    }
    json_decref(usage);
}

static void usage_metrics(struct text *t, const struct core_state *st, int64_t now_ms,
                          const struct tzmonth_table *months)
{
    /* exact GPU-seconds from the pod records: increase() over a window
     * gives GPU-hours of that window */
    family(t, "gpuaas_allocated_gpu_seconds_total", "counter",
           "Allocated GPU-seconds (MIG slices and shares count their part) by namespace, model and capacity type.");
    usage_lines(t, st, "gpuaas_allocated_gpu_seconds_total", NULL, 0, now_ms);
    /* the calendar month so far (metering time zone), as `gpuaas usage
     * --month` counts it: PromQL has no calendar windows */
    char month[16];
    int64_t from_ms = 0, to_ms;
    report_month_at(months, now_ms, month, sizeof month);
    tzmonth_range(months, month, &from_ms, &to_ms);
    family(t, "gpuaas_month_allocated_gpu_seconds", "gauge",
           "Allocated GPU-seconds in the current calendar month (metering time zone) so far, by namespace, model and capacity type.");
    usage_lines(t, st, "gpuaas_month_allocated_gpu_seconds", month, from_ms, now_ms);
}

/* ---- the engine and the API -------------------------------------------------------- */

static void engine_histogram(struct text *t, const char *name, const char *help, const uint64_t *buckets,
                             int64_t sum_ns)
{
    family(t, name, "histogram", help);
    uint64_t cumulative = 0;
    for (unsigned b = 0; b < ENGINE_SCHED_BUCKETS; b++) {
        cumulative += buckets[b];
        if (b < ENGINE_SCHED_BUCKETS - 1)
            put(t, "%s_bucket{le=\"%g\"} %llu\n", name, engine_sched_bounds_s[b], (unsigned long long)cumulative);
        else
            put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    }
    put(t, "%s_sum %.9f\n", name, sum_ns / 1e9);
    put(t, "%s_count %llu\n", name, (unsigned long long)cumulative);
}

static void scheduler_metrics(struct text *t, const struct engine_stats *es)
{
    engine_histogram(t, "gpuaas_scheduler_pass_duration_seconds",
                     "Time of each scheduling pass (one per engine batch, in the engine thread).", es->sched_buckets,
                     es->sched_ns);
    /* the durable write behind every acknowledged change: one fsync per batch */
    engine_histogram(t, "gpuaas_store_commit_duration_seconds",
                     "Time of each store commit (one per engine batch, fsync included).", es->commit_buckets,
                     es->commit_ns);
    family(t, "gpuaas_engine_batches_total", "counter", "Engine batches (one store transaction each).");
    put(t, "gpuaas_engine_batches_total %llu\n", (unsigned long long)es->batches);
    family(t, "gpuaas_engine_commands_total", "counter", "Commands applied by the engine (group commit: many per batch).");
    put(t, "gpuaas_engine_commands_total %llu\n", (unsigned long long)es->commands);
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

int metrics_render(const struct metrics_input *in, char **ret_text, size_t *ret_len)
{
    size_t gpus = 0;
    for (size_t n = 0; n < in->st->node_order_count; n++)
        gpus += in->st->node_order[n]->gpu_count;
    /* about 1.4 KB of text per GPU (six DCGM lines) */
    struct text t = {.cap = 65536 + gpus * 1536}, labels = {.cap = 4096 + gpus * 256};
    t.data = malloc(t.cap);
    labels.data = malloc(labels.cap);
    size_t count = 0;
    struct gpu_view *views = t.data && labels.data ? gpu_views(in, &labels, &count) : NULL;
    if (!t.data || !labels.data || labels.failed) {
        free(t.data);
        free(labels.data);
        free(views);
        return GPUAAS_ENOMEM;
    }
    gpu_metrics(&t, in->st, views, count, labels.data, in->snake_case_labels);
    gpu_counts(&t, views, count);
    free(views);
    free(labels.data);
    node_metrics(&t, in->st);
    job_metrics(&t, in->st, in->now_ms);
    quota_metrics(&t, in->st);
    usage_metrics(&t, in->st, in->now_ms, in->months);
    if (in->engine)
        scheduler_metrics(&t, in->engine);
    if (in->http)
        http_metrics(&t);
    if (t.failed) {
        free(t.data);
        return GPUAAS_ENOMEM;
    }
    *ret_text = t.data;
    *ret_len = t.len;
    return 0;
}

void api_metrics_query(const struct core_state *st, struct store *store, const struct store_ops *ops, void *arg,
                       struct core_reply *reply)
{
    (void)store, (void)ops;
    struct api_request *req = arg;
    struct engine_stats es;
    engine_get_stats(api_engine(req->server), &es);
    struct metrics_input in = {.st = st,
                               .now_ms = api_now_ms(req->server),
                               .months = api_months(req->server),
                               .snake_case_labels = api_metrics_snake_case(req->server),
                               .engine = &es,
                               .http = true};
    api_gpu_reading(req->server, &in.reading, &in.reading_arg);
    int r = metrics_render(&in, &req->raw_text, &req->raw_len);
    if (r < 0) {
        reply->err = r;
        snprintf(reply->message, sizeof reply->message, "out of memory rendering metrics");
        return;
    }
    req->raw_content_type = "text/plain; version=0.0.4; charset=utf-8";
    snprintf(req->raw_headers[0][0], sizeof req->raw_headers[0][0], "X-Content-Type-Options");
    snprintf(req->raw_headers[0][1], sizeof req->raw_headers[0][1], "nosniff");
    reply->err = 0;
}
