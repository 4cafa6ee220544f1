/* Tests of the trace simulator (src/sim) on the committed fixtures in
 * tests/fixtures/sim: the same seed gives the same numbers, a tiny case
 * gives the hand-computed ones, malformed files are refused with their line,
 * and a seeded replay with departures keeps the books right after every step
 * and places every waiting pod once capacity frees. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/prng.h"
#include "sim/csv.h"
#include "sim/sim.h"

#define FIX "tests/fixtures/sim/"

static void same_seed_same_numbers(void **state)
{
    (void)state;
    struct sim_trace tr;
    char err[512];
    assert_int_equal(sim_trace_load(&tr, FIX "nodes.csv", FIX "pods.csv", err, sizeof err), 0);
    assert_int_equal(tr.cluster.count, 32);
    assert_int_equal(tr.pod_count, 48);
    bool some_seed_differs = false;
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        double a1[SIM_CHECKPOINTS], f1[SIM_CHECKPOINTS], a2[SIM_CHECKPOINTS], f2[SIM_CHECKPOINTS];
        sim_inflate_run(&tr, (enum place_policy)p, 1.3, 7, a1, f1);
        sim_inflate_run(&tr, (enum place_policy)p, 1.3, 7, a2, f2);
        assert_memory_equal(a1, a2, sizeof a1);
        assert_memory_equal(f1, f2, sizeof f1);
        for (int k = 0; k < SIM_CHECKPOINTS; k++) {
            assert_false(isnan(a1[k]));
            assert_true(a1[k] > 0 && a1[k] <= 100);
            assert_true(k == 0 || a1[k] >= a1[k - 1]); /* pods never leave */
        }
        sim_inflate_run(&tr, (enum place_policy)p, 1.3, 8, a2, f2);
        some_seed_differs |= memcmp(a1, a2, sizeof a1) != 0;
    }
    assert_true(some_seed_differs);
    sim_trace_free(&tr);
}

/* Two 1-GPU nodes, pods of 600 milli: two fit, the third never does. The
 * arrived request is 600, 1200, 1800 (90 %), 2400, 3000 (150 %) of 2000. */
