#include "lib/quantity.h"

#include <stdbool.h>
#include <string.h>

#include "gpuaas/error.h"

/* Decimal places accepted in a memory quantity: enough for any exact
 * fraction anyone writes ("1.5Gi", "0.25Ti"), small enough that 10^d fits
 * in int64. */
#define MEMORY_MAX_DECIMALS 18
#define CPU_MAX_DECIMALS 3

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads one or more digits at *p into *ret_value, failing once the value
 * passes `limit` so that no input can overflow. Advances *p. */
static int read_uint(const char **p, int64_t limit, int64_t *ret_value)
{
    const char *s = *p;
    int64_t v = 0;
    if (!is_digit(*s))
        return GPUAAS_EINVAL;
    for (; is_digit(*s); s++) {
        int d = *s - '0';
        if (v > (limit - d) / 10)
            return GPUAAS_EINVAL;
        v = v * 10 + d;
    }
    *p = s;
    *ret_value = v;
    return 0;
}

/* Reads ".ddd" (at least one digit, at most max_decimals) if present.
 * Without a '.', the fraction is 0 with 0 decimals. */
static int read_fraction(const char **p, int max_decimals, int64_t *ret_frac, int *ret_decimals)
{
    const char *s = *p;
    int64_t frac = 0;
    int n = 0;
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return GPUAAS_EINVAL;
        for (; is_digit(*s); s++) {
            if (++n > max_decimals)
                return GPUAAS_EINVAL;
            frac = frac * 10 + (*s - '0');
        }
    }
    *p = s;
    *ret_frac = frac;
    *ret_decimals = n;
    return 0;
}

static int64_t pow10_i64(int n)
{
    int64_t v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

static int64_t gcd_i64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int quantity_parse_cpu_milli(const char *text, int64_t *ret_milli)
{
    if (!text)
        return GPUAAS_EINVAL;
    const char *p = text;
    int64_t whole, frac, milli;
    int decimals;
    if (read_uint(&p, QUANTITY_CPU_MILLI_MAX, &whole) < 0)
        return GPUAAS_EINVAL;
    if (*p == 'm' && p[1] == '\0') {
        /* "500m": already milli-cores, and no fraction of a milli-core. */
        milli = whole;
    } else {
        if (read_fraction(&p, CPU_MAX_DECIMALS, &frac, &decimals) < 0 || *p != '\0')
            return GPUAAS_EINVAL;
        if (whole > QUANTITY_CPU_MILLI_MAX / 1000)
            return GPUAAS_EINVAL;
        milli = whole * 1000 + frac * pow10_i64(CPU_MAX_DECIMALS - decimals);
    }
    if (milli > QUANTITY_CPU_MILLI_MAX)
        return GPUAAS_EINVAL;
    *ret_milli = milli;
    return 0;
}

struct unit {
    const char *suffix;
    int64_t factor;
};

static const struct unit memory_units[] = {
    {"", 1},
    {"k", 1000LL},
    {"M", 1000LL * 1000},
    {"G", 1000LL * 1000 * 1000},
    {"T", 1000LL * 1000 * 1000 * 1000},
    {"P", 1000LL * 1000 * 1000 * 1000 * 1000},
    {"Ki", 1LL << 10},
    {"Mi", 1LL << 20},
    {"Gi", 1LL << 30},
    {"Ti", 1LL << 40},
    {"Pi", 1LL << 50},
};

int quantity_parse_memory_bytes(const char *text, int64_t *ret_bytes)
{
    if (!text)
        return GPUAAS_EINVAL;
    const char *p = text;
    int64_t whole, frac;
    int decimals;
    if (read_uint(&p, QUANTITY_MEMORY_MAX, &whole) < 0)
        return GPUAAS_EINVAL;
    if (read_fraction(&p, MEMORY_MAX_DECIMALS, &frac, &decimals) < 0)
        return GPUAAS_EINVAL;
    const struct unit *u = NULL;
    for (size_t i = 0; i < sizeof memory_units / sizeof memory_units[0]; i++)
        if (strcmp(p, memory_units[i].suffix) == 0)
            u = &memory_units[i];
    if (!u)
        return GPUAAS_EINVAL;
    if (whole > QUANTITY_MEMORY_MAX / u->factor)
        return GPUAAS_EINVAL;
    int64_t bytes = whole * u->factor;
    if (frac != 0) {
        /* frac/10^d * factor must be a whole number of bytes. Dividing out
         * the common factor first keeps every product below `factor`. */
        int64_t scale = pow10_i64(decimals);
        int64_t g = gcd_i64(u->factor, scale);
        int64_t denom = scale / g;
        if (frac % denom != 0)
            return GPUAAS_EINVAL;
        int64_t part = (frac / denom) * (u->factor / g);
        if (bytes > QUANTITY_MEMORY_MAX - part)
            return GPUAAS_EINVAL;
        bytes += part;
    }
    *ret_bytes = bytes;
    return 0;
}

/* Duration units, largest first: components must appear in this order. */
static const struct unit duration_units[] = {
    {"d", 86400LL * 1000}, {"h", 3600LL * 1000}, {"m", 60LL * 1000}, {"s", 1000}, {"ms", 1},
};
#define N_DURATION_UNITS (sizeof duration_units / sizeof duration_units[0])

/* Matches the unit at *p: "ms" wins over "m" when followed by 's'. */
static int read_duration_unit(const char **p, size_t *ret_index)
{
    const char *s = *p;
    size_t idx, len;
    if (s[0] == 'm' && s[1] == 's') {
        idx = 4;
        len = 2;
    } else if (s[0] == 'd') {
        idx = 0;
        len = 1;
    } else if (s[0] == 'h') {
        idx = 1;
        len = 1;
    } else if (s[0] == 'm') {
        idx = 2;
        len = 1;
    } else if (s[0] == 's') {
        idx = 3;
        len = 1;
    } else {
        return GPUAAS_EINVAL;
    }
    *p = s + len;
    *ret_index = idx;
    return 0;
}

int quantity_parse_duration_ms(const char *text, int64_t *ret_ms)
{
    if (!text || !*text)
        return GPUAAS_EINVAL;
    const char *p = text;
    int64_t total = 0;
    size_t next_allowed = 0; /* each unit at most once, largest first */
    while (*p) {
        int64_t n;
        size_t idx;
        if (read_uint(&p, QUANTITY_DURATION_MS_MAX, &n) < 0)
            return GPUAAS_EINVAL;
        if (read_duration_unit(&p, &idx) < 0 || idx < next_allowed)
            return GPUAAS_EINVAL;
        next_allowed = idx + 1;
        int64_t factor = duration_units[idx].factor;
        if (n > (QUANTITY_DURATION_MS_MAX - total) / factor)
            return GPUAAS_EINVAL;
        total += n * factor;
    }
    if (total <= 0)
        return GPUAAS_EINVAL;
    *ret_ms = total;
    return 0;
}

/* ---- formatting ----------------------------------------------------- */

/* Small fixed buffer the formatters fill before copying out, so `out` is
 * written only on success. 64 bytes hold any int64 with every suffix. */
struct fmt {
    char buf[64];
    size_t len;
};

static void fmt_str(struct fmt *f, const char *s)
{
    while (*s && f->len < sizeof f->buf - 1)
        f->buf[f->len++] = *s++;
}

static void fmt_u64(struct fmt *f, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && f->len < sizeof f->buf - 1)
        f->buf[f->len++] = tmp[--n];
}

