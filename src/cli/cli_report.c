/* `gpuaas report`: a month's report from GET /v1/reports/{month} as PDF,
 * CSV or JSON, to a file (-O) or stdout; and `gpuaas get reports`, the
 * months whose report is stored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "cli/usage.h"
#include "core/report.h"
#include "gpuaas/error.h"
#include "lib/clock.h"

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcasecmp(text + n - m, suffix) == 0;
}

/* --format, else the -O file's extension, else json. */
static const char *pick_format(const struct cli_args *a)
{
    if (a->format)
        return a->format;
    if (a->out_file && ends_with(a->out_file, ".pdf"))
        return "pdf";
    if (a->out_file && ends_with(a->out_file, ".csv"))
        return "csv";
    return "json";
}

/* Writes data to path ("-": stdout) through a temporary file, so a failed
 * write never leaves half a report under the final name. */
static int write_output(const char *path, const char *data, size_t len)
{
    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return cli_fail("cannot write to standard output: %s", strerror(errno));
        return CLI_EXIT_OK;
    }
    size_t tmp_len = strlen(path) + 16;
    char *tmp = malloc(tmp_len);
    if (!tmp)
        return cli_fail("out of memory");
    snprintf(tmp, tmp_len, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = CLI_EXIT_OK;
    if (!f) {
        rc = cli_fail("cannot write %s: %s", path, strerror(errno));
    } else {
        bool ok = fwrite(data, 1, len, f) == len;
        ok &= fclose(f) == 0;
        if (!ok || rename(tmp, path) < 0) {
            rc = cli_fail("cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    return rc;
}

int cli_verb_report(struct cli_ctx *ctx)
{
    const struct cli_args *a = ctx->args;
    char month[16], *ns_q = NULL, path[512];
    const char *format = pick_format(a);
    struct http_reply reply = {0};
    int rc;

    if (a->npos > 1)
        return cli_usage_error(ctx, "unexpected argument \"%s\"", a->pos[1]);
    if (a->month && !cli_usage_month_valid(a->month))
        return cli_usage_error(ctx, "--month \"%s\" is not a month YYYY-MM (e.g. 2026-11)", a->month);
    if (strcmp(format, "pdf") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return cli_usage_error(ctx, "--format \"%s\" is not pdf, csv or json", format);
    if (a->output_set && (strcmp(format, "json") != 0 || (a->output != CLI_OUT_JSON && a->output != CLI_OUT_YAML)))
        return cli_usage_error(ctx, "-o only applies to --format json (-o json or -o yaml)");
    if (strcmp(format, "pdf") == 0 && (!a->out_file || strcmp(a->out_file, "-") == 0) && isatty(STDOUT_FILENO))
        return cli_usage_error(ctx, "a PDF is binary: write it to a file with -O FILE, or redirect stdout");
    if (a->month)
        snprintf(month, sizeof month, "%s", a->month);
    else
        report_month_of(clock_now_ms(), month, sizeof month); /* the month so far */
    if (a->ns && !(ns_q = http_escape(a->ns, 0)))
        return cli_fail("out of memory");
    snprintf(path, sizeof path, "/v1/reports/%s?format=%s%s%s", month, format, ns_q ? "&namespace=" : "",
             ns_q ? ns_q : "");
    free(ns_q);
    const char *accept = strcmp(format, "pdf") == 0   ? "application/pdf"
                         : strcmp(format, "csv") == 0 ? "text/csv"
                                                      : "application/json";
    rc = cli_request(ctx, "GET", path, accept, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (reply.status < 200 || reply.status > 299) {
        rc = cli_report_refusal(ctx, &reply);
        goto out;
    }
    if (strcmp(format, "json") == 0 && !a->out_file) {
        json_t *doc = json_loadb(reply.body, reply.len, 0, NULL);
        rc = doc ? cli_print_object(ctx, doc) : cli_fail("the server's reply is not JSON");
        json_decref(doc);
        goto out;
    }
    rc = write_output(a->out_file ? a->out_file : "-", reply.body, reply.len);
    if (rc == CLI_EXIT_OK && a->out_file && strcmp(a->out_file, "-") != 0)
        fprintf(stderr, "report for %s written to %s (%s, %zu bytes)\n", month, a->out_file, format, reply.len);
out:
    http_reply_free(&reply);
    return rc;
}

static int add_report_row(struct table *t, const json_t *item)
{
    char hours[48] = "-", cost[64] = "-";
    const json_t *h = json_object_get(item, "gpu_hours"), *c = json_object_get(item, "cost");
    const char *currency = cli_json_str(item, "currency");
    if (json_is_number(h))
        snprintf(hours, sizeof hours, "%.3f", json_number_value(h));
    if (json_is_number(c))
        snprintf(cost, sizeof cost, "%.2f%s%s", json_number_value(c), currency && *currency ? " " : "",
                 currency ? currency : "");
    const char *cells[] = {cli_json_str(item, "month"), cli_json_str(item, "generated_at"), hours, cost};
    return table_add_row(t, cells);
}

int cli_get_reports(struct cli_ctx *ctx, const char *name)
{
    json_t *reply = NULL;
    const json_t *items, *item, *found = NULL;
    struct table *t = NULL;
    size_t i;
    int r = 0, rc;

    if (name && !cli_usage_month_valid(name))
        return cli_usage_error(ctx, "\"%s\" is not a month YYYY-MM (e.g. 2026-11)", name);
    if (ctx->args->ns)
        return cli_usage_error(ctx, "stored reports are platform-wide; for a namespace use: gpuaas report -n NS");
    rc = cli_api(ctx, "GET", "/v1/reports", NULL, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    items = json_object_get(reply, "items");
    if (name) {
        json_array_foreach(items, i, item) if (strcmp(cli_json_str(item, "month") ?: "", name) == 0) found = item;
        if (!found) {
            rc = cli_fail("no stored report for %s (stored once a month has ended; gpuaas report --month %s "
                          "builds one now)",
                          name, name);
            goto out;
        }
    }
    if (ctx->args->output == CLI_OUT_JSON || ctx->args->output == CLI_OUT_YAML) {
        rc = cli_print_object(ctx, found ? found : reply);
        goto out;
    }
    if (table_new(4, &t) < 0) {
        rc = cli_fail("out of memory");
        goto out;
    }
    const char *headers[] = {"MONTH", "GENERATED", "GPU-HOURS", "COST"};
    r = table_add_row(t, headers);
    json_array_foreach(items, i, item) {
        if (r < 0)
            break;
        if (!found || item == found)
            r = add_report_row(t, item);
    }
    if (r < 0)
        rc = cli_fail("cannot build the table: %s", gpuaas_strerror(r));
    else if (table_rows(t) <= 1)
        fputs("No resources found.\n", stderr);
    else
        table_print(t, stdout, 0);
out:
    table_free(t);
    json_decref(reply);
    return rc;
}
