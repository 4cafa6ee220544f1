/* `gpuaas sim` as a user runs it: the same output for the same seed, the
 * hand-computed table for the tiny fixture, JSON with one object per
 * arrived share, and exit code 2 naming the line of a malformed file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <math.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define FIX "tests/fixtures/sim/"

/* Runs the command line; returns the exit code and the output (stdout+stderr). */
static int run(const char *args, char *out, size_t out_size)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s sim %s 2>&1", th_server_bin(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, out_size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void same_seed_same_output(void **state)
{
    (void)state;
    static char a[65536], b[65536];
    const char *args = "--nodes " FIX "nodes.csv --pods " FIX "pods.csv --seeds 3 --seed 5 --policy fgdpack,fgd,bestfit";
    assert_int_equal(run(args, a, sizeof a), 0);
    assert_int_equal(run(args, b, sizeof b), 0);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "FGDPACK ALLOC%"));
    assert_non_null(strstr(a, "130%"));
}

static void tiny_table_and_json(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv --seeds 2 --inflate 1.0", out,
                         sizeof out),
                     0);
    /* 80, 90 and 100 % rows, each 60 % allocated and 40 % fragmented */
    assert_non_null(strstr(out, "100%      60.00 ± 0.00      40.00 ± 0.00"));
    assert_null(strstr(out, "110%"));
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv --seeds 2 --policy bestfit -o json",
                         out, sizeof out),
                     0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    json_t *rows = json_object_get(root, "rows");
    assert_int_equal(json_array_size(rows), 6);
    json_t *row = json_array_get(rows, 2);
    assert_int_equal(json_integer_value(json_object_get(row, "arrived_pct")), 100);
    json_t *cell = json_object_get(row, "bestfit");
    assert_true(json_real_value(json_object_get(cell, "alloc_mean")) == 60.0);
    assert_true(json_real_value(json_object_get(cell, "alloc_sd")) == 0.0);
    assert_true(json_real_value(json_object_get(cell, "frag_mean")) == 40.0);
    assert_int_equal(json_integer_value(json_object_get(root, "gpus")), 2);
    json_decref(root);
}

static void bad_input_exit_2(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "bad_pods.csv", out, sizeof out), 2);
    assert_non_null(strstr(out, "bad_pods.csv:3:"));
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods /nonexistent.csv", out, sizeof out), 2);
    assert_non_null(strstr(out, "/nonexistent.csv"));
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv --policy random", out, sizeof out),
                     2);
    assert_non_null(strstr(out, "unknown policy 'random'"));
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv --inflate 0", out, sizeof out), 2);
    assert_int_equal(run("--nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv --seeds 1001", out, sizeof out), 2);
    assert_int_equal(run("--pods " FIX "tiny_pods.csv", out, sizeof out), 2);
    assert_int_equal(run("--help", out, sizeof out), 0);
    assert_non_null(strstr(out, "Usage: gpuaas sim"));
}

static double num(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* The Philly replay through the live scheduler, hand-computed: virtual
 * cluster aa (one 8-GPU node) gets 8 GPUs at 0 s for 100 s, then 4 GPUs at
 * 10 s and 4 at 20 s for 50 s each: both wait until 100 s (the first one
 * holding the node, the second not backfilled onto it). bb (two nodes)
 * gets a 16-GPU job at 5 s for 20 s: a gang of two 8-GPU replicas. A job of
 * an unknown virtual cluster is skipped. */
static void philly_replay(void **state)
{
    (void)state;
    static char out[65536];
    const char *files = "--philly " FIX "philly_tiny.csv --vc " FIX "philly_tiny_vc.csv";
    char args[512];
    snprintf(args, sizeof args, "%s -o json", files);
    assert_int_equal(run(args, out, sizeof out), 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    if (!root)
        fail_msg("not JSON (%s): %s", jerr.text, out);
    assert_int_equal(num(root, "nodes", NULL), 3);
    assert_int_equal(num(root, "gpus", NULL), 24);
    assert_int_equal(num(root, "jobs", NULL), 4);
    assert_int_equal(num(root, "placed", NULL), 4);
    assert_int_equal(num(root, "never_placed", NULL), 0);
    /* delays 0, 0, 80, 90; completion 20, 100, 130, 140 */
    assert_true(num(root, "queue_delay_s", "p50") == 0 && num(root, "queue_delay_s", "p95") == 90);
    assert_true(num(root, "queue_delay_s", "mean") == 42.5);
    assert_true(num(root, "jct_s", "p50") == 100 && num(root, "jct_s", "p99") == 140);
    assert_true(num(root, "jct_s", "mean") == 97.5);
    assert_int_equal(num(root, "queue_delay_8plus_gpus_s", "jobs"), 2);
    /* (5 x 8 + 20 x 24 + 125 x 8) GPU-seconds over 150 s x 24 GPUs */
    assert_true(fabs(num(root, "gpu_util_mean", NULL) - 1520.0 / 3600.0) < 1e-5);
    json_decref(root);

    /* bb at half size: its gang never fits; the table says so */
    snprintf(args, sizeof args, "%s --scale-vc 0.5", files);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "jobs 4: placed 3, refused at submit 0, never placed 1"));
    assert_non_null(strstr(out, "queueing delay (s)               80           90           90           57"));

    /* bad input: the line is named; bad usage: exit 2 */
    snprintf(args, sizeof args, "--philly " FIX "philly_bad.csv --vc " FIX "philly_tiny_vc.csv");
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "philly_bad.csv:3: bad timestamp"));
    assert_int_equal(run("--philly " FIX "philly_tiny.csv", out, sizeof out), 2);
    assert_non_null(strstr(out, "--philly needs --vc FILE"));
    snprintf(args, sizeof args, "%s --scale-vc 0", files);
    assert_int_equal(run(args, out, sizeof out), 2);
}

/* openb pods on their creation and deletion times: the tiny fixture has no
 * times, so the timeline replay refuses it naming the column. */
static void timeline_needs_times(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(run("--timeline --nodes " FIX "tiny_nodes.csv --pods " FIX "tiny_pods.csv", out, sizeof out), 2);
    assert_non_null(strstr(out, "no column 'creation_time'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_output),
        cmocka_unit_test(tiny_table_and_json),
        cmocka_unit_test(bad_input_exit_2),
        cmocka_unit_test(philly_replay),
        cmocka_unit_test(timeline_needs_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
