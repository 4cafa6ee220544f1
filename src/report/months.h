/* Calendar months of the metering time zone for reports: the shell's side
 * of core/report.h, which takes month ranges as plain numbers. */
#ifndef GPUAAS_REPORT_MONTHS_H
#define GPUAAS_REPORT_MONTHS_H

#include <stddef.h>
#include <stdint.h>

#include "core/report.h"
#include "lib/tzmonth.h"

/* The month ("YYYY-MM") holding ms in the table's zone (NULL: UTC). */
void report_month_at(const struct tzmonth_table *months, int64_t ms, char *out, size_t out_size);
/* Fills opt's month and previous-month ranges for opt->month from the
 * table (NULL: UTC). 0 or GPUAAS_EINVAL (bad month, or none before it). */
int report_set_months(struct report_options *opt, const struct tzmonth_table *months);

#endif
