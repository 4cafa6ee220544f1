#include "server/reports.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"
#include "report/months.h"

#define META_REPORTS_SINCE "reports_since_ms"

int report_closer_init(struct report_closer *c, struct store *store, const struct store_ops *ops, int64_t now_ms,
                       const struct meter_prices *prices, const char *title, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    c->prices = prices;
    snprintf(c->title, sizeof c->title, "%s", title ? title : "");
    const char *crash = getenv(REPORT_CRASH_ENV);
    if (crash && *crash) {
        if (strcmp(crash, "report-before-build") == 0)
            c->crash = REPORT_CRASH_BEFORE_BUILD;
        else if (strcmp(crash, "report-before-commit") == 0)
            c->crash = REPORT_CRASH_BEFORE_COMMIT;
        else if (strcmp(crash, "report-after-commit") == 0)
            c->crash = REPORT_CRASH_AFTER_COMMIT;
        else {
            snprintf(err, err_size, "%s=%s is not report-before-build, report-before-commit or report-after-commit",
                     REPORT_CRASH_ENV, crash);
            return GPUAAS_EINVAL;
        }
    }
    int r = ops->meta_init(store, META_REPORTS_SINCE, now_ms, &c->since_ms);
    if (r < 0)
        snprintf(err, err_size, "cannot read %s from the store: %s", META_REPORTS_SINCE, gpuaas_strerror(r));
    return r;
}

static void crash_point(const struct report_closer *c, enum report_crash point, const char *month)
{
    if (c->crash != point)
        return;
    static const char *const names[] = {"", "report-before-build", "report-before-commit", "report-after-commit"};
    fprintf(stderr, "gpuaas: %s: crashing at %s (closing %s)\n", REPORT_CRASH_ENV, names[point], month);
    fflush(stderr);
    raise(SIGKILL);
}

/* Builds and stores one month's report unless it has one. */
static int close_month(struct report_closer *c, const struct core_state *st, struct store *store,
                       const struct store_ops *ops, const char *month, int64_t now_ms)
{
    int64_t generated_ms;
    char *text = NULL;
    int r = ops->report_get(store, month, &generated_ms, &text);
    free(text);
    if (r != GPUAAS_ENOTFOUND)
        return r; /* stored already (0), or the store failed */
    crash_point(c, REPORT_CRASH_BEFORE_BUILD, month);
    json_t *report = NULL;
    struct report_options opt = {.month = month, .now_ms = now_ms, .prices = c->prices, .scope = "platform",
                                 .title = c->title[0] ? c->title : NULL};
    if ((r = report_set_months(&opt, c->months)) < 0 || (r = report_build(st, &opt, &report)) < 0)
        return r;
    /* 17 digits: the stored costs read back as the same doubles */
    text = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    double hours = json_number_value(json_object_get(json_object_get(report, "total"), "gpu_hours"));
    size_t namespaces = json_array_size(json_object_get(report, "namespaces"));
    json_decref(report);
    if (!text)
        return GPUAAS_ENOMEM;
    if ((r = ops->begin(store)) < 0) {
        free(text);
        return r;
    }
    r = ops->report_insert(store, month, now_ms, text);
    free(text);
    if (r < 0 && r != GPUAAS_EEXIST) {
        ops->rollback(store);
        return r;
    }
    crash_point(c, REPORT_CRASH_BEFORE_COMMIT, month);
    if (ops->commit(store) < 0) {
        ops->rollback(store);
        return GPUAAS_EIO;
    }
    crash_point(c, REPORT_CRASH_AFTER_COMMIT, month);
    if (r == 0)
        fprintf(stderr, "gpuaas: report for %s stored (%zu namespace%s, %.3f GPU-hours)\n", month, namespaces,
                namespaces == 1 ? "" : "s", hours);
    return 0;
}

void report_closer_tick(void *arg, const struct core_state *st, struct store *store, const struct store_ops *ops,
                        int64_t now_ms)
{
    struct report_closer *c = arg;
    char month[16], last[16], m[16];
    report_month_at(c->months, now_ms, month, sizeof month);
    if (report_month_add(month, -1, last, sizeof last) < 0)
        return;
    if (strcmp(c->closed, last) == 0 || now_ms < c->retry_after_ms)
        return;
    /* the months that ended since the last close (after a start: since the
     * store began), oldest first */
    if (c->closed[0])
        report_month_add(c->closed, 1, m, sizeof m);
    else
        report_month_at(c->months, c->since_ms, m, sizeof m);
    while (strcmp(m, last) <= 0) {
        int r = close_month(c, st, store, ops, m, now_ms);
        if (r < 0) {
            fprintf(stderr, "gpuaas: report for %s: %s; trying again in %d s\n", m, gpuaas_strerror(r),
                    REPORT_RETRY_MS / 1000);
            c->retry_after_ms = now_ms + REPORT_RETRY_MS;
            return;
        }
        snprintf(c->closed, sizeof c->closed, "%s", m);
        if (report_month_add(m, 1, m, sizeof m) < 0)
            break;
    }
    snprintf(c->closed, sizeof c->closed, "%s", last);
}
