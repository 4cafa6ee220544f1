/* Calendar months in an IANA time zone, as [from, to) in UTC milliseconds.
 *
 * The boundaries are computed once (tzmonth_build, at start-up, before any
 * thread runs: it sets TZ for a moment and uses the C library's zone files)
 * into a table that is then only read, so lookups are pure and thread-safe.
 * A month starts at the first instant whose local date is its 1st. */
#ifndef GPUAAS_LIB_TZMONTH_H
#define GPUAAS_LIB_TZMONTH_H

#include <stddef.h>
#include <stdint.h>

#define TZMONTH_ZONE_MAX 64
#define TZMONTH_FIRST_YEAR 1970
#define TZMONTH_LAST_YEAR 2199
#define TZMONTH_COUNT ((TZMONTH_LAST_YEAR - TZMONTH_FIRST_YEAR + 1) * 12 + 1)

struct tzmonth_table {
    char zone[TZMONTH_ZONE_MAX + 1];
    int64_t *starts; /* TZMONTH_COUNT month starts from 1970-01; NULL for UTC (computed) */
};

/* Whether name looks like an IANA zone ("UTC", "Europe/Berlin") and, unless
 * it is UTC, a zone file exists for it. 0 or GPUAAS_EINVAL with err. */
int tzmonth_check(const char *zone, char *err, size_t err_size);
/* Fills the table for zone (validated as above). Not thread-safe: call while
 * the process has one thread. 0, GPUAAS_EINVAL (err says why), GPUAAS_ENOMEM. */
int tzmonth_build(struct tzmonth_table *t, const char *zone, char *err, size_t err_size);
void tzmonth_free(struct tzmonth_table *t);
/* "2026-11" -> [from, to) of that month in the table's zone. GPUAAS_EINVAL
 * for a malformed month or one outside 1970-01..2199-12. */
int tzmonth_range(const struct tzmonth_table *t, const char *month, int64_t *ret_from_ms, int64_t *ret_to_ms);

#endif
