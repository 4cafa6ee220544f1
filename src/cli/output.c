#include "cli/output.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpuaas/error.h"

struct table {
    size_t ncols;
    size_t nrows;
    size_t cap_rows;
    char **cells; /* nrows * ncols, row-major */
    size_t widths[TABLE_MAX_COLUMNS];
};

int table_new(size_t ncols, struct table **ret)
{
    struct table *t;

    if (ncols == 0 || ncols > TABLE_MAX_COLUMNS)
        return GPUAAS_EINVAL;
    t = calloc(1, sizeof *t);
    if (!t)
        return GPUAAS_ENOMEM;
    t->ncols = ncols;
    *ret = t;
    return 0;
}

size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) /* skip UTF-8 continuation bytes */
            w++;
    return w;
}

/* Copy of a cell: control characters become '?', and long values are cut
 * at a UTF-8 boundary with "..." appended. */
static char *cell_dup(const char *src)
{
    size_t len = strlen(src);
    bool cut = len > TABLE_MAX_CELL;
    char *dst;

    if (cut) {
        len = TABLE_MAX_CELL;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    dst = malloc(len + (cut ? 4 : 1));
    if (!dst)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (cut)
        memcpy(dst + len, "...", 4);
    else
        dst[len] = '\0';
    return dst;
}

int table_add_row(struct table *t, const char *const *cells)
{
    char **row;

    if (t->nrows >= TABLE_MAX_ROWS)
        return GPUAAS_ELIMIT;
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
        if (!grown)
            return GPUAAS_ENOMEM;
        t->cells = grown;
        t->cap_rows = cap;
    }
    row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = cell_dup(cells[c] ? cells[c] : "<none>");
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return GPUAAS_ENOMEM;
        }
    }
    for (size_t c = 0; c < t->ncols; c++) {
        size_t w = text_width(row[c]);
        if (w > t->widths[c])
            t->widths[c] = w;
    }
    t->nrows++;
    return 0;
}

size_t table_rows(const struct table *t) { return t->nrows; }

size_t table_column_width(const struct table *t, size_t col) { return col < t->ncols ? t->widths[col] : 0; }

void table_print(const struct table *t, FILE *out, unsigned indent)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char *const *row = t->cells + r * t->ncols;
        fprintf(out, "%*s", (int)indent, "");
        for (size_t c = 0; c < t->ncols; c++) {
            fputs(row[c], out);
            if (c + 1 < t->ncols) {
                size_t pad = t->widths[c] - text_width(row[c]) + 3;
                fprintf(out, "%*s", (int)pad, "");
            }
        }
        fputc('\n', out);
    }
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

static int parse_digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return GPUAAS_EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

static int expect_char(const char **p, const char *allowed)
{
    if (**p == '\0' || !strchr(allowed, **p))
        return GPUAAS_EINVAL;
    (*p)++;
    return 0;
}

int rfc3339_parse(const char *text, int64_t *ret_epoch_s)
{
    const char *p = text;
    int year, mon, day, hour, min, sec, off_h = 0, off_m = 0, sign = 0;
    struct tm tm = {0};
    time_t t;

    if (!text)
        return GPUAAS_EINVAL;
    if (parse_digits(&p, 4, &year) < 0 || expect_char(&p, "-") < 0 || parse_digits(&p, 2, &mon) < 0 ||
        expect_char(&p, "-") < 0 || parse_digits(&p, 2, &day) < 0 || expect_char(&p, "Tt ") < 0 ||
        parse_digits(&p, 2, &hour) < 0 || expect_char(&p, ":") < 0 || parse_digits(&p, 2, &min) < 0 ||
        expect_char(&p, ":") < 0 || parse_digits(&p, 2, &sec) < 0)
        return GPUAAS_EINVAL;
    if (*p == '.') { /* fractional seconds do not change an age */
        p++;
        if (!isdigit((unsigned char)*p))
            return GPUAAS_EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (parse_digits(&p, 2, &off_h) < 0 || expect_char(&p, ":") < 0 || parse_digits(&p, 2, &off_m) < 0)
            return GPUAAS_EINVAL;
    } else {
        return GPUAAS_EINVAL;
    }
    if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 ||
        off_h > 23 || off_m > 59)
        return GPUAAS_EINVAL;

    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return GPUAAS_EINVAL;
    *ret_epoch_s = (int64_t)t - (int64_t)sign * (off_h * 3600 + off_m * 60);
    return 0;
}

/* Same thresholds as kubectl's duration.HumanDuration, so AGE columns read
 * the same in both tools. */
int format_age(int64_t seconds, char *out, size_t out_size)
{
    int n;
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;

    if (seconds < -1)
        n = snprintf(out, out_size, "<invalid>");
    else if (seconds < 0)
        n = snprintf(out, out_size, "0s");
    else if (seconds < 120)
        n = snprintf(out, out_size, "%" PRId64 "s", seconds);
    else if (minutes < 10)
        n = seconds % 60 ? snprintf(out, out_size, "%" PRId64 "m%" PRId64 "s", minutes, seconds % 60)
                         : snprintf(out, out_size, "%" PRId64 "m", minutes);
    else if (minutes < 180)
        n = snprintf(out, out_size, "%" PRId64 "m", minutes);
    else if (hours < 8)
        n = minutes % 60 ? snprintf(out, out_size, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60)
                         : snprintf(out, out_size, "%" PRId64 "h", hours);
    else if (hours < 48)
        n = snprintf(out, out_size, "%" PRId64 "h", hours);
    else if (hours < 24 * 8)
        n = hours % 24 ? snprintf(out, out_size, "%" PRId64 "d%" PRId64 "h", days, hours % 24)
                       : snprintf(out, out_size, "%" PRId64 "d", days);
    else if (hours < 24 * 365 * 2)
        n = snprintf(out, out_size, "%" PRId64 "d", days);
    else if (hours < 24 * 365 * 8)
        n = days % 365 ? snprintf(out, out_size, "%" PRId64 "y%" PRId64 "d", days / 365, days % 365)
                       : snprintf(out, out_size, "%" PRId64 "y", days / 365);
    else
        n = snprintf(out, out_size, "%" PRId64 "y", days / 365);

    if (n < 0 || (size_t)n >= out_size)
        return GPUAAS_ETOOBIG;
    return n;
}

void format_age_since(const char *rfc3339, int64_t now, char *out, size_t out_size)
{
    int64_t t;

    if (out_size == 0)
        return;
    if (rfc3339_parse(rfc3339, &t) < 0 || format_age(now - t, out, out_size) < 0)
        snprintf(out, out_size, "<unknown>");
}
