#include "lib/tzmonth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gpuaas/error.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"

static bool is_utc(const char *zone) { return strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0; }

int tzmonth_check(const char *zone, char *err, size_t err_size)
{
    size_t len = zone ? strlen(zone) : 0;
    if (len == 0 || len > TZMONTH_ZONE_MAX || zone[0] == '/' || strstr(zone, "..") ||
        strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != len) {
        snprintf(err, err_size, "time zone '%.80s' is not an IANA zone name like Europe/Berlin or UTC",
                 zone ? zone : "");
        return GPUAAS_EINVAL;
    }
    if (is_utc(zone))
        return 0;
    char path[sizeof ZONEINFO_DIR + TZMONTH_ZONE_MAX + 2];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, zone);
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, err_size, "unknown time zone '%s' (no %s; the tzdata package provides the zones)", zone, path);
        return GPUAAS_EINVAL;
    }
    return 0;
}

/* Local date of t as y*10000 + m*100 + d, in the zone TZ names now. */
static long local_date(time_t t)
{
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    return (tm.tm_year + 1900L) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* The first second whose local date is on or after y-m-01. mktime gives a
 * guess (midnight may not exist on a day the clocks jump); a bisection
 * around it finds the exact second. */
static time_t month_start(int y, int m)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1, .tm_isdst = -1};
    time_t guess = mktime(&tm);
    long target = y * 10000L + m * 100 + 1;
    time_t lo = guess - 2 * 86400, hi = guess + 2 * 86400; /* local_date(lo) < target <= local_date(hi) */
    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (local_date(mid) >= target)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

int tzmonth_build(struct tzmonth_table *t, const char *zone, char *err, size_t err_size)
{
    memset(t, 0, sizeof *t);
    int r = tzmonth_check(zone, err, err_size);
    if (r < 0)
        return r;
    snprintf(t->zone, sizeof t->zone, "%s", zone);
    if (is_utc(zone))
        return 0;
    t->starts = malloc(TZMONTH_COUNT * sizeof *t->starts);
    if (!t->starts)
        return GPUAAS_ENOMEM;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    if (old && !saved) {
        tzmonth_free(t);
        return GPUAAS_ENOMEM;
    }
    setenv("TZ", zone, 1);
    tzset();
    for (int i = 0; i < TZMONTH_COUNT; i++)
        t->starts[i] = (int64_t)month_start(TZMONTH_FIRST_YEAR + i / 12, i % 12 + 1) * 1000;
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    return 0;
}

void tzmonth_free(struct tzmonth_table *t)
{
    if (!t)
        return;
    free(t->starts);
    t->starts = NULL;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int tzmonth_range(const struct tzmonth_table *t, const char *month, int64_t *ret_from_ms, int64_t *ret_to_ms)
{
    int y = 0, m = 0;
    char tail;
    if (!month || strlen(month) != 7 || month[4] != '-' || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 ||
        y < TZMONTH_FIRST_YEAR || y > TZMONTH_LAST_YEAR || m < 1 || m > 12)
        return GPUAAS_EINVAL;
    int i = (y - TZMONTH_FIRST_YEAR) * 12 + (m - 1);
    if (!t || !t->starts) {
        int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
        *ret_from_ms = days_from_civil(y, m, 1) * 86400000LL;
        *ret_to_ms = days_from_civil(ny, nm, 1) * 86400000LL;
        return 0;
    }
    *ret_from_ms = t->starts[i];
    *ret_to_ms = t->starts[i + 1];
    return 0;
}
