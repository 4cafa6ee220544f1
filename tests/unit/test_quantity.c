/* Unit tests for src/lib/quantity.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpuaas/error.h"
#include "lib/quantity.h"

struct ok_case {
    const char *text;
    int64_t want;
};

typedef int (*parse_fn)(const char *, int64_t *);
typedef int (*format_fn)(int64_t, char *, size_t);

static void check_ok(parse_fn parse, const struct ok_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = -12345;
        int r = parse(cases[i].text, &got);
        if (r != 0 || got != cases[i].want)
            fail_msg("\"%s\": r=%d got=%lld want=%lld", cases[i].text, r, (long long)got,
                     (long long)cases[i].want);
    }
}

/* Invalid input: EINVAL and the output left untouched. */
static void check_bad(parse_fn parse, const char *const *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = -777;
        int r = parse(cases[i], &got);
        if (r != GPUAAS_EINVAL || got != -777)
            fail_msg("\"%s\": want EINVAL, r=%d got=%lld", cases[i], r, (long long)got);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cpu ---------------------------------------------------------------- */

static void test_cpu_parse_valid(void **state)
{
    (void)state;
    static const struct ok_case cases[] = {
        {"0", 0},         {"1", 1000},       {"8", 8000},         {"48", 48000},
        {"0.5", 500},     {"2.5", 2500},     {"0.001", 1},        {"1.25", 1250},
        {"1.000", 1000},  {"007", 7000},     {"500m", 500},       {"1m", 1},
        {"0m", 0},        {"1500m", 1500},   {"1024", 1024000},   {"1024.000", 1024000},
        {"1024000m", 1024000}, {"1023.999", 1023999},
    };
    check_ok(quantity_parse_cpu_milli, cases, N(cases));
}

static void test_cpu_parse_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",        " 1",      "1 ",     "+1",      "-1",       "1.",       ".5",      "0.0001",
        "1.5m",    "m",       "1k",     "1M",      "1e3",      "1,5",      "1..5",    "1.2.3",
        "1024.001", "1025",   "1024001m", "99999999999999999999", "99999999999999999999m",
        "1 m",     "1mm",     "0x10",   "١",       "1\n",
    };
    check_bad(quantity_parse_cpu_milli, cases, N(cases));
    int64_t v = 5;
    assert_int_equal(quantity_parse_cpu_milli(NULL, &v), GPUAAS_EINVAL);
    assert_int_equal(v, 5);
}

static void test_cpu_format(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(quantity_format_cpu_milli(48000, buf, sizeof buf), 2);
    assert_string_equal(buf, "48");
    assert_int_equal(quantity_format_cpu_milli(500, buf, sizeof buf), 4);
    assert_string_equal(buf, "500m");
    assert_int_equal(quantity_format_cpu_milli(0, buf, sizeof buf), 1);
    assert_string_equal(buf, "0");
    assert_int_equal(quantity_format_cpu_milli(2500, buf, sizeof buf), 5);
    assert_string_equal(buf, "2500m");
    assert_int_equal(quantity_format_cpu_milli(1, buf, sizeof buf), 2);
    assert_string_equal(buf, "1m");
    assert_int_equal(quantity_format_cpu_milli(QUANTITY_CPU_MILLI_MAX, buf, sizeof buf), 4);
    assert_string_equal(buf, "1024");
    assert_int_equal(quantity_format_cpu_milli(-1, buf, sizeof buf), GPUAAS_EINVAL);
}

/* ---- memory ------------------------------------------------------------- */

static void test_memory_parse_valid(void **state)
{
    (void)state;
    static const struct ok_case cases[] = {
        {"0", 0},
        {"12345", 12345},
        {"1k", 1000},
        {"1000k", 1000000},
        {"1M", 1000000},
        {"1G", 1000000000},
        {"2T", 2000000000000LL},
        {"1Ki", 1024},
        {"512Mi", 512LL << 20},
        {"32Gi", 34359738368LL},
        {"1Ti", 1LL << 40},
        {"64Ti", 64LL << 40},
        {"1.5Gi", 3LL << 29},
        {"0.5Ki", 512},
        {"0.25Ti", 1LL << 38},
        {"1.5k", 1500},
        {"1.0", 1},
        {"2.000Gi", 2LL << 30},
        {"0.001k", 1},
        {"0.0009765625Ki", 1},
        {"0.01P", 10000000000000LL},
        {"0.03125Pi", 1LL << 45},
        {"70368744177664", QUANTITY_MEMORY_MAX},
    };
    check_ok(quantity_parse_memory_bytes, cases, N(cases));
}

