#include "report/months.h"

#include <stdio.h>

#include "gpuaas/error.h"

void report_month_at(const struct tzmonth_table *months, int64_t ms, char *out, size_t out_size)
{
    char month[16], near[16];
    int64_t from, to;
    report_month_of(ms, month, sizeof month);
    /* a zone's month starts at most a day before or after the UTC one */
    if (tzmonth_range(months, month, &from, &to) == 0) {
        if (ms < from && report_month_add(month, -1, near, sizeof near) == 0)
            snprintf(month, sizeof month, "%s", near);
        else if (ms >= to && report_month_add(month, 1, near, sizeof near) == 0)
            snprintf(month, sizeof month, "%s", near);
    }
    snprintf(out, out_size, "%s", month);
}

int report_set_months(struct report_options *opt, const struct tzmonth_table *months)
{
    char prev[16];
    if (tzmonth_range(months, opt->month, &opt->from_ms, &opt->to_ms) < 0 ||
        report_month_add(opt->month, -1, prev, sizeof prev) < 0 ||
        tzmonth_range(months, prev, &opt->prev_from_ms, &opt->prev_to_ms) < 0)
        return GPUAAS_EINVAL;
    return 0;
}
