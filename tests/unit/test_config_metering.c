/* The config's metering section: time zone, sampling period, utilisation
 * factor; bad values are refused with the field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpuaas/error.h"
#include "server/config.h"

static int parse(const char *yaml, struct server_config *cfg, char *err, size_t err_size)
{
    err[0] = '\0';
    return config_parse(yaml, strlen(yaml), cfg, err, err_size);
}

static void test_defaults(void **state)
{
    (void)state;
    struct server_config cfg;
    char err[512];
    assert_int_equal(parse("listen: 127.0.0.1:0\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.time_zone, "UTC");
    assert_int_equal(cfg.util_sample_ms, 15000);
    assert_false(cfg.prices.utilisation_factor);
    config_release(&cfg);
    /* the embedded default parses and says the same */
    assert_int_equal(parse(config_default_yaml, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.time_zone, "UTC");
    assert_false(cfg.prices.utilisation_factor);
    config_release(&cfg);
}

static void test_set(void **state)
{
    (void)state;
    struct server_config cfg;
    char err[512];
    assert_int_equal(parse("metering:\n  time_zone: America/Los_Angeles\n  sample_interval: 30s\n"
                           "  utilisation_factor: true\n"
                           "prices:\n  currency: EUR\n  gpu_hour:\n    T4: {spot: 0.2}\n",
                           &cfg, err, sizeof err),
                     0);
    assert_string_equal(cfg.time_zone, "America/Los_Angeles");
    assert_int_equal(cfg.util_sample_ms, 30000);
    assert_true(cfg.prices.utilisation_factor);
    assert_string_equal(cfg.prices.currency, "EUR");
    config_release(&cfg);
}

static void test_refused(void **state)
{
    (void)state;
    struct {
        const char *yaml, *where;
    } bad[] = {
        {"metering:\n  time_zone: Mars/Olympus\n", "metering.time_zone"},
        {"metering:\n  time_zone: ../../etc/passwd\n", "metering.time_zone"},
        {"metering:\n  sample_interval: 10ms\n", "metering.sample_interval"},
        {"metering:\n  sample_interval: 2h\n", "metering.sample_interval"},
        {"metering:\n  utilisation_factor: maybe\n", "metering"},
        {"metering:\n  period: 1s\n", "metering"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct server_config cfg;
        char err[512];
        assert_int_equal(parse(bad[i].yaml, &cfg, err, sizeof err), GPUAAS_EINVAL);
        if (strncmp(err, bad[i].where, strlen(bad[i].where)) != 0)
            fail_msg("'%s' refused as '%s', expected it to name %s", bad[i].yaml, err, bad[i].where);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