static int fmt_finish(const struct fmt *f, char *out, size_t out_size)
{
    if (!out || out_size < f->len + 1)
        return GPUAAS_ETOOBIG;
    memcpy(out, f->buf, f->len);
    out[f->len] = '\0';
    return (int)f->len;
}

int quantity_format_cpu_milli(int64_t milli, char *out, size_t out_size)
{
    struct fmt f = {.len = 0};
    if (milli < 0)
        return GPUAAS_EINVAL;
    if (milli % 1000 == 0) {
        fmt_u64(&f, (uint64_t)(milli / 1000));
    } else {
        fmt_u64(&f, (uint64_t)milli);
        fmt_str(&f, "m");
    }
    return fmt_finish(&f, out, out_size);
}

int quantity_format_memory_bytes(int64_t bytes, char *out, size_t out_size)
{
    static const char *const binary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    struct fmt f = {.len = 0};
    if (bytes < 0)
        return GPUAAS_EINVAL;
    size_t unit = 0;
    /* 0 stays "0" rather than "0Pi". */
    while (bytes != 0 && bytes % 1024 == 0 && unit + 1 < sizeof binary / sizeof binary[0]) {
        bytes /= 1024;
        unit++;
    }
    fmt_u64(&f, (uint64_t)bytes);
    fmt_str(&f, binary[unit]);
    return fmt_finish(&f, out, out_size);
}

int quantity_format_duration_ms(int64_t ms, char *out, size_t out_size)
{
    struct fmt f = {.len = 0};
    if (ms < 0)
        return GPUAAS_EINVAL;
    if (ms == 0) {
        fmt_str(&f, "0s");
        return fmt_finish(&f, out, out_size);
    }
    for (size_t i = 0; i < N_DURATION_UNITS; i++) {
        int64_t n = ms / duration_units[i].factor;
        if (n == 0)
            continue;
        ms -= n * duration_units[i].factor;
        fmt_u64(&f, (uint64_t)n);
        fmt_str(&f, duration_units[i].suffix);
    }
    return fmt_finish(&f, out, out_size);
}
