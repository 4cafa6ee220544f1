/* Usage queries over a large ledger: one calendar month out of a year of
 * pod attempts, grouped by namespace and model (and capacity: by=series),
 * and by namespace; the median of several runs.
 *
 *   bench_usage [ENTRIES [POD_RECORDS]]
 *
 * ENTRIES (default 10,000,000) intervals go into the ledger the way the
 * core adds them (in start order, through ledger_add), spread over 2026
 * with 300 namespaces, 200 nodes in 8 node groups, 4 GPU models, spot and
 * on-demand, lengths from a minute to a day (and a few week-long services).
 * POD_RECORDS (default 1,000,000; 0 skips) full pod records are restored
 * into a core state to compare with scanning every pod record, which is how
 * usage was computed before the ledger (a pod record is ~2.4 KB, so ten
 * million of them would not fit in this machine's memory).
 * Prints RESULT lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/meter.h"
#include "core/model.h"
#include "lib/tzmonth.h"

#define RUNS 5
#define POOL 1024 /* distinct pod records the ledger entries point at (names, utilisation) */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const models[] = {"A100", "A10G", "T4", "H100"};

static void names(uint64_t r, char *ns, size_t ns_size, char *node, size_t node_size, char *group, size_t group_size)
{
    snprintf(ns, ns_size, "org%u/proj%u/env%u", (unsigned)(r % 10), (unsigned)(r >> 8) % 10, (unsigned)(r >> 16) % 3);
    unsigned n = (unsigned)(r >> 24) % 200;
    snprintf(node, node_size, "node-%03u", n);
    snprintf(group, group_size, "group-%u", n % 8);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_query(const char *what, const struct ledger *l, const struct core_state *st,
                           const struct meter_query *q, size_t *ret_rows)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_s();
        json_t *u = st ? meter_usage_query(st, q) : meter_ledger_usage(l, q);
        t[i] = now_s() - t0;
        if (!u) {
            fprintf(stderr, "bench_usage: %s: out of memory\n", what);
            exit(1);
        }
        *ret_rows = json_array_size(json_object_get(u, "rows"));
        json_decref(u);
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

/* The way usage was computed before the ledger: every pod record, its
 * group key built and looked up per pod. */
static double scan_pod_records(const struct core_state *st, int64_t from, int64_t to, int64_t now, size_t *ret_rows)
{
    double t0 = now_s();
    struct hmap groups;
    hmap_init(&groups);
    size_t count = 0;
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        int64_t start = pod->scheduled_ms > from ? pod->scheduled_ms : from;
        int64_t end = pod->ended_ms ? pod->ended_ms : now;
        if (end > to)
            end = to;
        if (end <= start)
            continue;
        char key[NS_PATH_MAX + 64];
        snprintf(key, sizeof key, "%s %s %s", pod->namespace_path, pod->gpu_model, pod->capacity_type);
        int64_t *sum = hmap_get(&groups, key);
        if (!sum) {
            char *k = malloc(sizeof key + sizeof(int64_t));
            if (!k)
                exit(1);
            sum = (int64_t *)k;
            *sum = 0;
            strcpy(k + sizeof(int64_t), key);
            hmap_put(&groups, k + sizeof(int64_t), sum);
            count++;
        }
        int64_t milli = 0;
        for (uint32_t d = 0; d < pod->device_count; d++)
            milli += meter_device_milli(&pod->devices[d]);
        *sum += milli * (end - start);
    }
    double elapsed = now_s() - t0;
    for (size_t it = 0; hmap_next(&groups, &it, NULL, &value);)
        free(value);
    hmap_free(&groups);
    *ret_rows = count;
    return elapsed;
}

