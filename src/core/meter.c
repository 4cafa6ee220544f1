#include "core/meter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

static const char *const group_names[] = {
    [METER_BY_NAMESPACE] = "namespace", [METER_BY_PROJECT] = "project", [METER_BY_ORG] = "org",
    [METER_BY_MODEL] = "model",         [METER_BY_CAPACITY] = "capacity", [METER_BY_NODE] = "node",
    [METER_BY_POD] = "pod",              [METER_BY_SERIES] = "series",   [METER_BY_NODE_GROUP] = "node-group",
};

int meter_group_from_name(const char *name, enum meter_group *ret)
{
    for (unsigned i = 0; i < sizeof group_names / sizeof group_names[0]; i++)
        if (strcmp(group_names[i], name) == 0) {
            *ret = (enum meter_group)i;
            return 0;
        }
    return GPUAAS_EINVAL;
}

const char *meter_group_name(enum meter_group group) { return group_names[group]; }

/* Days since 1970-01-01 of a proleptic Gregorian date (inverse of the
 * civil-date conversion in core_format_time). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int meter_month_range(const char *month, int64_t *ret_from_ms, int64_t *ret_to_ms)
{
    int y = 0, m = 0;
    char tail;
    if (!month || strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 1970 || y > 9999 ||
        m < 1 || m > 12)
        return GPUAAS_EINVAL;
    int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
    *ret_from_ms = days_from_civil(y, m, 1) * 86400000LL;
    *ret_to_ms = days_from_civil(ny, nm, 1) * 86400000LL;
    return 0;
}

int meter_parse_time(const char *text, int64_t *ret_ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > 32)
        return GPUAAS_EINVAL;
    if (strspn(text, "0123456789") == len) {
        if (len > 15)
            return GPUAAS_EINVAL;
        int64_t ms = 0;
        for (const char *p = text; *p; p++)
            ms = ms * 10 + (*p - '0');
        *ret_ms = ms;
        return 0;
    }
    if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return GPUAAS_EINVAL;
    const char *rest = text + 10;
    if (*rest == 'T' || *rest == ' ') {
        int m = 0;
        if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &m) != 2)
            return GPUAAS_EINVAL;
        rest += 1 + m;
        if (*rest == ':') {
            if (sscanf(rest + 1, "%2d%n", &sec, &m) != 1)
                return GPUAAS_EINVAL;
            rest += 1 + m;
        }
        if (*rest == 'Z')
            rest++;
    }
    if (*rest || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return GPUAAS_EINVAL;
    *ret_ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL;
    return 0;
}

int64_t meter_device_milli(const struct core_pod_device *d)
{
    if (d->mig >= 0) {
        int slices = 0;
        if (sscanf(d->mig_profile, "%dg.", &slices) == 1 && slices > 0 && slices <= 7)
            return slices * 1000 / 7;
        return 1000 / 7;
    }
    return d->milli;
}

double meter_util_factor(double util_avg_pct)
{
    return util_avg_pct >= 70 ? 1.0 : util_avg_pct >= 40 ? 0.8 : util_avg_pct >= 20 ? 0.6 : 0.4;
}

struct meter_acc {
    char key[NS_PATH_MAX + 64];
    int64_t gpu_milli_ms; /* milli-GPU x ms: exact */
    int64_t pods;
    double cost, list_cost, idle_cost;
    bool priced;
    struct core_pod_util util;
};

/* uint64 code -> index + 1, open addressing: the group of an entry is found
 * without building its key text. */
