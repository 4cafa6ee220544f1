#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"
#include "report/render.h"

struct buf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
}

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void put_field(struct buf *b, const char *text)
{
    if (!strpbrk(text, ",\"\r\n")) {
        put(b, "%s", text);
        return;
    }
    put(b, "\"");
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            put(b, "\"\"");
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

/* A JSON number as the API prints it (12 significant digits), else n/a. */
static void put_number(struct buf *b, const json_t *v)
{
    if (json_is_integer(v))
        put(b, ",%" PRId64, (int64_t)json_integer_value(v));
    else if (json_is_real(v))
        put(b, ",%.12g", json_real_value(v));
    else
        put(b, ",n/a");
}

/* milli-GPU x ms as exact GPU-seconds (six decimals). */
static void put_exact_seconds(struct buf *b, int64_t milli_ms)
{
    uint64_t a = milli_ms < 0 ? (uint64_t)0 - (uint64_t)milli_ms : (uint64_t)milli_ms;
    put(b, ",%s%" PRIu64 ".%06" PRIu64, milli_ms < 0 ? "-" : "", a / 1000000, a % 1000000);
}

static const char *const optional_fields[] = {"util_avg_pct", "idle_gpu_seconds", "mem_avg_bytes", "list_cost",
                                              "utilisation_discount", "idle_cost"};

static void put_row(struct buf *b, const char *month, const char *section, const char *key, const json_t *row,
                    const char *currency)
{
    put_field(b, month);
    put(b, ",%s,", section);
    put_field(b, key);
    const json_t *milli = json_object_get(row, "gpu_milli_ms");
    put_number(b, milli);
    if (json_is_integer(milli))
        put_exact_seconds(b, (int64_t)json_integer_value(milli));
    else
        put_number(b, json_object_get(row, "gpu_seconds"));
    put_number(b, json_object_get(row, "gpu_hours"));
    put_number(b, json_object_get(row, "pods"));
    put_number(b, json_object_get(row, "cost"));
    put(b, ",");
    put_field(b, currency);
    for (size_t i = 0; i < sizeof optional_fields / sizeof optional_fields[0]; i++)
        put_number(b, json_object_get(row, optional_fields[i]));
    put(b, "\n");
}

static void put_rows(struct buf *b, const char *month, const char *section, const json_t *rows,
                     const char *currency)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *key = json_string_value(json_object_get(row, "key"));
        put_row(b, month, section, key ? key : "", row, currency);
    }
}

int report_render_csv(const json_t *report, char **ret_text, size_t *ret_len)
{
    struct buf b = {0};
    const char *month = json_string_value(json_object_get(report, "month"));
    const char *currency = json_string_value(json_object_get(report, "currency"));
    if (!month)
        return GPUAAS_EINVAL;
    if (!currency)
        currency = "";
    put(&b, "%s\n", REPORT_CSV_HEADER);
    put_row(&b, month, "total", "total", json_object_get(report, "total"), currency);
    const json_t *prev = json_object_get(report, "previous");
    const char *prev_month = json_string_value(json_object_get(prev, "month"));
    put_row(&b, month, "previous_total", prev_month ? prev_month : "", json_object_get(prev, "total"), currency);
    put_rows(&b, month, "previous_org", json_object_get(prev, "orgs"), currency);
    char vs[32];
    snprintf(vs, sizeof vs, "vs %s", prev_month ? prev_month : "");
    put_row(&b, month, "change", vs, json_object_get(report, "change"), currency);
    static const struct {
        const char *section, *member;
    } sections[] = {{"org", "orgs"},           {"project", "projects"}, {"namespace", "namespaces"},
                    {"model", "models"},       {"capacity", "capacity"}, {"top_consumer", "top_consumers"}};
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++)
        put_rows(&b, month, sections[s].section, json_object_get(report, sections[s].member), currency);
    put_rows(&b, month, "utilisation", json_object_get(json_object_get(report, "utilisation"), "buckets"), "");
    if (b.failed) {
        free(b.data);
        return GPUAAS_ENOMEM;
    }
    *ret_text = b.data;
    *ret_len = b.len;
    return 0;
}
