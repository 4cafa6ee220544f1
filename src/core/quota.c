#include "core/quota.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpuaas/error.h"
#include "lib/quantity.h"

void quota_amounts_zero(struct quota_amounts *a) { memset(a, 0, sizeof *a); }

void quota_amounts_unlimited(struct quota_amounts *a)
{
    memset(a, 0, sizeof *a);
    a->gpus = a->gpu_milli = a->cpu_milli = a->memory_bytes = a->pods = QUOTA_UNLIMITED;
}

int64_t quota_kind_get(const struct quota_kind *kinds, uint32_t count, const char *name)
{
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return kinds[i].amount;
    return QUOTA_UNLIMITED;
}

static void kinds_add(struct quota_kind *kinds, uint32_t *count, const struct quota_kind *add, uint32_t add_count,
                      int sign)
{
    for (uint32_t j = 0; j < add_count; j++) {
        uint32_t i = 0;
        while (i < *count && strcmp(kinds[i].name, add[j].name) != 0)
            i++;
        if (i == *count) {
            if (*count == QUOTA_KINDS_MAX)
                continue; /* more kinds than tracked: the totals still hold */
            kinds[i] = (struct quota_kind){.amount = 0};
            snprintf(kinds[i].name, sizeof kinds[i].name, "%s", add[j].name);
            (*count)++;
        }
        kinds[i].amount += sign * add[j].amount;
    }
}

void quota_amounts_add(struct quota_amounts *a, const struct quota_amounts *b, int sign)
{
    a->gpus += sign * b->gpus;
    a->gpu_milli += sign * b->gpu_milli;
    a->cpu_milli += sign * b->cpu_milli;
    a->memory_bytes += sign * b->memory_bytes;
    a->pods += sign * b->pods;
    kinds_add(a->models, &a->model_count, b->models, b->model_count, sign);
    kinds_add(a->migs, &a->mig_count, b->migs, b->mig_count, sign);
}

static bool over(int64_t limit, int64_t used, int64_t need)
{
    return limit != QUOTA_UNLIMITED && need > 0 && used + need > limit;
}

static void say(char *why, size_t why_size, char *field, size_t field_size, const char *name, const char *unit_fmt,
                int64_t limit, const int64_t *used, int64_t need)
{
    snprintf(field, field_size, "%s", name);
    char l[32], u[32], n[32];
    if (strcmp(unit_fmt, "cpu") == 0) {
        quantity_format_cpu_milli(limit, l, sizeof l);
        quantity_format_cpu_milli(used ? *used : 0, u, sizeof u);
        quantity_format_cpu_milli(need, n, sizeof n);
    } else if (strcmp(unit_fmt, "memory") == 0) {
        quantity_format_memory_bytes(limit, l, sizeof l);
        quantity_format_memory_bytes(used ? *used : 0, u, sizeof u);
        quantity_format_memory_bytes(need, n, sizeof n);
    } else {
        snprintf(l, sizeof l, "%lld", (long long)limit);
        snprintf(u, sizeof u, "%lld", (long long)(used ? *used : 0));
        snprintf(n, sizeof n, "%lld", (long long)need);
    }
    if (used)
        snprintf(why, why_size, "%s %s/%s in use, needs %s", name, u, l, n);
    else
        snprintf(why, why_size, "%s: needs %s, limit %s", name, n, l);
}

bool quota_exceeded(const struct quota_amounts *limit, const struct quota_amounts *used,
                    const struct quota_amounts *need, char *why, size_t why_size, char *field, size_t field_size)
{
    static const struct quota_amounts none;
    const struct quota_amounts *u = used ? used : &none;
    const int64_t *up;
#define CHECK(member, name, unit)                                                                                \
    up = used ? &u->member : NULL;                                                                               \
    if (over(limit->member, u->member, need->member)) {                                                         \
        say(why, why_size, field, field_size, name, unit, limit->member, up, need->member);                    \
        return true;                                                                                             \
    }
    CHECK(gpus, "gpus", "count")
    CHECK(gpu_milli, "gpu_milli", "count")
    CHECK(cpu_milli, "cpu", "cpu")
    CHECK(memory_bytes, "memory", "memory")
    CHECK(pods, "pods", "count")
#undef CHECK
    for (uint32_t i = 0; i < need->model_count; i++) {
        int64_t lim = quota_kind_get(limit->models, limit->model_count, need->models[i].name);
        int64_t in_use = quota_kind_get(u->models, u->model_count, need->models[i].name);
        if (in_use < 0)
            in_use = 0;
        if (over(lim, in_use, need->models[i].amount)) {
            char name[48];
            snprintf(name, sizeof name, "gpus.%s", need->models[i].name);
            say(why, why_size, field, field_size, name, "count", lim, used ? &in_use : NULL, need->models[i].amount);
            return true;
        }
    }
    for (uint32_t i = 0; i < need->mig_count; i++) {
        int64_t lim = quota_kind_get(limit->migs, limit->mig_count, need->migs[i].name);
        int64_t in_use = quota_kind_get(u->migs, u->mig_count, need->migs[i].name);
        if (in_use < 0)
            in_use = 0;
        if (over(lim, in_use, need->migs[i].amount)) {
            char name[48];
            snprintf(name, sizeof name, "mig.%s", need->migs[i].name);
            say(why, why_size, field, field_size, name, "count", lim, used ? &in_use : NULL, need->migs[i].amount);
            return true;
        }
    }
    return false;
}

