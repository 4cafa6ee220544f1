/* `gpuaas usage`: GPU time and cost from GET /v1/usage, as a table, CSV,
 * JSON or YAML. */
#include "cli/usage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "gpuaas/error.h"

static const char *const usage_groups[] = {"namespace", "project", "org",        "model", "capacity",
                                           "node",      "pod",     "node-group", "series"};

bool cli_usage_month_valid(const char *text)
{
    int y, m;

    if (!text || strlen(text) != 7 || text[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (text[i] < '0' || text[i] > '9'))
            return false;
    y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    m = (text[5] - '0') * 10 + (text[6] - '0');
    return y >= 1970 && m >= 1 && m <= 12;
}

bool cli_usage_by_valid(const char *text)
{
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof usage_groups / sizeof usage_groups[0]; i++)
        if (strcmp(usage_groups[i], text) == 0)
            return true;
    return false;
}

int cli_usage_check(const char *month, const char *from, const char *to, const char *by, char *err,
                    size_t err_size)
{
    if (month && (from || to)) {
        snprintf(err, err_size, "give either --month or --from/--to, not both");
        return GPUAAS_EINVAL;
    }
    if (month && !cli_usage_month_valid(month)) {
        snprintf(err, err_size, "--month \"%s\" is not a month YYYY-MM (e.g. 2026-11)", month);
        return GPUAAS_EINVAL;
    }
    if (by && !cli_usage_by_valid(by)) {
        snprintf(err, err_size,
                 "--by \"%s\" is not one of namespace, project, org, model, capacity, node, node-group, series, pod",
                 by);
        return GPUAAS_EINVAL;
    }
    return 0;
}

char *cli_usage_path(const char *month, const char *from, const char *to, const char *by, const char *ns)
{
    const char *names[] = {"month", "from", "to", "by", "namespace"};
    const char *values[] = {month, from, to, by, ns};
    size_t cap = 16, len;
    char *path, *grown;

    for (size_t i = 0; i < 5; i++)
        if (values[i])
            cap += strlen(names[i]) + 2 + 3 * strlen(values[i]);
    path = malloc(cap);
    if (!path)
        return NULL;
    len = (size_t)snprintf(path, cap, "/v1/usage");
    for (size_t i = 0; i < 5; i++) {
        char *q;
        if (!values[i])
            continue;
        q = http_escape(values[i], i == 4);
        if (!q) {
            free(path);
            return NULL;
        }
        len += (size_t)snprintf(path + len, cap - len, "%c%s=%s", len == 9 ? '?' : '&', names[i], q);
        free(q);
    }
    grown = realloc(path, len + 1);
    return grown ? grown : path;
}

