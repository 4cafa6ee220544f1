#include "core/meter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

static const char *const group_names[] = {
    [METER_BY_NAMESPACE] = "namespace", [METER_BY_PROJECT] = "project", [METER_BY_ORG] = "org",
    [METER_BY_MODEL] = "model",         [METER_BY_CAPACITY] = "capacity", [METER_BY_NODE] = "node",
    [METER_BY_POD] = "pod",              [METER_BY_SERIES] = "series",
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

struct meter_acc {
    char key[NS_PATH_MAX + 64];
    int64_t gpu_milli_ms; /* milli-GPU x ms: exact */
    int64_t pods;
    double cost;
    bool priced;
};

static double price_of(const struct meter_prices *prices, const char *model, const char *capacity, bool *ret_found)
{
    for (unsigned i = 0; prices && i < prices->count; i++)
        if (strcmp(prices->items[i].model, model) == 0 && strcmp(prices->items[i].capacity_type, capacity) == 0) {
            *ret_found = true;
            return prices->items[i].per_gpu_hour;
        }
    *ret_found = false;
    return 0;
}

static void group_key(const struct core_pod *pod, enum meter_group by, char *out, size_t size)
{
    const char *ns = pod->namespace_path;
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
    case METER_BY_MODEL: snprintf(out, size, "%s", pod->gpu_model[0] ? pod->gpu_model : "none"); return;
    case METER_BY_CAPACITY: snprintf(out, size, "%s", pod->capacity_type); return;
    case METER_BY_NODE: snprintf(out, size, "%s", pod->node); return;
    case METER_BY_POD:
        snprintf(out, size, "%s/%s-r%d-a%d", ns, pod->job_name, pod->replica, pod->attempt);
        return;
    case METER_BY_SERIES: {
        /* by hand: /metrics groups every pod of the records this way on each scrape */
        const char *parts[3] = {ns, pod->gpu_model[0] ? pod->gpu_model : "none", pod->capacity_type};
        size_t o = 0;
        for (int p = 0; p < 3; p++) {
            size_t len = strlen(parts[p]);
            if (o + len + 2 > size)
                len = o + 2 < size ? size - o - 2 : 0;
            memcpy(out + o, parts[p], len);
            o += len;
            if (p < 2)
                out[o++] = ' ';
        }
        out[o] = '\0';
        return;
    }
    }
}

static int cmp_acc(const void *a, const void *b)
{
    return strcmp(((const struct meter_acc *)a)->key, ((const struct meter_acc *)b)->key);
}

static json_t *acc_json(const struct meter_acc *a, const char *key)
{
    /* 1 GPU-second = 1000 milli-GPU x 1000 ms */
    json_t *row = json_pack("{s:s,s:f,s:f,s:I,s:I}", "key", key, "gpu_seconds", a->gpu_milli_ms / 1e6, "gpu_hours",
                            a->gpu_milli_ms / 3.6e9, "gpu_milli_ms", (json_int_t)a->gpu_milli_ms, "pods",
                            (json_int_t)a->pods);
    if (row)
        json_object_set_new(row, "cost", a->priced ? json_real(a->cost) : json_null());
    return row;
}

json_t *meter_usage(const struct core_state *st, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                    enum meter_group by, const struct meter_prices *prices,
                    bool (*keep)(const char *ns, void *arg), void *arg)
{
    size_t cap = 64, count = 0;
    struct meter_acc *accs = calloc(cap, sizeof *accs);
    struct meter_acc total = {.priced = true};
    struct hmap index; /* key -> position + 1 in accs (keys are copied into `keys`) */
    char **keys = calloc(cap, sizeof *keys);
    json_t *rows = json_array();
    hmap_init(&index);
    if (!accs || !rows || !keys)
        goto fail;
    void *value;
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);) {
        const struct core_pod *pod = value;
        if (keep && !keep(pod->namespace_path, arg))
            continue;
        /* devices are held from placement until the end */
        int64_t start = pod->scheduled_ms, end = pod->ended_ms ? pod->ended_ms : now_ms;
        if (start < from_ms)
            start = from_ms;
        if (end > to_ms)
            end = to_ms;
        if (end <= start)
            continue;
        int64_t milli = 0;
        for (uint32_t d = 0; d < pod->device_count; d++)
            milli += meter_device_milli(&pod->devices[d]);
        char key[sizeof accs[0].key];
        group_key(pod, by, key, sizeof key);
        size_t i = (size_t)(uintptr_t)hmap_get(&index, key);
        if (i) {
            i--;
        } else {
            if (count == cap) {
                struct meter_acc *grown = realloc(accs, cap * 2 * sizeof *grown);
                char **grown_keys = grown ? realloc(keys, cap * 2 * sizeof *grown_keys) : NULL;
                if (grown)
                    accs = grown;
                if (!grown || !grown_keys)
                    goto fail;
                keys = grown_keys;
                memset(accs + cap, 0, cap * sizeof *accs);
                memset(keys + cap, 0, cap * sizeof *keys);
                cap *= 2;
            }
            i = count;
            snprintf(accs[i].key, sizeof accs[i].key, "%s", key);
            accs[i].priced = true;
            keys[i] = strdup(key);
            if (!keys[i] || hmap_put(&index, keys[i], (void *)(uintptr_t)(i + 1)) < 0)
                goto fail;
            count++;
        }
        int64_t amount = milli * (end - start);
        bool found;
        double price = price_of(prices, pod->gpu_model, pod->capacity_type, &found);
        double cost = amount / 3.6e9 * price;
        accs[i].gpu_milli_ms += amount;
        accs[i].pods++;
        accs[i].cost += cost;
        total.gpu_milli_ms += amount;
        total.pods++;
        total.cost += cost;
        if (!found && amount > 0) {
            accs[i].priced = false;
            total.priced = false;
        }
    }
    qsort(accs, count, sizeof *accs, cmp_acc);
    for (size_t i = 0; i < count; i++) {
        json_t *row = acc_json(&accs[i], accs[i].key);
        if (!row || json_array_append_new(rows, row) < 0)
            goto fail;
    }
    char from_text[40], to_text[40];
    core_format_time(from_ms, from_text, sizeof from_text);
    core_format_time(to_ms, to_text, sizeof to_text);
    json_t *out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "from", from_text, "to", to_text, "by",
                            meter_group_name(by), "currency", prices && prices->currency[0] ? prices->currency : "",
                            "rows", rows, "total", acc_json(&total, "total"));
    free(accs);
    for (size_t k = 0; k < count; k++)
        free(keys[k]);
    free(keys);
    hmap_free(&index);
    return out;
fail:
    free(accs);
    for (size_t k = 0; keys && k < cap; k++)
        free(keys[k]);
    free(keys);
    hmap_free(&index);
    json_decref(rows);
    return NULL;
}