/* Quota sizes go beyond one job's: "4096" cores, "128Ti", "500m" (no fraction
 * other than milli-cores, which keeps the arithmetic exact). */
#define QUOTA_CPU_MILLI_MAX (1000000LL * 1000)
#define QUOTA_MEMORY_MAX (1LL << 60)

static int parse_scaled(const char *text, int64_t max, bool cpu, int64_t *ret)
{
    static const struct {
        const char *suffix;
        int64_t factor;
    } units[] = {{"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30}, {"Ti", 1LL << 40}, {"Pi", 1LL << 50},
                 {"k", 1000LL},     {"M", 1000000LL}, {"G", 1000000000LL}, {"T", 1000000000000LL}};
    int64_t n = 0;
    const char *p = text;
    if (*p < '0' || *p > '9')
        return GPUAAS_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (INT64_MAX - 9) / 10)
            return GPUAAS_EINVAL;
        n = n * 10 + (*p - '0');
    }
    int64_t factor = cpu ? 1000 : 1;
    if (*p) {
        factor = 0;
        if (cpu && strcmp(p, "m") == 0)
            factor = 1;
        for (unsigned i = 0; !cpu && i < sizeof units / sizeof units[0]; i++)
            if (strcmp(p, units[i].suffix) == 0)
                factor = units[i].factor;
        if (!factor)
            return GPUAAS_EINVAL;
    }
    if (n > max / factor)
        return GPUAAS_EINVAL;
    *ret = n * factor;
    return 0;
}

static int bad(char *field, size_t field_size, const char *f, char *why, size_t why_size, const char *w)
{
    snprintf(field, field_size, "%s", f);
    snprintf(why, why_size, "%s", w);
    return GPUAAS_EINVAL;
}

static int kinds_from_json(const json_t *obj, const char *prefix, struct quota_kind *kinds, uint32_t *count,
                           char *field, size_t field_size, char *why, size_t why_size)
{
    if (!json_is_object(obj))
        return bad(field, field_size, prefix, why, why_size, "expected a map of name to count");
    if (json_object_size(obj) > QUOTA_KINDS_MAX)
        return bad(field, field_size, prefix, why, why_size, "at most 8 entries");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        char f[96];
        snprintf(f, sizeof f, "%s.%.48s", prefix, key);
        if (!*key || strlen(key) >= sizeof kinds[0].name)
            return bad(field, field_size, f, why, why_size, "name must be 1-31 characters");
        if (!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > 1000000)
            return bad(field, field_size, f, why, why_size, "expected an integer between 0 and 1000000");
        snprintf(kinds[*count].name, sizeof kinds[*count].name, "%s", key);
        kinds[*count].amount = json_integer_value(value);
        (*count)++;
    }
    return 0;
}

