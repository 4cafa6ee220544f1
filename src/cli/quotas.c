#include "cli/quotas.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"

/* ---- set quota: the body ------------------------------------------------------ */

/* snprintf into err, then GPUAAS_EINVAL (body released). */
#define BODY_FAIL(...) (json_decref(body), snprintf(err, err_size, __VA_ARGS__), GPUAAS_EINVAL)

/* Decimal digits only (no sign, no blanks), within int64. */
static int parse_count(const char *text, json_int_t *ret)
{
    char *end;
    long long v;

    if (text[0] < '0' || text[0] > '9')
        return GPUAAS_EINVAL;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || *end != '\0')
        return GPUAAS_EINVAL;
    *ret = (json_int_t)v;
    return 0;
}

int cli_quota_body(const struct cli_quota_flag *flags, int count, json_t **ret, char *err, size_t err_size)
{
    json_t *body = json_object();

    if (!body)
        return GPUAAS_ENOMEM;
    if (count <= 0) {
        json_decref(body);
        snprintf(err, err_size, "give at least one limit (--gpus, --gpus-MODEL, --mig-PROFILE, --gpu-milli, "
                                "--cpu, --memory, --pods, --weight); to remove a quota: gpuaas delete quota NAMESPACE");
        return GPUAAS_EINVAL;
    }
    for (int i = 0; i < count; i++) {
        const struct cli_quota_flag *f = &flags[i];
        const char *n = f->name;
        size_t len = f->name_len;
        json_t *target = body, *value;
        char key[160];
        bool is_count = true;

        if (len == 4 && strncmp(n, "gpus", 4) == 0) {
            snprintf(key, sizeof key, "gpus");
        } else if (len == 9 && strncmp(n, "gpu-milli", 9) == 0) {
            snprintf(key, sizeof key, "gpu_milli");
        } else if (len == 4 && strncmp(n, "pods", 4) == 0) {
            snprintf(key, sizeof key, "pods");
        } else if (len == 6 && strncmp(n, "weight", 6) == 0) {
            snprintf(key, sizeof key, "weight"); /* fair-share weight, not a limit */
        } else if (len == 3 && strncmp(n, "cpu", 3) == 0) {
            snprintf(key, sizeof key, "cpu");
            is_count = false;
        } else if (len == 6 && strncmp(n, "memory", 6) == 0) {
            snprintf(key, sizeof key, "memory");
            is_count = false;
        } else if ((len > 5 && strncmp(n, "gpus-", 5) == 0) || (len > 4 && strncmp(n, "mig-", 4) == 0)) {
            bool model = n[0] == 'g';
            size_t skip = model ? 5 : 4;
            const char *map = model ? "gpus_per_model" : "mig";
            target = json_object_get(body, map);
            if (!target) {
                target = json_object();
                if (!target || json_object_set_new(body, map, target) < 0) {
                    json_decref(body);
                    return GPUAAS_ENOMEM;
                }
            }
            if (len - skip >= sizeof key)
                return BODY_FAIL("flag --%.*s: the name is too long", (int)len, n);
            snprintf(key, sizeof key, "%.*s", (int)(len - skip), n + skip);
        } else {
            return BODY_FAIL("--%.*s is not a quota limit", (int)len, n);
        }
        if (json_object_get(target, key))
            return BODY_FAIL("flag --%.*s is given more than once", (int)len, n);
        if (is_count) {
            json_int_t v;
            if (parse_count(f->value, &v) < 0)
                return BODY_FAIL("flag --%.*s needs a non-negative integer, not \"%s\"", (int)len, n, f->value);
            value = json_integer(v);
        } else {
            value = json_string(f->value);
        }
        if (!value)
            return BODY_FAIL("flag --%.*s: the value is not UTF-8 text", (int)len, n);
        if (json_object_set_new(target, key, value) < 0) {
            json_decref(body);
            return GPUAAS_ENOMEM;
        }
    }
    *ret = body;
    return 0;
}

/* ---- get quotas: columns and cells -------------------------------------------- */

#define NAMES_MAX 128

struct names {
    const char *v[NAMES_MAX];
    size_t n;
};

static void names_add(struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    if (s->n < NAMES_MAX)
        s->v[s->n++] = name;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static const struct {
    enum cli_quota_kind kind;
    const char *key; /* in limits / used */
    const char *header;
} plain_kinds[] = {
    {CLI_QUOTA_GPUS, "gpus", "GPUS"},       {CLI_QUOTA_GPU_MILLI, "gpu_milli", "GPU-MILLI"},
    {CLI_QUOTA_CPU, "cpu", "CPU"},          {CLI_QUOTA_MEMORY, "memory", "MEMORY"},
    {CLI_QUOTA_PODS, "pods", "PODS"},
};
#define PLAIN_COUNT (sizeof plain_kinds / sizeof plain_kinds[0])

static void col_set(struct cli_quota_col *c, enum cli_quota_kind kind, const char *name)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (kind == CLI_QUOTA_MODEL || kind == CLI_QUOTA_MIG) {
        snprintf(c->name, sizeof c->name, "%s", name);
        snprintf(c->header, sizeof c->header, "%s%s", kind == CLI_QUOTA_MIG ? "MIG-" : "", c->name);
        snprintf(c->label, sizeof c->label, "%s.%s", kind == CLI_QUOTA_MIG ? "mig" : "gpus", c->name);
        return;
    }
    for (size_t i = 0; i < PLAIN_COUNT; i++)
        if (plain_kinds[i].kind == kind) {
            snprintf(c->header, sizeof c->header, "%s", plain_kinds[i].header);
            snprintf(c->label, sizeof c->label, "%s", plain_kinds[i].key);
        }
}

