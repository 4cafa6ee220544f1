/* The config's metering and scheduler sections: defaults when absent,
 * values set, bad values refused with the field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/place.h"
#include "gpuaas/error.h"
#include "server/config.h"

static int parse(const char *yaml, struct server_config *cfg, char *err, size_t err_size)
{
    err[0] = '\0';
    return config_parse(yaml, strlen(yaml), cfg, err, err_size);
}

struct refusal {
    const char *yaml, *where; /* the config, and the field its error must name first */
};

static void expect_refused(const struct refusal *bad, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct server_config cfg;
        char err[512];
        assert_int_equal(parse(bad[i].yaml, &cfg, err, sizeof err), GPUAAS_EINVAL);
        if (strncmp(err, bad[i].where, strlen(bad[i].where)) != 0)
            fail_msg("'%s' refused as '%s', expected it to name %s", bad[i].yaml, err, bad[i].where);
    }
}

static void test_metering_defaults(void **state)
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

static void test_metering_set(void **state)
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

static void test_metering_refused(void **state)
{
    (void)state;
    const struct refusal bad[] = {
        {"metering:\n  time_zone: Mars/Olympus\n", "metering.time_zone"},
        {"metering:\n  time_zone: ../../etc/passwd\n", "metering.time_zone"},
        {"metering:\n  sample_interval: 10ms\n", "metering.sample_interval"},
        {"metering:\n  sample_interval: 2h\n", "metering.sample_interval"},
        {"metering:\n  utilisation_factor: maybe\n", "metering"},
        {"metering:\n  period: 1s\n", "metering"},
    };
    expect_refused(bad, sizeof bad / sizeof bad[0]);
}

static void test_scheduler_defaults(void **state)
{
    (void)state;
    struct server_config cfg;
    char err[512];
    const char *texts[] = {"listen: 127.0.0.1:0\n", config_default_yaml};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(parse(texts[i], &cfg, err, sizeof err), 0);
        assert_int_equal(cfg.sched_policy, PLACE_FGDPACK);
        assert_int_equal(cfg.sched_candidates, 128);
        assert_int_equal(cfg.sched_aging_ms, 3600000);
        assert_int_equal(cfg.sched_half_life_ms, 3600000);
        assert_true(cfg.sched_backfill);
        config_release(&cfg);
    }
}

static void test_scheduler_set(void **state)
{
    (void)state;
    struct server_config cfg;
    char err[512];
    assert_int_equal(parse("scheduler:\n  policy: firstfit\n  candidates: 0\n  aging: 0\n"
                           "  fair_share_half_life: 30m\n  backfill: false\n",
                           &cfg, err, sizeof err),
                     0);
    assert_int_equal(cfg.sched_policy, PLACE_FIRSTFIT);
    assert_int_equal(cfg.sched_candidates, 0);
    assert_int_equal(cfg.sched_aging_ms, 0);
    assert_int_equal(cfg.sched_half_life_ms, 1800000);
    assert_false(cfg.sched_backfill);
    config_release(&cfg);
}

static void test_scheduler_refused(void **state)
{
    (void)state;
    const struct refusal bad[] = {
        {"scheduler:\n  policy: random\n", "scheduler.policy"},
        {"scheduler:\n  candidates: -1\n", "scheduler.candidates"},
        {"scheduler:\n  candidates: many\n", "scheduler"},
        {"scheduler:\n  aging: soon\n", "scheduler.aging"},
        {"scheduler:\n  aging: 400d\n", "scheduler.aging"},
        {"scheduler:\n  fair_share_half_life: -1h\n", "scheduler.fair_share_half_life"},
        {"scheduler:\n  backfill: maybe\n", "scheduler"},
        {"scheduler:\n  preempt: true\n", "scheduler"},
    };
    expect_refused(bad, sizeof bad / sizeof bad[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metering_defaults),
        cmocka_unit_test(test_metering_set),
        cmocka_unit_test(test_metering_refused),
        cmocka_unit_test(test_scheduler_defaults),
        cmocka_unit_test(test_scheduler_set),
        cmocka_unit_test(test_scheduler_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