int main(int argc, char **argv)
{
    long entries = argc > 1 ? atol(argv[1]) : 10000000;
    long records = argc > 2 ? atol(argv[2]) : 1000000;
    int64_t year_from = 0, year_to = 0, from, to, unused;
    meter_month_range("2026-01", &year_from, &unused);
    meter_month_range("2026-12", &unused, &year_to);
    meter_month_range("2026-06", &from, &to);
    int64_t now = year_to;
    struct meter_prices prices = {.currency = "USD", .utilisation_factor = true};
    for (int m = 0; m < 4; m++)
        for (int c = 0; c < 2; c++) {
            struct meter_price *p = &prices.items[prices.count++];
            snprintf(p->model, sizeof p->model, "%s", models[m]);
            snprintf(p->capacity_type, sizeof p->capacity_type, "%s", c ? "spot" : "on-demand");
            p->per_gpu_hour = 1.0 + m + c;
        }

    /* pod records the entries point at, some with utilisation samples */
    struct core_pod *pool = calloc(POOL, sizeof *pool);
    if (!pool)
        return 1;
    for (int i = 0; i < POOL; i++) {
        pool[i].id = (uint64_t)i + 1;
        snprintf(pool[i].job_name, sizeof pool[i].job_name, "job%d", i);
        if (i % 2)
            pool[i].util = (struct core_pod_util){.samples = 240, .sampled_milli_ms = 3600000000LL,
                                                  .util_milli_ms = 3600000000LL * (i % 100),
                                                  .idle_milli_ms = i % 3 ? 0 : 3600000000LL};
    }

    struct ledger l;
    ledger_init(&l);
    double t0 = now_s();
    int64_t span = year_to - year_from;
    for (long i = 0; i < entries; i++) {
        uint64_t r = next();
        char ns[64], node[32], group[32];
        names(r, ns, sizeof ns, node, sizeof node, group, sizeof group);
        struct ledger_fields f = {.ns = ns, .node = node, .node_group = group, .model = models[(r >> 32) % 4],
                                  .capacity = (r >> 34) & 1 ? "spot" : "on-demand"};
        int64_t start = year_from + (int64_t)((double)i / entries * span);
        int64_t len = (r >> 40) % 1000 == 0 ? 14 * 86400000LL : 60000 + (int64_t)((r >> 20) % 86400000);
        int32_t milli = (r >> 36) % 4 == 0 ? 500 : 1000 * (int32_t)(1 + (r >> 38) % 2);
        if (ledger_add(&l, &pool[r % POOL], pool[r % POOL].id, &f, start, start + len, milli) < 0) {
            fprintf(stderr, "bench_usage: out of memory at %ld entries\n", i);
            return 1;
        }
    }
    double build_s = now_s() - t0;
    size_t begin, end;
    ledger_range(&l, from, to, &begin, &end);
    printf("ledger: %ld entries (%zu bytes each, %.0f MiB) built in %.2f s; a month scans %zu of them\n", entries,
           sizeof(struct ledger_entry), l.cap * sizeof(struct ledger_entry) / 1048576.0, build_s, end - begin);

    size_t rows = 0;
    struct meter_query q = {.from_ms = from, .to_ms = to, .now_ms = now, .by = METER_BY_SERIES, .prices = &prices};
    double series_s = median_query("by series", &l, NULL, &q, &rows);
    printf("RESULT ledger entries=%ld query=month by=series(namespace,model,capacity) rows=%zu median_s=%.4f\n",
           entries, rows, series_s);
    q.by = METER_BY_NAMESPACE;
    double ns_s = median_query("by namespace", &l, NULL, &q, &rows);
    printf("RESULT ledger entries=%ld query=month by=namespace rows=%zu median_s=%.4f\n", entries, rows, ns_s);
    q.by = METER_BY_MODEL;
    double model_s = median_query("by model", &l, NULL, &q, &rows);
    printf("RESULT ledger entries=%ld query=month by=model rows=%zu median_s=%.4f\n", entries, rows, model_s);
    q.from_ms = year_from;
    q.to_ms = year_to;
    q.by = METER_BY_SERIES;
    double year_s = median_query("year", &l, NULL, &q, &rows);
    printf("RESULT ledger entries=%ld query=year by=series rows=%zu median_s=%.4f\n", entries, rows, year_s);
    ledger_free(&l);

    if (records > 0) {
        struct core_state st;
        core_state_init(&st);
        struct core_pod *pod = calloc(1, sizeof *pod);
        if (!pod)
            return 1;
        t0 = now_s();
        for (long i = 0; i < records; i++) {
            uint64_t r = next();
            char node[32], group[32];
            names(r, pod->namespace_path, sizeof pod->namespace_path, node, sizeof node, group, sizeof group);
            pod->id = pod->job_id = (uint64_t)i + 1;
            snprintf(pod->job_name, sizeof pod->job_name, "job%ld", i);
            snprintf(pod->node, sizeof pod->node, "%s", node);
            snprintf(pod->gpu_model, sizeof pod->gpu_model, "%s", models[(r >> 32) % 4]);
            snprintf(pod->capacity_type, sizeof pod->capacity_type, "%s", (r >> 34) & 1 ? "spot" : "on-demand");
            pod->state = POD_SUCCEEDED;
            pod->scheduled_ms = pod->started_ms = year_from + (int64_t)((double)i / records * span);
            pod->ended_ms = pod->scheduled_ms + 60000 + (int64_t)((r >> 20) % 86400000);
            pod->device_count = 1;
            pod->devices[0] = (struct core_pod_device){.mig = -1, .milli = 1000};
            if (core_restore_pod(&st, pod) < 0) {
                fprintf(stderr, "bench_usage: out of memory at %ld pod records\n", i);
                return 1;
            }
        }
        core_restore_finish(&st);
        printf("pod records: %ld restored in %.2f s (%zu bytes each)\n", records, now_s() - t0, sizeof *pod);
        free(pod);
        double scans[RUNS];
        for (int i = 0; i < RUNS; i++)
            scans[i] = scan_pod_records(&st, from, to, now, &rows);
        qsort(scans, RUNS, sizeof scans[0], cmp_double);
        printf("RESULT records=%ld scan-of-pod-records query=month by=series rows=%zu median_s=%.4f "
               "(x%.1f for 10M: %.2f s, and 24 GB of records)\n",
               records, rows, scans[RUNS / 2], 1e7 / records, scans[RUNS / 2] * 1e7 / records);
        q.from_ms = from;
        q.to_ms = to;
        q.by = METER_BY_SERIES;
        double state_s = median_query("state", NULL, &st, &q, &rows);
        printf("RESULT records=%ld ledger-of-state query=month by=series rows=%zu median_s=%.4f\n", records, rows,
               state_s);
        core_state_free(&st);
    }
    free(pool);
    int ok = series_s < 1.0 && ns_s < 1.0;
    printf("target: a month over %ld ledger rows by namespace and model in under 1 s: %s (%.3f s)\n", entries,
           ok ? "met" : "NOT met", series_s);
    return ok ? 0 : 1;
}