struct code_map {
    uint64_t *codes;
    uint32_t *values;
    size_t capacity, count;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint32_t code_get(const struct code_map *m, uint64_t code)
{
    if (!m->capacity)
        return 0;
    for (size_t i = mix(code) & (m->capacity - 1);; i = (i + 1) & (m->capacity - 1)) {
        if (!m->values[i])
            return 0;
        if (m->codes[i] == code)
            return m->values[i];
    }
}

static int code_put(struct code_map *m, uint64_t code, uint32_t value)
{
    if ((m->count + 1) * 2 > m->capacity) {
        size_t capacity = m->capacity ? m->capacity * 2 : 256;
        uint64_t *codes = calloc(capacity, sizeof *codes);
        uint32_t *values = calloc(capacity, sizeof *values);
        if (!codes || !values) {
            free(codes);
            free(values);
            return GPUAAS_ENOMEM;
        }
        for (size_t i = 0; i < m->capacity; i++) {
            if (!m->values[i])
                continue;
            size_t j = mix(m->codes[i]) & (capacity - 1);
            while (values[j])
                j = (j + 1) & (capacity - 1);
            codes[j] = m->codes[i];
            values[j] = m->values[i];
        }
        free(m->codes);
        free(m->values);
        m->codes = codes;
        m->values = values;
        m->capacity = capacity;
    }
    size_t i = mix(code) & (m->capacity - 1);
    while (m->values[i])
        i = (i + 1) & (m->capacity - 1);
    m->codes[i] = code;
    m->values[i] = value;
    m->count++;
    return 0;
}

static void code_free(struct code_map *m)
{
    free(m->codes);
    free(m->values);
}

static uint64_t group_code(const struct ledger_entry *e, enum meter_group by)
{
    switch (by) {
    case METER_BY_NAMESPACE:
    case METER_BY_PROJECT:
    case METER_BY_ORG: return e->ns;
    case METER_BY_MODEL: return e->model;
    case METER_BY_CAPACITY: return e->capacity;
    case METER_BY_NODE: return e->node;
    case METER_BY_NODE_GROUP: return e->node_group;
    case METER_BY_SERIES: return (uint64_t)e->ns << 32 | (uint64_t)e->model << 16 | e->capacity;
    case METER_BY_POD: return e->pod ? e->pod->id : 0;
    }
    return 0;
}

static void group_key(const struct ledger *l, const struct ledger_entry *e, enum meter_group by, char *out,
                      size_t size)
{
    const char *ns = ledger_string(l, e->ns);
    switch (by) {
    case METER_BY_NAMESPACE: snprintf(out, size, "%s", ns); return;
    case METER_BY_PROJECT:
    case METER_BY_ORG: {
        int levels = by == METER_BY_ORG ? 1 : 2;
        size_t n = 0;
        for (int seen = 0; ns[n]; n++)
            if (ns[n] == '/' && ++seen == levels)
                break;
        snprintf(out, size, "%.*s", (int)n, ns);
        return;
    }
    case METER_BY_MODEL: snprintf(out, size, "%s", ledger_string(l, e->model)); return;
    case METER_BY_CAPACITY: snprintf(out, size, "%s", ledger_string(l, e->capacity)); return;
    case METER_BY_NODE: snprintf(out, size, "%s", ledger_string(l, e->node)); return;
    case METER_BY_NODE_GROUP: {
        const char *group = ledger_string(l, e->node_group);
        snprintf(out, size, "%s", group[0] ? group : "none");
        return;
    }
    case METER_BY_POD:
        if (e->pod)
            snprintf(out, size, "%s/%s-r%d-a%d", ns, e->pod->job_name, e->pod->replica, e->pod->attempt);
        else
            snprintf(out, size, "%s/?", ns);
        return;
    case METER_BY_SERIES:
        snprintf(out, size, "%s %s %s", ns, ledger_string(l, e->model), ledger_string(l, e->capacity));
        return;
    }
}

static int cmp_acc(const void *a, const void *b)
{
    return strcmp(((const struct meter_acc *)a)->key, ((const struct meter_acc *)b)->key);
}

static json_t *acc_json(const struct meter_acc *a, const char *key, bool factor)
{
    const struct core_pod_util *u = &a->util;
    /* 1 GPU-second = 1000 milli-GPU x 1000 ms */
    json_t *row = json_pack("{s:s,s:f,s:f,s:I,s:I}", "key", key, "gpu_seconds", a->gpu_milli_ms / 1e6, "gpu_hours",
                            a->gpu_milli_ms / 3.6e9, "gpu_milli_ms", (json_int_t)a->gpu_milli_ms, "pods",
                            (json_int_t)a->pods);
    if (!row)
        return NULL;
    int failed = json_object_set_new(row, "cost", a->priced ? json_real(a->cost) : json_null());
    failed |= json_object_set_new(row, "util_avg_pct", u->sampled_milli_ms
                                                           ? json_real((double)u->util_milli_ms / u->sampled_milli_ms)
                                                           : json_null());
    failed |= json_object_set_new(row, "idle_gpu_seconds", json_real(u->idle_milli_ms / 1e6));
    failed |= json_object_set_new(row, "sampled_gpu_seconds", json_real(u->sampled_milli_ms / 1e6));
    failed |= json_object_set_new(row, "mem_avg_bytes",
                                  u->mem_ms ? json_integer((json_int_t)((double)u->mem_mib_ms / u->mem_ms * 1048576.0))
                                            : json_null());
    if (factor) {
        failed |= json_object_set_new(row, "list_cost", a->priced ? json_real(a->list_cost) : json_null());
        failed |= json_object_set_new(row, "utilisation_discount",
                                      a->priced ? json_real(a->list_cost - a->cost) : json_null());
        failed |= json_object_set_new(row, "idle_cost", a->priced ? json_real(a->idle_cost) : json_null());
    }
    if (failed) {
        json_decref(row);
        return NULL;
    }
    return row;
}

static void util_scale(const struct core_pod_util *in, int64_t part, int64_t whole, struct core_pod_util *out)
{
    double f = whole > 0 ? (double)part / (double)whole : 0;
    out->samples = (int64_t)(in->samples * f + 0.5);
    out->sampled_milli_ms = (int64_t)(in->sampled_milli_ms * f + 0.5);
    out->util_milli_ms = (int64_t)(in->util_milli_ms * f + 0.5);
    out->idle_milli_ms = (int64_t)(in->idle_milli_ms * f + 0.5);
    out->mem_ms = (int64_t)(in->mem_ms * f + 0.5);
    out->mem_mib_ms = (int64_t)(in->mem_mib_ms * f + 0.5);
}

static int64_t floor_hour(int64_t ms)
{
    return ms >= 0 ? ms / 3600000 * 3600000 : -((-ms + 3599999) / 3600000) * 3600000;
}

static int64_t overlap(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t lo = a > c ? a : c, hi = b < d ? b : d;
    return hi > lo ? hi - lo : 0;
}

/* One rollup hour h of the pod, scaled by the part of the pod's time in
 * that hour that lies in [lo, hi). */
static int window_hour(const struct meter_query *q, const struct ledger_entry *e, int64_t end, int64_t h, int64_t lo,
                       int64_t hi, struct core_pod_util *acc)
{
    struct core_pod_util u;
    int64_t in_pod = overlap(h, h + 3600000, e->start_ms, end);
    if (!in_pod)
        return 0;
    int r = q->util_window(q->util_window_arg, e->pod->id, h, h + 3600000, &u);
    if (r < 0)
        return r;
    int64_t in_range = overlap(h, h + 3600000, lo, hi);
    if (in_range < in_pod)
        util_scale(&u, in_range, in_pod, &u);
    core_pod_util_add(acc, &u);
    return 0;
}

/* The pod's utilisation inside [from, to): all of it when its interval lies
 * inside; else from its hourly rollups (the hours cut by the range counted
 * by the share of the pod's time in them that the range holds); without
 * rollups, its sums scaled by the overlap. */
static void entry_util(const struct ledger_entry *e, const struct meter_query *q, int64_t end,
                       struct core_pod_util *ret)
{
    memset(ret, 0, sizeof *ret);
    const struct core_pod *pod = e->pod;
    if (!pod || !pod->util.samples)
        return;
    if (e->start_ms >= q->from_ms && end <= q->to_ms) {
        *ret = pod->util;
        return;
    }
    int64_t lo = e->start_ms > q->from_ms ? e->start_ms : q->from_ms, hi = end < q->to_ms ? end : q->to_ms;
    if (q->util_window) {
        int64_t first = floor_hour(lo), last = floor_hour(hi - 1);
        struct core_pod_util middle = {0};
        int r = window_hour(q, e, end, first, lo, hi, ret);
        if (r == 0 && last > first)
            r = window_hour(q, e, end, last, lo, hi, ret);
        if (r == 0 && last > first + 3600000 &&
            (r = q->util_window(q->util_window_arg, pod->id, first + 3600000, last, &middle)) == 0)
            core_pod_util_add(ret, &middle);
        if (r == 0)
            return;
        memset(ret, 0, sizeof *ret);
    }
    util_scale(&pod->util, hi - lo, end - e->start_ms, ret);
}

struct meter_run {
    struct meter_acc *accs;
    size_t count, cap;
    struct code_map by_code;  /* group code -> acc + 1 */
    struct hmap by_key;       /* key text -> acc + 1 (keys point into accs' copies in `keys`) */
    char **keys;
    struct code_map prices;   /* model << 16 | capacity -> price slot + 1 */
    double *price_values;     /* by slot: < 0 when unpriced */
    size_t price_count;
    signed char *kept;        /* per interned namespace: 0 unknown, 1 kept, -1 not */
};

static void run_free(struct meter_run *run)
{
    for (size_t k = 0; k < run->count; k++)
        free(run->keys[k]);
    free(run->keys);
    free(run->accs);
    code_free(&run->by_code);
    code_free(&run->prices);
    free(run->price_values);
    free(run->kept);
    hmap_free(&run->by_key);
}

static int run_acc(struct meter_run *run, const struct ledger *l, const struct ledger_entry *e, enum meter_group by,
                   struct meter_acc **ret)
{
    uint64_t code = group_code(e, by);
    uint32_t found = code_get(&run->by_code, code);
    if (found) {
        *ret = &run->accs[found - 1];
        return 0;
    }
    char key[sizeof run->accs[0].key];
    group_key(l, e, by, key, sizeof key);
    size_t i = (size_t)(uintptr_t)hmap_get(&run->by_key, key);
    if (!i) {
        if (run->count == run->cap) {
            size_t cap = run->cap ? run->cap * 2 : 64;
            struct meter_acc *grown = realloc(run->accs, cap * sizeof *grown);
            if (!grown)
                return GPUAAS_ENOMEM;
            run->accs = grown;
            char **grown_keys = realloc(run->keys, cap * sizeof *grown_keys);
            if (!grown_keys)
                return GPUAAS_ENOMEM;
            run->keys = grown_keys;
            run->cap = cap;
        }
        struct meter_acc *a = &run->accs[run->count];
        memset(a, 0, sizeof *a);
        snprintf(a->key, sizeof a->key, "%s", key);
        a->priced = true;
        if (!(run->keys[run->count] = strdup(key)))
            return GPUAAS_ENOMEM;
        run->count++;
        i = run->count;
        if (hmap_put(&run->by_key, run->keys[i - 1], (void *)(uintptr_t)i) < 0)
            return GPUAAS_ENOMEM;
    }
    if (code_put(&run->by_code, code, (uint32_t)i) < 0)
        return GPUAAS_ENOMEM;
    *ret = &run->accs[i - 1];
    return 0;
}

/* Price per GPU-hour of the entry's model and capacity type; < 0: none. */
static int run_price(struct meter_run *run, const struct ledger *l, const struct ledger_entry *e,
                     const struct meter_prices *prices, double *ret)
{
    uint64_t code = (uint64_t)e->model << 16 | e->capacity;
    uint32_t slot = code_get(&run->prices, code);
    if (!slot) {
        double price = -1;
        const char *model = ledger_string(l, e->model), *capacity = ledger_string(l, e->capacity);
        for (unsigned i = 0; prices && i < prices->count; i++)
            if (strcmp(prices->items[i].model, model) == 0 && strcmp(prices->items[i].capacity_type, capacity) == 0)
                price = prices->items[i].per_gpu_hour;
        double *grown = realloc(run->price_values, (run->price_count + 1) * sizeof *grown);
        if (!grown)
            return GPUAAS_ENOMEM;
        run->price_values = grown;
        run->price_values[run->price_count++] = price;
        slot = (uint32_t)run->price_count;
        if (code_put(&run->prices, code, slot) < 0)
            return GPUAAS_ENOMEM;
    }
    *ret = run->price_values[slot - 1];
    return 0;
}

static void acc_add(struct meter_acc *a, int64_t amount, double price, const struct core_pod_util *u, double factor)
{
    a->gpu_milli_ms += amount;
    a->pods++;
    core_pod_util_add(&a->util, u);
    if (price < 0) {
        if (amount > 0)
            a->priced = false;
        return;
    }
    double list = amount / 3.6e9 * price;
    a->list_cost += list;
    a->cost += list * factor;
    a->idle_cost += u->idle_milli_ms / 3.6e9 * price;
}

json_t *meter_ledger_usage(const struct ledger *l, const struct meter_query *q)
{
    struct meter_run run = {0};
    struct meter_acc total = {.priced = true};
    json_t *rows = json_array();
    const struct meter_prices *prices = q->prices;
    bool factor_on = prices && prices->utilisation_factor;
    hmap_init(&run.by_key);
    if (!rows || (q->keep && l->string_count && !(run.kept = calloc(l->string_count, 1))))
        goto fail;
    size_t begin, end_index;
    ledger_range(l, q->from_ms, q->to_ms, &begin, &end_index);
    for (size_t i = begin; i < end_index; i++) {
        const struct ledger_entry *e = &l->items[i];
        /* devices are held from placement until the end */
        int64_t end = e->end_ms ? e->end_ms : q->now_ms;
        int64_t lo = e->start_ms > q->from_ms ? e->start_ms : q->from_ms;
        int64_t hi = end < q->to_ms ? end : q->to_ms;
        if (hi <= lo)
            continue;
        if (run.kept) {
            if (!run.kept[e->ns])
                run.kept[e->ns] = q->keep(ledger_string(l, e->ns), q->keep_arg) ? 1 : -1;
            if (run.kept[e->ns] < 0)
                continue;
        }
        struct meter_acc *a;
        double price = -1;
        if (run_acc(&run, l, e, q->by, &a) < 0 || (prices && run_price(&run, l, e, prices, &price) < 0))
            goto fail;
        struct core_pod_util u;
        entry_util(e, q, end, &u);
        double factor = 1.0; /* a pod without samples pays list price */
        if (factor_on && u.sampled_milli_ms > 0)
            factor = meter_util_factor((double)u.util_milli_ms / u.sampled_milli_ms);
        int64_t amount = (int64_t)e->milli * (hi - lo);
        acc_add(a, amount, price, &u, factor);
        acc_add(&total, amount, price, &u, factor);
    }
    if (run.count > 1)
        qsort(run.accs, run.count, sizeof *run.accs, cmp_acc);
    for (size_t i = 0; i < run.count; i++) {
        json_t *row = acc_json(&run.accs[i], run.accs[i].key, factor_on);
        if (!row || json_array_append_new(rows, row) < 0)
            goto fail;
    }
    char from_text[40], to_text[40];
    core_format_time(q->from_ms, from_text, sizeof from_text);
    core_format_time(q->to_ms, to_text, sizeof to_text);
    json_t *total_json = acc_json(&total, "total", factor_on);
    json_t *out = total_json ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "from", from_text, "to", to_text, "by",
                                         meter_group_name(q->by), "currency",
                                         prices && prices->currency[0] ? prices->currency : "", "time_zone",
                                         q->time_zone ? q->time_zone : "UTC", "utilisation_factor", factor_on,
                                         "rows", rows, "total", total_json)
                             : NULL;
    if (!out)
        rows = NULL; /* json_pack stole it (or it is freed with the failure) */
    run_free(&run);
    return out;
fail:
    run_free(&run);
    json_decref(rows);
    return NULL;
}

json_t *meter_usage_query(const struct core_state *st, const struct meter_query *q)
{
    return meter_ledger_usage(&st->ledger, q);
}

json_t *meter_usage(const struct core_state *st, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                    enum meter_group by, const struct meter_prices *prices,
                    bool (*keep)(const char *ns, void *arg), void *arg)
{
    struct meter_query q = {.from_ms = from_ms, .to_ms = to_ms, .now_ms = now_ms, .by = by, .prices = prices,
                            .keep = keep, .keep_arg = arg};
    return meter_usage_query(st, &q);
}