static void test_memory_parse_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",          " 1Gi",       "1Gi ",      "+1Gi",       "-1Gi",        "1 Gi",       "Gi",
        "1gi",       "1GI",        "1K",        "1Ei",        "1E",          "1B",         "1iB",
        "1GiB",      "1.",         ".5Gi",      "1.5",        "0.5",         "0.0001k",    "1.1Ki",
        "65Ti",      "64.001Ti",   "1P",        "1Pi",        "70368744177665", "99999999999999999999",
        "9223372036854775808", "1e9", "0x10",   "1,000",      "0.1234567890123456789Ki",
    };
    check_bad(quantity_parse_memory_bytes, cases, N(cases));
}

static void test_memory_format(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(quantity_format_memory_bytes(34359738368LL, buf, sizeof buf), 4);
    assert_string_equal(buf, "32Gi");
    assert_int_equal(quantity_format_memory_bytes(512LL << 20, buf, sizeof buf), 5);
    assert_string_equal(buf, "512Mi");
    assert_int_equal(quantity_format_memory_bytes(1000, buf, sizeof buf), 4);
    assert_string_equal(buf, "1000");
    assert_int_equal(quantity_format_memory_bytes(0, buf, sizeof buf), 1);
    assert_string_equal(buf, "0");
    assert_int_equal(quantity_format_memory_bytes(1536, buf, sizeof buf), 4);
    assert_string_equal(buf, "1536");
    assert_int_equal(quantity_format_memory_bytes(3LL << 29, buf, sizeof buf), 6);
    assert_string_equal(buf, "1536Mi");
    assert_int_equal(quantity_format_memory_bytes(QUANTITY_MEMORY_MAX, buf, sizeof buf), 4);
    assert_string_equal(buf, "64Ti");
    assert_int_equal(quantity_format_memory_bytes(1LL << 50, buf, sizeof buf), 3);
    assert_string_equal(buf, "1Pi");
    assert_int_equal(quantity_format_memory_bytes(1LL << 60, buf, sizeof buf), 6);
    assert_string_equal(buf, "1024Pi");
    assert_int_equal(quantity_format_memory_bytes(-1024, buf, sizeof buf), GPUAAS_EINVAL);
}

/* ---- durations ---------------------------------------------------------- */

static void test_duration_parse_valid(void **state)
{
    (void)state;
    static const struct ok_case cases[] = {
        {"90s", 90000},
        {"15m", 900000},
        {"4h", 14400000},
        {"2d", 172800000},
        {"1h30m", 5400000},
        {"500ms", 500},
        {"1ms", 1},
        {"1m30s", 90000},
        {"1d2h3m4s5ms", 93784005},
        {"0h1s", 1000},
        {"1m0s", 60000},
        {"366d", QUANTITY_DURATION_MS_MAX},
        {"365d23h59m59s999ms", QUANTITY_DURATION_MS_MAX - 1},
        {"31622400000ms", QUANTITY_DURATION_MS_MAX},
        {"3600s", 3600000},
    };
    check_ok(quantity_parse_duration_ms, cases, N(cases));
}

static void test_duration_parse_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",       "0s",     "0ms",    "0h0m",   "90",     "s",      " 90s",   "90s ",   "-1s",
        "+1s",    "1.5h",   "1w",     "1y",     "1us",    "1ns",    "1H",     "1S",     "1h 30m",
        "30m1h",  "1s1s",   "1m1m",   "1ms1s",  "1h30",   "367d",   "366d1ms", "31622400001ms",
        "99999999999999999999s", "9223372036854775807ms", "1msx", "1hm",
    };
    check_bad(quantity_parse_duration_ms, cases, N(cases));
}

static void test_duration_format(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(quantity_format_duration_ms(5400000, buf, sizeof buf), 5);
    assert_string_equal(buf, "1h30m");
    assert_int_equal(quantity_format_duration_ms(500, buf, sizeof buf), 5);
    assert_string_equal(buf, "500ms");
    assert_int_equal(quantity_format_duration_ms(0, buf, sizeof buf), 2);
    assert_string_equal(buf, "0s");
    assert_int_equal(quantity_format_duration_ms(90000, buf, sizeof buf), 5);
    assert_string_equal(buf, "1m30s");
    assert_int_equal(quantity_format_duration_ms(86400000, buf, sizeof buf), 2);
    assert_string_equal(buf, "1d");
    assert_int_equal(quantity_format_duration_ms(93784005, buf, sizeof buf), 11);
    assert_string_equal(buf, "1d2h3m4s5ms");
    assert_int_equal(quantity_format_duration_ms(86400001, buf, sizeof buf), 5);
    assert_string_equal(buf, "1d1ms");
    assert_int_equal(quantity_format_duration_ms(-5, buf, sizeof buf), GPUAAS_EINVAL);
}