char *cli_csv_field(const char *text)
{
    size_t n = text ? strlen(text) : 0, quotes = 0;
    bool quote;
    char *out, *p;

    if (!text)
        return strdup("");
    quote = strpbrk(text, ",\"\r\n") != NULL || (n && (text[0] == ' ' || text[n - 1] == ' '));
    if (!quote)
        return strdup(text);
    for (const char *s = text; *s; s++)
        quotes += *s == '"';
    out = malloc(n + quotes + 3);
    if (!out)
        return NULL;
    p = out;
    *p++ = '"';
    for (const char *s = text; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    return out;
}

void cli_upper(const char *text, char *out, size_t out_size)
{
    size_t i = 0;

    if (!out_size)
        return;
    for (; text && text[i] && i + 1 < out_size; i++)
        out[i] = text[i] >= 'a' && text[i] <= 'z' ? (char)(text[i] - 'a' + 'A') : text[i];
    out[i] = '\0';
}

/* ---- printing ---------------------------------------------------------- */

static double num(const json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

/* The row's key as text (a string, or a number the server might send). */
static const char *row_key(const json_t *row, char *buf, size_t size)
{
    const json_t *k = json_object_get(row, "key");
    const char *text = k ? cli_json_text(k, buf, size) : NULL;
    return text ? text : "";
}

static void money(char *out, size_t size, const json_t *v, const char *currency)
{
    if (json_is_number(v))
        snprintf(out, size, "%.2f%s%s", json_number_value(v), *currency ? " " : "", currency);
    else
        snprintf(out, size, "-");
}

/* With the utilisation factor on, the list price, the discount and the cost
 * of idle allocated time are columns of their own. */
static int add_table_row(struct table *t, const char *key, const json_t *row, const char *currency, bool factor)
{
    char hours[48], pods[32], util[32], idle[48], list[64], discount[64], idle_cost[64], cost[64];
    const json_t *u = json_object_get(row, "util_avg_pct");

    snprintf(hours, sizeof hours, "%.3f", num(row, "gpu_hours"));
    snprintf(pods, sizeof pods, "%.0f", num(row, "pods"));
    if (json_is_number(u))
        snprintf(util, sizeof util, "%.1f", json_number_value(u));
    else
        snprintf(util, sizeof util, "-");
    snprintf(idle, sizeof idle, "%.3f", num(row, "idle_gpu_seconds") / 3600.0);
    money(cost, sizeof cost, json_object_get(row, "cost"), currency);
    if (!factor) {
        const char *cells[] = {key, hours, pods, util, idle, cost};
        return table_add_row(t, cells);
    }
    money(list, sizeof list, json_object_get(row, "list_cost"), currency);
    money(discount, sizeof discount, json_object_get(row, "utilisation_discount"), currency);
    money(idle_cost, sizeof idle_cost, json_object_get(row, "idle_cost"), currency);
    const char *cells[] = {key, hours, pods, util, idle, list, discount, idle_cost, cost};
    return table_add_row(t, cells);
}

static int print_table(const json_t *reply, const char *by, const char *currency)
{
    char header[64], kbuf[64];
    struct table *t = NULL;
    const json_t *row, *rows = json_object_get(reply, "rows"), *total = json_object_get(reply, "total");
    bool factor = json_is_true(json_object_get(reply, "utilisation_factor"));
    size_t i;
    int r, rc = CLI_EXIT_OK;

    cli_upper(by, header, sizeof header);
    if (table_new(factor ? 9 : 6, &t) < 0)
        return cli_fail("out of memory");
    if (factor) {
        const char *headers[] = {header, "GPU-HOURS", "PODS", "UTIL%", "IDLE-GPU-HOURS", "LIST", "UTIL-DISCOUNT",
                                 "IDLE-COST", "COST"};
        r = table_add_row(t, headers);
    } else {
        const char *headers[] = {header, "GPU-HOURS", "PODS", "UTIL%", "IDLE-GPU-HOURS", "COST"};
        r = table_add_row(t, headers);
    }
    json_array_foreach(rows, i, row)
    {
        if (r < 0)
            break;
        r = add_table_row(t, row_key(row, kbuf, sizeof kbuf), row, currency, factor);
    }
    if (r == 0 && json_is_object(total))
        r = add_table_row(t, "TOTAL", total, currency, factor);
    if (r < 0)
        rc = cli_fail("cannot build the table: %s", gpuaas_strerror(r));
    else
        table_print(t, stdout, 0);
    table_free(t);
    return rc;
}

static void print_csv_number(const json_t *v, int decimals)
{
    putchar(',');
    if (json_is_number(v))
        printf("%.*f", decimals, json_number_value(v));
}

static int print_csv_row(const char *key, const json_t *row, const char *currency, bool factor)
{
    char *k = cli_csv_field(key), *cur = cli_csv_field(currency);
    const json_t *c = json_object_get(row, "cost");

    if (!k || !cur) {
        free(k);
        free(cur);
        return cli_fail("out of memory");
    }
    printf("%s,%.6f,%.3f,%.0f,", k, num(row, "gpu_hours"), num(row, "gpu_seconds"), num(row, "pods"));
    if (json_is_number(c))
        printf("%.2f", json_number_value(c));
    printf(",%s", json_is_number(c) ? cur : "");
    print_csv_number(json_object_get(row, "util_avg_pct"), 2);
    print_csv_number(json_object_get(row, "idle_gpu_seconds"), 3);
    print_csv_number(json_object_get(row, "mem_avg_bytes"), 0);
    if (factor) {
        print_csv_number(json_object_get(row, "list_cost"), 2);
        print_csv_number(json_object_get(row, "utilisation_discount"), 2);
        print_csv_number(json_object_get(row, "idle_cost"), 2);
    }
    putchar('\n');
    free(k);
    free(cur);
    return CLI_EXIT_OK;
}

static int print_csv(const json_t *reply, const char *currency)
{
    char kbuf[64];
    const json_t *row, *total = json_object_get(reply, "total");
    bool factor = json_is_true(json_object_get(reply, "utilisation_factor"));
    size_t i;
    int rc = CLI_EXIT_OK;

    printf("key,gpu_hours,gpu_seconds,pods,cost,currency,util_avg_pct,idle_gpu_seconds,mem_avg_bytes%s\n",
           factor ? ",list_cost,utilisation_discount,idle_cost" : "");
    json_array_foreach(json_object_get(reply, "rows"), i, row)
    {
        rc = print_csv_row(row_key(row, kbuf, sizeof kbuf), row, currency, factor);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if (json_is_object(total))
        rc = print_csv_row("total", total, currency, factor);
    return rc;
}

int cli_verb_usage(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    char err[256];
    char *path;
    json_t *reply = NULL;
    const char *by, *currency;
    int rc;

    if (a->npos > 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[1]);
    if (cli_usage_check(a->month, a->from, a->to, a->by, err, sizeof err) < 0)
        return cli_usage_error(ctx, "%s", err);
    path = cli_usage_path(a->month, a->from, a->to, a->by, a->ns);
    if (!path)
        return cli_fail("out of memory");
    rc = cli_api(ctx, "GET", path, NULL, &reply);
    free(path);
    if (rc != CLI_EXIT_OK)
        return rc;
    by = cli_json_str(reply, "by");
    if (!by)
        by = a->by ? a->by : "namespace";
    currency = cli_json_str(reply, "currency");
    if (!currency)
        currency = "";
    if (a->output == CLI_OUT_JSON || a->output == CLI_OUT_YAML)
        rc = cli_print_object(ctx, reply);
    else if (a->output == CLI_OUT_CSV)
        rc = print_csv(reply, currency);
    else
        rc = print_table(reply, by, currency);
    json_decref(reply);
    return rc;
}
