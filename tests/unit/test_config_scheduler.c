/* The config's scheduler section: policy, candidate limit, aging, fair-share
 * half-life, backfill; defaults when absent; bad values refused with the
 * field named. */
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

static void test_defaults(void **state)
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

static void test_set(void **state)
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

static void test_refused(void **state)
{
    (void)state;
    struct {
        const char *yaml, *where;
    } bad[] = {
        {"scheduler:\n  policy: random\n", "scheduler.policy"},
        {"scheduler:\n  candidates: -1\n", "scheduler.candidates"},
        {"scheduler:\n  candidates: many\n", "scheduler"},
        {"scheduler:\n  aging: soon\n", "scheduler.aging"},
        {"scheduler:\n  aging: 400d\n", "scheduler.aging"},
        {"scheduler:\n  fair_share_half_life: -1h\n", "scheduler.fair_share_half_life"},
        {"scheduler:\n  backfill: maybe\n", "scheduler"},
        {"scheduler:\n  preempt: true\n", "scheduler"},
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