static void tiny_case_exact(void **state)
{
    (void)state;
    struct sim_trace tr;
    char err[512];
    assert_int_equal(sim_trace_load(&tr, FIX "tiny_nodes.csv", FIX "tiny_pods.csv", err, sizeof err), 0);
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        double a[SIM_CHECKPOINTS], f[SIM_CHECKPOINTS];
        sim_inflate_run(&tr, (enum place_policy)p, 1.3, 1, a, f);
        for (int k = 0; k < SIM_CHECKPOINTS; k++) {
            assert_true(a[k] == 60.0);
            assert_true(f[k] == 40.0); /* 400 free on each GPU, unusable by a 600 pod */
        }
        sim_inflate_run(&tr, (enum place_policy)p, 1.0, 1, a, f);
        assert_true(a[2] == 60.0);
        assert_true(isnan(a[3])); /* beyond the inflation */
    }
    sim_trace_free(&tr);
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/gpuaas-sim-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void expect_error(const char *nodes_text, const char *pods_text, const char *want)
{
    char *nodes = nodes_text ? write_temp(nodes_text) : strdup(FIX "tiny_nodes.csv");
    char *pods = pods_text ? write_temp(pods_text) : strdup(FIX "tiny_pods.csv");
    struct sim_trace tr;
    char err[512] = "";
    assert_int_equal(sim_trace_load(&tr, nodes, pods, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not say '%s'", err, want);
    if (nodes_text)
        unlink(nodes);
    if (pods_text)
        unlink(pods);
    free(nodes);
    free(pods);
}

static void malformed_rows_named(void **state)
{
    (void)state;
    struct sim_trace tr;
    char err[512];
    assert_int_equal(sim_trace_load(&tr, FIX "tiny_nodes.csv", FIX "bad_pods.csv", err, sizeof err), -1);
    assert_non_null(strstr(err, "bad_pods.csv:3:"));
    expect_error("sn,cpu_milli,memory_mib,gpu,model\nn0,8000,1024,1,T4\nn1,8x00,1024,1,T4\n", NULL, ":3: cpu_milli");
    expect_error("sn,cpu_milli,memory_mib,gpu,model\nn0,8000,1024,17,T4\n", NULL, ":2: gpu");
    expect_error("sn,cpu_milli,memory_mib,gpu\nn0,8000,1024,1\n", NULL, "no column 'model'");
    expect_error("sn,cpu_milli,memory_mib,gpu,model\nn0,8000,1024,1\n", NULL, ":2: 4 fields, the header has 5");
    expect_error(NULL, "cpu_milli,memory_mib,num_gpu,gpu_milli\n1000,1,1,1001\n", ":2: gpu_milli");
    expect_error(NULL, "cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n1000,1,1,500,\"T4\n", ":2: unterminated");
    expect_error(NULL, "cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n1000,1,1,500,A||B\n", ":2: gpu_spec");
    expect_error(NULL, "cpu_milli,memory_mib,num_gpu,gpu_milli\n1000,1,0,0\n", "no pod asks for a GPU");
    expect_error(NULL, "", ":1: empty file");
    /* quoted fields with commas and CRLF line ends are fine */
    char *nodes = write_temp("\"sn\",cpu_milli,memory_mib,gpu,model\r\n\"a,b\",8000,1024,2,\"T4\"\r\n");
    assert_int_equal(sim_trace_load(&tr, nodes, FIX "tiny_pods.csv", err, sizeof err), 0);
    assert_int_equal(tr.gpus, 2);
    sim_trace_free(&tr);
    unlink(nodes);
    free(nodes);
}

/* A replay on time: pods arrive, run for a while and leave; a pod that
 * does not fit waits (FIFO) and is retried whenever capacity frees. */
struct running {
    struct place_pod pod;
    struct place_choice choice;
    int64_t ends;
};

static void replay_with_departures(void **state)
{
    (void)state;
    struct sim_trace tr;
    char err[512];
    assert_int_equal(sim_trace_load(&tr, FIX "nodes.csv", FIX "pods.csv", err, sizeof err), 0);
    struct place_cluster *cl = &tr.cluster;
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        struct prng rng;
        struct running *run = calloc(4096, sizeof *run);
        struct place_pod *waiting = calloc(4096, sizeof *waiting);
        size_t nrun = 0, nwait = 0, waited_then_placed = 0;
        assert_non_null(run);
        assert_non_null(waiting);
        place_cluster_reset(cl);
        prng_seed(&rng, 99);
        int64_t now = 0;
        for (int step = 0; step < 1500 || nrun > 0; step++) {
            now += 10;
            bool freed = false;
            for (size_t k = 0; k < nrun;) {
                if (run[k].ends <= now) {
                    place_release(cl, &run[k].pod, &run[k].choice);
                    run[k] = run[--nrun];
                    freed = true;
                } else
                    k++;
            }
            if (freed) {
                size_t kept = 0;
                for (size_t k = 0; k < nwait; k++) {
                    struct running r = {.pod = waiting[k], .ends = now + 200 + (int64_t)prng_below(&rng, 3000)};
                    if (nrun < 4096 && place_choose(cl, &r.pod, (enum place_policy)p, &r.choice)) {
                        place_commit(cl, &r.pod, &r.choice);
                        run[nrun++] = r;
                        waited_then_placed++;
                    } else
                        waiting[kept++] = waiting[k];
                }
                nwait = kept;
            }
            if (step < 1500 && nwait < 4096) {
                struct running r = {.pod = tr.pods[prng_below(&rng, tr.pod_count)],
                                    .ends = now + 200 + (int64_t)prng_below(&rng, 3000)};
                if (nwait == 0 && nrun < 4096 && place_choose(cl, &r.pod, (enum place_policy)p, &r.choice)) {
                    place_commit(cl, &r.pod, &r.choice);
                    run[nrun++] = r;
                } else
                    waiting[nwait++] = r.pod;
            }
            /* the books after every step: free = capacity - what running pods hold */
            int64_t cpu[64] = {0}, gpu[64][PLACE_GPUS_MAX] = {{0}};
            for (size_t k = 0; k < nrun; k++) {
                cpu[run[k].choice.node] += run[k].pod.cpu_milli;
                for (uint32_t d = 0; d < run[k].choice.device_count; d++)
                    gpu[run[k].choice.node][run[k].choice.gpu[d]] += run[k].choice.milli;
            }
            for (uint32_t i = 0; i < cl->count; i++) {
                assert_int_equal(cl->nodes[i].cpu_free, cl->nodes[i].cpu_milli - cpu[i]);
                assert_true(cl->nodes[i].cpu_free >= 0 && cl->nodes[i].mem_free >= 0);
                for (uint32_t g = 0; g < cl->nodes[i].gpu_count; g++) {
                    assert_true(gpu[i][g] <= PLACE_MILLI);
                    assert_int_equal(cl->nodes[i].gpu_free[g], PLACE_MILLI - gpu[i][g]);
                }
            }
        }
        /* every pod of the fixture fits an empty cluster: nothing is left waiting */
        assert_int_equal(nwait, 0);
        assert_true(waited_then_placed > 0);
        assert_int_equal(cl->gpu_milli_free, cl->gpu_milli_total);
        free(run);
        free(waiting);
    }
    sim_trace_free(&tr);
}

static void csv_numbers(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(csv_int("12", 0, 100, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(csv_int("66.0", 0, 100, &v), 0);
    assert_int_equal(v, 66);
    assert_int_equal(csv_int("66.5", 0, 100, &v), -1);
    assert_int_equal(csv_int("-1", -5, 100, &v), -1);
    assert_int_equal(csv_int("", 0, 100, &v), -1);
    assert_int_equal(csv_int("101", 0, 100, &v), -1);
    assert_int_equal(csv_int("99999999999999999999", 0, INT64_MAX, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_numbers),
        cmocka_unit_test(tiny_case_exact),
        cmocka_unit_test(malformed_rows_named),
        cmocka_unit_test(replay_with_departures),
        cmocka_unit_test(csv_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