static const json_t *quota_items_get(const json_t *items, size_t i)
{
    return json_is_array(items) ? json_array_get(items, i) : (i == 0 ? items : NULL);
}

size_t cli_quota_columns(const json_t *items, bool all_plain, struct cli_quota_col *cols, size_t max)
{
    bool plain[PLAIN_COUNT];
    struct names models = {.n = 0}, migs = {.n = 0};
    const json_t *quota;
    size_t total = 0;

    for (size_t k = 0; k < PLAIN_COUNT; k++)
        plain[k] = all_plain;
    for (size_t i = 0; (quota = quota_items_get(items, i)); i++) {
        const json_t *limits = json_object_get(quota, "limits"), *v;
        const char *key;
        for (size_t k = 0; k < PLAIN_COUNT; k++)
            plain[k] |= json_object_get(limits, plain_kinds[k].key) != NULL;
        json_object_foreach((json_t *)json_object_get(limits, "gpus_per_model"), key, v) names_add(&models, key);
        json_object_foreach((json_t *)json_object_get(limits, "mig"), key, v) names_add(&migs, key);
    }
    qsort(models.v, models.n, sizeof models.v[0], cmp_str);
    qsort(migs.v, migs.n, sizeof migs.v[0], cmp_str);
#define ADD(kind, name)                                                                                            \
    do {                                                                                                           \
        if (total < max)                                                                                           \
            col_set(&cols[total], kind, name);                                                                     \
        total++;                                                                                                   \
    } while (0)
    if (plain[0])
        ADD(CLI_QUOTA_GPUS, NULL);
    for (size_t i = 0; i < models.n; i++)
        ADD(CLI_QUOTA_MODEL, models.v[i]);
    for (size_t i = 0; i < migs.n; i++)
        ADD(CLI_QUOTA_MIG, migs.v[i]);
    for (size_t k = 1; k < PLAIN_COUNT; k++)
        if (plain[k])
            ADD(plain_kinds[k].kind, NULL);
#undef ADD
    return total;
}

/* A number or a string as text; NULL for anything else. */
static const char *scalar_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    }
    return NULL;
}

static const json_t *value_of(const json_t *obj, const struct cli_quota_col *col)
{
    switch (col->kind) {
    case CLI_QUOTA_MODEL:
        return json_object_get(json_object_get(obj, "gpus_per_model"), col->name);
    case CLI_QUOTA_MIG:
        return json_object_get(json_object_get(obj, "mig"), col->name);
    default:
        for (size_t i = 0; i < PLAIN_COUNT; i++)
            if (plain_kinds[i].kind == col->kind)
                return json_object_get(obj, plain_kinds[i].key);
    }
    return NULL;
}

bool cli_quota_values(const json_t *quota, const struct cli_quota_col *col, char *used, size_t used_size,
                      char *limit, size_t limit_size)
{
    char buf[32];
    const char *u = scalar_text(value_of(json_object_get(quota, "used"), col), buf, sizeof buf);

    snprintf(used, used_size, "%s", u ? u : "0");
    const char *l = scalar_text(value_of(json_object_get(quota, "limits"), col), buf, sizeof buf);
    snprintf(limit, limit_size, "%s", l ? l : "-");
    return l != NULL;
}

const char *cli_quota_cell(const json_t *quota, const struct cli_quota_col *col, char *out, size_t size)
{
    char used[64], limit[64];

    if (!cli_quota_values(quota, col, used, sizeof used, limit, sizeof limit))
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%s/%s", used, limit);
    return out;
}

const char *cli_quota_summary(const json_t *quota, char *out, size_t size)
{
    struct cli_quota_col cols[40];
    size_t n = cli_quota_columns(quota, false, cols, sizeof cols / sizeof cols[0]), len = 0;

    out[0] = '\0';
    if (n > sizeof cols / sizeof cols[0])
        n = sizeof cols / sizeof cols[0];
    for (size_t i = 0; i < n && len < size; i++) {
        char used[64], limit[64];
        if (!cli_quota_values(quota, &cols[i], used, sizeof used, limit, sizeof limit))
            continue;
        int w = snprintf(out + len, size - len, "%s%s %s", len ? ", " : "", cols[i].label, limit);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (!out[0])
        snprintf(out, size, "no limits");
    return out;
}