int quota_from_json(const json_t *json, struct quota_amounts *ret_limit, char *field, size_t field_size, char *why,
                    size_t why_size)
{
    struct quota_amounts limit;
    quota_amounts_unlimited(&limit);
    if (!json_is_object(json))
        return bad(field, field_size, "", why, why_size, "a quota must be an object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)json, key, value) {
        int64_t *target = NULL;
        if (strcmp(key, "gpus") == 0)
            target = &limit.gpus;
        else if (strcmp(key, "gpu_milli") == 0)
            target = &limit.gpu_milli;
        else if (strcmp(key, "pods") == 0)
            target = &limit.pods;
        if (strcmp(key, "weight") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 1 || json_integer_value(value) > 1000)
                return bad(field, field_size, key, why, why_size, "expected a fair-share weight between 1 and 1000");
            limit.weight = json_integer_value(value);
        } else if (target) {
            if (!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > 100000000)
                return bad(field, field_size, key, why, why_size, "expected an integer between 0 and 100000000");
            *target = json_integer_value(value);
        } else if (strcmp(key, "cpu") == 0) {
            char text[64];
            if (json_is_integer(value))
                snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
            else if (json_is_real(value) && json_real_value(value) >= 0 && json_real_value(value) < 1e6 &&
                     json_real_value(value) * 1000 == (double)(int64_t)(json_real_value(value) * 1000))
                snprintf(text, sizeof text, "%lldm", (long long)(json_real_value(value) * 1000));
            else if (json_is_string(value))
                snprintf(text, sizeof text, "%.63s", json_string_value(value));
            else
                return bad(field, field_size, key, why, why_size, "expected cores like 64, 0.5 or \"500m\"");
            /* decimals like "1.5" as for jobs; large whole numbers beyond */
            if (strchr(text, '.') ? quantity_parse_cpu_milli(text, &limit.cpu_milli) < 0
                                  : parse_scaled(text, QUOTA_CPU_MILLI_MAX, true, &limit.cpu_milli) < 0)
                return bad(field, field_size, key, why, why_size, "not a CPU quantity (cores like 64 or \"500m\")");
        } else if (strcmp(key, "memory") == 0) {
            if (json_is_integer(value) && json_integer_value(value) >= 0)
                limit.memory_bytes = json_integer_value(value);
            else if (!json_is_string(value) ||
                     (strchr(json_string_value(value), '.')
                          ? quantity_parse_memory_bytes(json_string_value(value), &limit.memory_bytes) < 0
                          : parse_scaled(json_string_value(value), QUOTA_MEMORY_MAX, false, &limit.memory_bytes) < 0))
                return bad(field, field_size, key, why, why_size, "expected a memory quantity like \"512Gi\"");
        } else if (strcmp(key, "gpus_per_model") == 0) {
            int r = kinds_from_json(value, key, limit.models, &limit.model_count, field, field_size, why, why_size);
            if (r < 0)
                return r;
        } else if (strcmp(key, "mig") == 0) {
            int r = kinds_from_json(value, key, limit.migs, &limit.mig_count, field, field_size, why, why_size);
            if (r < 0)
                return r;
        } else {
            return bad(field, field_size, key, why, why_size, "unknown field");
        }
    }
    *ret_limit = limit;
    return 0;
}

static json_t *kinds_to_json(const struct quota_kind *kinds, uint32_t count)
{
    json_t *obj = json_object();
    for (uint32_t i = 0; obj && i < count; i++)
        json_object_set_new(obj, kinds[i].name, json_integer(kinds[i].amount));
    return obj;
}

json_t *quota_to_json(const struct quota_amounts *a, bool is_limit)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    char text[32];
    if (!is_limit || a->gpus != QUOTA_UNLIMITED)
        json_object_set_new(obj, "gpus", json_integer(a->gpus));
    if (a->model_count || !is_limit)
        json_object_set_new(obj, "gpus_per_model", kinds_to_json(a->models, a->model_count));
    if (a->mig_count || !is_limit)
        json_object_set_new(obj, "mig", kinds_to_json(a->migs, a->mig_count));
    if (!is_limit || a->gpu_milli != QUOTA_UNLIMITED)
        json_object_set_new(obj, "gpu_milli", json_integer(a->gpu_milli));
    if (!is_limit || a->cpu_milli != QUOTA_UNLIMITED) {
        quantity_format_cpu_milli(a->cpu_milli, text, sizeof text);
        json_object_set_new(obj, "cpu", json_string(text));
    }
    if (!is_limit || a->memory_bytes != QUOTA_UNLIMITED) {
        quantity_format_memory_bytes(a->memory_bytes, text, sizeof text);
        json_object_set_new(obj, "memory", json_string(text));
    }
    if (!is_limit || a->pods != QUOTA_UNLIMITED)
        json_object_set_new(obj, "pods", json_integer(a->pods));
    if (is_limit && a->weight > 0)
        json_object_set_new(obj, "weight", json_integer(a->weight));
    return obj;
}