/* ---- buffers and round trips --------------------------------------------- */

static void test_format_buffer_too_small(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'X', sizeof buf);
    /* "500m" needs 5 bytes with the NUL. */
    assert_int_equal(quantity_format_cpu_milli(500, buf, 4), GPUAAS_ETOOBIG);
    assert_int_equal(buf[0], 'X'); /* untouched on failure */
    assert_int_equal(quantity_format_cpu_milli(500, buf, 5), 4);
    assert_string_equal(buf, "500m");

    memset(buf, 'X', sizeof buf);
    assert_int_equal(quantity_format_memory_bytes(34359738368LL, buf, 4), GPUAAS_ETOOBIG);
    assert_int_equal(buf[0], 'X');
    assert_int_equal(quantity_format_memory_bytes(34359738368LL, buf, 5), 4);
    assert_string_equal(buf, "32Gi");

    memset(buf, 'X', sizeof buf);
    assert_int_equal(quantity_format_duration_ms(5400000, buf, 5), GPUAAS_ETOOBIG);
    assert_int_equal(buf[0], 'X');
    assert_int_equal(quantity_format_duration_ms(5400000, buf, 6), 5);
    assert_string_equal(buf, "1h30m");

    assert_int_equal(quantity_format_duration_ms(0, NULL, 0), GPUAAS_ETOOBIG);
    assert_int_equal(quantity_format_cpu_milli(0, buf, 0), GPUAAS_ETOOBIG);
    assert_int_equal(quantity_format_memory_bytes(1, buf, 1), GPUAAS_ETOOBIG);
}

static void round_trip(parse_fn parse, format_fn format, int64_t v)
{
    char buf[64];
    int64_t back = -1;
    int n = format(v, buf, sizeof buf);
    if (n <= 0 || (size_t)n != strlen(buf))
        fail_msg("format(%lld) returned %d", (long long)v, n);
    if (parse(buf, &back) != 0 || back != v)
        fail_msg("parse(format(%lld)) = parse(\"%s\") -> %lld", (long long)v, buf, (long long)back);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const int64_t cpu[] = {0, 1, 7, 250, 999, 1000, 1001, 2500, 48000, 123456, QUANTITY_CPU_MILLI_MAX - 1,
                                  QUANTITY_CPU_MILLI_MAX};
    for (size_t i = 0; i < N(cpu); i++)
        round_trip(quantity_parse_cpu_milli, quantity_format_cpu_milli, cpu[i]);
    for (int64_t m = 0; m <= QUANTITY_CPU_MILLI_MAX; m += 997)
        round_trip(quantity_parse_cpu_milli, quantity_format_cpu_milli, m);

    static const int64_t mem[] = {0, 1, 1000, 1023, 1024, 1025, 1536, 1LL << 20, 3LL << 29, 34359738368LL,
                                  (1LL << 40) + 1024, QUANTITY_MEMORY_MAX - 1, QUANTITY_MEMORY_MAX};
    for (size_t i = 0; i < N(mem); i++)
        round_trip(quantity_parse_memory_bytes, quantity_format_memory_bytes, mem[i]);
    for (int shift = 0; shift <= 46; shift++)
        for (int64_t k = 1; k <= 7; k += 2)
            if ((k << shift) <= QUANTITY_MEMORY_MAX)
                round_trip(quantity_parse_memory_bytes, quantity_format_memory_bytes, k << shift);

    static const int64_t dur[] = {1, 999, 1000, 1001, 59999, 60000, 90000, 3599999, 3600000, 5400000,
                                  86399999, 86400000, 93784005, QUANTITY_DURATION_MS_MAX - 1,
                                  QUANTITY_DURATION_MS_MAX};
    for (size_t i = 0; i < N(dur); i++)
        round_trip(quantity_parse_duration_ms, quantity_format_duration_ms, dur[i]);
    for (int64_t ms = 1; ms <= QUANTITY_DURATION_MS_MAX; ms = ms * 3 + 7)
        round_trip(quantity_parse_duration_ms, quantity_format_duration_ms, ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_parse_valid),        cmocka_unit_test(test_cpu_parse_invalid),
        cmocka_unit_test(test_cpu_format),             cmocka_unit_test(test_memory_parse_valid),
        cmocka_unit_test(test_memory_parse_invalid),   cmocka_unit_test(test_memory_format),
        cmocka_unit_test(test_duration_parse_valid),   cmocka_unit_test(test_duration_parse_invalid),
        cmocka_unit_test(test_duration_format),        cmocka_unit_test(test_format_buffer_too_small),
        cmocka_unit_test(test_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
