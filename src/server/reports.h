/* The monthly close: once the clock has passed a month boundary, the report
 * of the month that ended is built and stored, exactly once. It runs as the
 * engine's tick hook (the one writer), so a report is built from committed
 * state only, and the store's primary key on the month makes a second one
 * impossible, whatever crashes and restarts happen in between: a month
 * without a stored report is simply closed again at the next tick. */
#ifndef GPUAAS_SERVER_REPORTS_H
#define GPUAAS_SERVER_REPORTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/meter.h"
#include "core/model.h"
#include "core/report.h"
#include "store/store.h"

/* For tests only: GPUAAS_TEST_CRASH=report-before-build | report-before-commit
 * | report-after-commit makes the server kill itself (SIGKILL) at that point
 * of closing a month. */
#define REPORT_CRASH_ENV "GPUAAS_TEST_CRASH"

enum report_crash { REPORT_CRASH_NONE, REPORT_CRASH_BEFORE_BUILD, REPORT_CRASH_BEFORE_COMMIT, REPORT_CRASH_AFTER_COMMIT };

#define REPORT_RETRY_MS 60000 /* after a failed close */

struct report_closer {
    const struct meter_prices *prices; /* the config's; outlives the closer */
    const struct tzmonth_table *months; /* the metering time zone's months (NULL: UTC); outlives the closer */
    char title[REPORT_TITLE_MAX + 1];
    int64_t since_ms;       /* when this store first ran with reports: earlier months are not closed */
    char closed[16];        /* the latest month known to have its report ("" none checked yet) */
    int64_t retry_after_ms; /* after a failure, not before this */
    enum report_crash crash;
};

/* Reads (or, on the first start, records) since_ms in the store. Call before
 * the engine starts. err gets a message on failure. */
int report_closer_init(struct report_closer *c, struct store *store, const struct store_ops *ops, int64_t now_ms,
                       const struct meter_prices *prices, const char *title, char *err, size_t err_size);
/* The engine's tick hook (arg: the closer). Closes every month that ended
 * since the last one closed (at a start: since since_ms). */
void report_closer_tick(void *arg, const struct core_state *st, struct store *store, const struct store_ops *ops,
                        int64_t now_ms);

#endif
